"""The SLA check: one periodic job that finds the cases due for a rung of the nag ladder (through
the `next_nag_at` index, never by loading every open case), lets `bot/sla.py` decide which rung,
records it with a conditional UPDATE that only one process can win, and only then posts it.

Rungs go to the card's thread; a breach is also broadcast to the channel, unless more than five
cases breach in the same check: then one roll-up message lists them instead of five broadcasts.
A rung whose post fails for any reason that may pass (Slack unavailable or rate-limiting, the
install broken, the card deleted and being posted anew) is handed back for the next check, never
dropped; a crash between recording and posting loses that one message rather than ever posting it
twice. Each rung is decided again from the row just before it is posted, so a claim, reply or
resolve in between changes its words (the new owner) or cancels it.

The channel takes about one message a second, and new cards come first: the runtime gates the
check (`gate`, `DeliveryService.nags_may_go`) so nags are posted only by the process that
delivers cards, and never while a new card waits. A shut gate claims nothing (the next check
decides afresh, so stale rungs collapse); one that shuts mid-check hands the rest back.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.blocks.text import link, slack_date, user_mention
from bot.clock import Clock, ensure_utc
from bot.domain.networks import network_label
from bot.sla import LAST_STEP, Ladder, NagDecision, NagStep, ResponsePolicy
from bot.slack_api import (
    SlackDeliveryError,
    SlackMessageRefused,
    SlackRejected,
    SlackUnavailable,
)
from storage import cases, nags
from storage.engine import SessionFactory
from storage.models import Case, CaseStatus, Priority

log = logging.getLogger(__name__)

BATCH = 200
# A check stops after this many pages; the rest are still due and the next check takes them.
MAX_PAGES = 50
# "More than five" breaches in one check are rolled up into one channel message.
ROLLUP_AFTER = 5
ROLLUP_LIST_LIMIT = 50
REMINDERS = LAST_STEP - NagStep.BREACH


class Notifier(Protocol):
    """Posts a message to the care channel (`DeliveryService.notify`)."""

    async def notify(
        self, text: str, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> str:
        """Post `text` to the channel (or a thread) and return its ts."""
        ...


@dataclass(frozen=True, slots=True)
class Nag:
    """One rung this process won for a case, with what is needed to post or undo it."""

    case_id: int
    step: NagStep
    posted: int
    previous_next_nag_at: datetime | None
    previous_breached_at: datetime | None
    next_nag_at: datetime | None
    channel: str
    card_ts: str
    owner: str | None
    due_at: datetime
    next_response: bool
    handle: str
    network: str


@dataclass(slots=True)
class CheckResult:
    """What one SLA check did, for logs, tests and the benchmark."""

    examined: int = 0
    posted: int = 0
    breaches: int = 0
    rolled_up: bool = False
    lost: int = 0
    handed_back: int = 0
    cancelled: int = 0
    # The check found the channel busy with new cards (see `SlaChecker`'s `gate`) and left
    # what was due, or the rest of it, for a later check.
    deferred: bool = False


def lead_mentions(leads: Sequence[str]) -> str:
    """Return mentions for the leads (users `<@U…>`, groups `<!subteam^S…>`), or `<!here>`."""
    tokens = [
        f"<!subteam^{lead}>" if lead.startswith("S") else user_mention(lead) for lead in leads
    ]
    return " ".join(tokens) or "<!here>"


def card_link(channel: str, ts: str) -> str:
    """Return a link to the message `ts` in `channel` (Slack redirects it to the workspace)."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _what(next_response: bool) -> str:
    return "a reply to their latest message" if next_response else "a first reply"


def warning_text(owner: str | None, due_at: datetime, *, next_response: bool = False) -> str:
    """Tell the owner (or the channel, when nobody has claimed it) that the deadline is near."""
    who = user_mention(owner) if owner else "<!here> Nobody has claimed this yet;"
    return f":hourglass_flowing_sand: {who} {_what(next_response)} is due {slack_date(due_at)}."


def breach_text(
    owner: str | None, leads: Sequence[str], due_at: datetime, *, next_response: bool = False
) -> str:
    """Tell the owner (or the leads, when nobody has claimed it) that the deadline has passed."""
    who = user_mention(owner) if owner else f"{lead_mentions(leads)} Nobody has claimed this, and"
    what = _what(next_response)
    return f":red_circle: {who} {what} was due {slack_date(due_at)}: it is overdue."


def reminder_text(
    owner: str | None, leads: Sequence[str], due_at: datetime, *, reminder: int
) -> str:
    """Remind the owner (or the leads) that the case is still overdue."""
    who = user_mention(owner) if owner else f"{lead_mentions(leads)} Still unclaimed;"
    return (
        f":bell: {who} still no reply; it was due {slack_date(due_at)} "
        f"(reminder {reminder} of {REMINDERS})."
    )


def rollup_text(breaches: Sequence[Nag], leads: Sequence[str]) -> str:
    """List the cases that breached in one check, with links to their cards."""
    unclaimed = any(n.owner is None for n in breaches)
    who = f" {lead_mentions(leads)}" if unclaimed else ""
    lines = [f":red_circle: *{len(breaches)} cases are overdue*{who}:"]
    for nag in breaches[:ROLLUP_LIST_LIMIT]:
        label = f"@{nag.handle} on {network_label(nag.network)}"
        owner = user_mention(nag.owner) if nag.owner else "unclaimed"
        lines.append(
            f"• {link(card_link(nag.channel, nag.card_ts), label)} · {owner} · "
            f"was due {slack_date(nag.due_at)}"
        )
    if len(breaches) > ROLLUP_LIST_LIMIT:
        lines.append(f"…and {len(breaches) - ROLLUP_LIST_LIMIT} more.")
    return "\n".join(lines)


def _nag_text(nag: Nag, leads: Sequence[str]) -> str:
    if nag.step == NagStep.WARNING:
        return warning_text(nag.owner, nag.due_at, next_response=nag.next_response)
    if nag.step == NagStep.BREACH:
        return breach_text(nag.owner, leads, nag.due_at, next_response=nag.next_response)
    return reminder_text(nag.owner, leads, nag.due_at, reminder=nag.step.reminder)


class SlaChecker:
    """Posts each due rung of the nag ladder once, whichever replica gets there first."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        policy: ResponsePolicy,
        notifier: Notifier,
        leads: Sequence[str] = (),
        batch: int = BATCH,
        gate: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """`gate`, when given, is asked before the check and before each nag whether nags may
        go out now (`DeliveryService.nags_may_go`: only where cards are delivered, and never
        while a new card waits for the channel's one message a second)."""
        self._gate = gate
        self._sessions = sessions
        self._clock = clock
        self._ladder = Ladder(policy)
        self._notifier = notifier
        self._leads = tuple(leads)
        self._batch = batch

    async def run_once(self) -> CheckResult:
        """Record and post every rung due now; return what was done."""
        now = self._clock()
        result = CheckResult()
        if not await self._may_post():
            # Nothing is claimed: the next check decides afresh, so rungs that went stale while
            # cards came first collapse (a warning that is now a breach is posted as the breach).
            result.deferred = True
            return result
        won = await self._claim_due(now, result)
        if won:
            await self._post(won, result)
            log.info(
                "SLA check posted %d nag(s) (%d breach(es)%s)",
                result.posted,
                result.breaches,
                ", rolled up" if result.rolled_up else "",
            )
        return result

    async def _claim_due(self, now: datetime, result: CheckResult) -> list[Nag]:
        won: list[Nag] = []
        async with self._sessions() as s, s.begin():
            await nags.clear_settled(s, now=now)
        for _ in range(MAX_PAGES):
            # One transaction per page: the claims are committed before anything is posted.
            async with self._sessions() as s, s.begin():
                due = await nags.cases_due(s, now=now, limit=self._batch)
                wanted: dict[int, Nag] = {}
                claims: list[nags.StepClaim] = []
                for case in due:
                    decision = self._decision(case, now)
                    if decision.step is None:
                        await nags.reschedule(
                            s,
                            case_id=case.id,
                            posted=case.nag_step,
                            seen=case.next_nag_at,
                            next_nag_at=decision.next_nag_at,
                        )
                        continue
                    wanted[case.id] = self._nag(case, decision)
                    claims.append(self._claim(case, decision))
                winners = await nags.claim_steps(s, claims=claims, now=now)
            result.examined += len(due)
            result.lost += len(wanted) - len(winners)
            won += [nag for case_id, nag in wanted.items() if case_id in winners]
            if len(due) < self._batch:
                break
        return won

    def _decision(self, case: Case, now: datetime) -> NagDecision:
        return self._ladder.decide(
            due_at=ensure_utc(case.due_at) if case.due_at is not None else None,
            urgent=case.priority == Priority.URGENT,
            posted=case.nag_step,
            now=now,
            awaiting_reply=case.status == CaseStatus.OPEN,
        )

    @staticmethod
    def _claim(case: Case, decision: NagDecision) -> nags.StepClaim:
        assert decision.step is not None
        return nags.StepClaim(
            case_id=case.id,
            posted=case.nag_step,
            step=decision.step,
            next_nag_at=decision.next_nag_at,
            breach=decision.step == NagStep.BREACH and case.breached_at is None,
            # Warning and breach change what the card shows (due soon, overdue); reminders don't.
            redraw=decision.step in (NagStep.WARNING, NagStep.BREACH),
        )

    @staticmethod
    def _nag(case: Case, decision: NagDecision) -> Nag:
        # A step is only decided for a case with a deadline and a posted card.
        assert decision.step is not None
        assert case.due_at is not None
        assert case.card_ts is not None
        assert case.slack_channel is not None
        return Nag(
            case_id=case.id,
            step=decision.step,
            posted=case.nag_step,
            previous_next_nag_at=case.next_nag_at,
            previous_breached_at=case.breached_at,
            next_nag_at=decision.next_nag_at,
            channel=case.slack_channel,
            card_ts=case.card_ts,
            owner=case.owner,
            due_at=ensure_utc(case.due_at),
            next_response=case.first_response_at is not None,
            handle=case.author_handle,
            network=case.network,
        )

    async def _post(self, won: list[Nag], result: CheckResult) -> None:
        breaches = [n for n in won if n.step == NagStep.BREACH]
        result.breaches = len(breaches)
        result.rolled_up = len(breaches) > ROLLUP_AFTER
        if result.rolled_up:
            try:
                await self._notifier.notify(rollup_text(breaches, self._leads))
            except SlackUnavailable as exc:
                await self._hand_back(won, exc)
                result.handed_back += len(won)
                return
            except SlackRejected as exc:
                log.error("Slack refused the breach roll-up: %s", exc)
        for index, decided in enumerate(won):
            if index and not await self._may_post():
                # A new card came in meanwhile: it goes first; these wait for the next check.
                log.info("new cards go first; %d nag(s) wait for them", len(won) - index)
                await self._unclaim(won[index:])
                result.handed_back += len(won) - index
                result.deferred = True
                return
            nag = await self._decide_again(decided)
            if nag is None:
                result.cancelled += 1
                continue
            broadcast = nag.step == NagStep.BREACH and not result.rolled_up
            try:
                await self._notifier.notify(
                    _nag_text(nag, self._leads), thread_ts=nag.card_ts, broadcast=broadcast
                )
            except SlackMessageRefused as exc:
                if not exc.gone:
                    # This text will never be taken (e.g. too long); the next rung may be.
                    log.error("Slack refused the nag for case %d: %s", nag.case_id, exc)
                    continue
                # The card was deleted: it is posted anew, and the rung waits for it.
                await self._card_gone(nag, exc)
                await self._hand_back([nag], exc)
                result.handed_back += 1
                continue
            except SlackDeliveryError as exc:
                # Slack down, rate-limiting past patience, or the install broken: all may pass.
                await self._hand_back(won[index:], exc)
                result.handed_back += len(won) - index
                return
            result.posted += 1

    async def _decide_again(self, nag: Nag) -> Nag | None:
        """Return the rung as the row stands now (its owner may have changed), or None if the
        case no longer needs it (claimed cases keep their nag; replied or resolved ones don't)."""
        async with self._sessions() as s:
            case = await cases.get_case(s, case_id=nag.case_id)
        if case is None or case.status != CaseStatus.OPEN or case.card_ts is None:
            return None
        if case.nag_step != nag.step:
            return None  # moved on since (reopened and re-decided, or another replica)
        return dataclasses.replace(
            nag,
            owner=case.owner,
            card_ts=case.card_ts,
            due_at=ensure_utc(case.due_at) if case.due_at is not None else nag.due_at,
        )

    async def _card_gone(self, nag: Nag, exc: SlackMessageRefused) -> None:
        gone = getattr(self._notifier, "card_gone", None)
        if gone is None:
            return
        async with self._sessions() as s:
            case = await cases.get_case(s, case_id=nag.case_id)
        if case is not None:
            await gone(case, exc)

    async def _may_post(self) -> bool:
        return self._gate is None or await self._gate()

    async def _hand_back(self, unposted: Sequence[Nag], exc: Exception) -> None:
        log.warning("Slack unavailable (%s); %d nag(s) wait for the next check", exc, len(unposted))
        await self._unclaim(unposted)

    async def _unclaim(self, unposted: Sequence[Nag]) -> None:
        async with self._sessions() as s, s.begin():
            for nag in unposted:
                await nags.unclaim_step(
                    s,
                    case_id=nag.case_id,
                    step=nag.step,
                    posted=nag.posted,
                    next_nag_at=nag.previous_next_nag_at,
                    breached_at=nag.previous_breached_at,
                )
