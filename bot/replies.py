"""Replies: validate an agent's text the network's way, record it under an idempotency key before
sending (ARCHITECTURE rule 5), send it through the case's source, and settle every outcome.

A send has three outcomes (rule 9). *Sent*: the case is marked answered. *Refused*: nothing was
posted, the text stays in the reply row and the modal, and Send may be pressed again. *Unknown*
(a timeout, a 5xx, a crash): nothing is sent again under that key or for that case until
`ReplySettler` has looked for the reply on the network: found, it is recorded as sent; not found
once the network's visibility delay has passed, it is recorded as not posted and the agent is
offered a resend that is then safe. What the card's thread and the agent still have to be told is
kept on the reply row and delivered by the same job, so a closed modal or a crash loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import AccessPolicy, Permission
from bot.blocks.card import network_label
from bot.blocks.lines import (
    reply_line,
    reply_not_posted_line,
    reply_not_sent_notice,
    reply_sent_notice,
)
from bot.blocks.modals import reply_modal, sent_view
from bot.clock import Clock, ensure_utc
from bot.delivery import (
    LEASE_TTL,
    SLACK_CALL_ERRORS,
    DeliveryService,
    SlackRateLimited,
    classify_slack_error,
)
from bot.errors import (
    CarebotError,
    CaseClosed,
    CaseNotFound,
    ReplyEmpty,
    ReplyInFlight,
    ReplyNotAllowed,
    ReplyTooLong,
    SourceError,
)
from bot.sources import SendStatus, Source, send_outcome
from bot.sources.registry import SourceRegistry
from storage import cases, claims, events
from storage.engine import SessionFactory
from storage.models import Case, CaseStatus, Reply, ReplyState

log = logging.getLogger(__name__)

# A pending reply older than this is past its process's send (X's client gives up after 15 s):
# that process died or lost the answer, and the settler takes the reply over.
PENDING_GRACE = timedelta(seconds=20)
SETTLE_BATCH = 50


class ReplyNotSent(CarebotError):
    """The network refused the reply: certainly not posted, so sending it again is safe.

    `permanent`: it would refuse it again (X's reply rule), so no resend is offered.
    """

    def __init__(self, reason: str, *, reply_id: int = 0, permanent: bool = False) -> None:
        super().__init__(reason if permanent else f"Not posted, so sending again is safe. {reason}")
        self.reason = reason
        self.permanent = permanent
        self.reply_id = reply_id


class ReplyUnconfirmed(CarebotError):
    """The network's answer was lost: the reply may be posted. It is looked for, not resent.

    The message fits under the modal's input (Slack shows about 150 characters there) and says
    not to send again; `reason` is what went wrong, for the longer views and the logs.
    """

    def __init__(self, network: str, reason: str) -> None:
        super().__init__(
            f"{network[:1].upper()}{network[1:]} did not confirm it, so it may be posted: don't "
            "send it again. Carebot is checking and will update this window and the thread, and "
            "DM you."
        )
        self.network = network
        self.reason = reason

    @property
    def detail(self) -> str:
        """Say the same at length, with what went wrong, for a view that has the room."""
        return (
            f"{self.network[:1].upper()}{self.network[1:]} did not confirm your reply "
            f"({self.reason.rstrip('.')}). It may have been posted, so do not send it again: "
            f"Carebot is checking {self.network} and will tell you here, in the card's thread "
            "and by direct message within a minute."
        )


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """The case and the post a reply would answer (None: no post the network lets us answer)."""

    case: Case
    post_id: str | None
    post_url: str


# Said when no post in the case mentions or quotes the brand (X's rule since 23 February 2026).
NO_SUMMONING_POST = (
    "X only lets the brand reply to posts that mention or quote it, and no post in this case "
    "does. Answer the customer on X directly."
)


# Shown for a network with no source configured (sending there is refused anyway).
DEFAULT_REPLY_LIMIT = 280


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """A reply the network accepted (now or on an earlier identical submission)."""

    case: Case
    text: str
    url: str
    repeated: bool
    reply_id: int = 0


class ReplyService:
    """Sends agents' replies on the case's network."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        access: AccessPolicy,
        sources: SourceRegistry,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._access = access
        self._sources = sources
        # Wakes the settler, which announces outcomes in the thread and by DM.
        self._on_change = on_change or (lambda: None)

    def reply_limit(self, network: str) -> int:
        """Return the longest reply `network` takes, as it counts."""
        source = self._sources.get(network)
        return source.limits.reply_max if source else DEFAULT_REPLY_LIMIT

    def validate(self, text: str, *, network: str) -> str:
        """Return the reply as it will be sent on `network`, or raise ReplyEmpty / ReplyTooLong."""
        cleaned = text.strip()
        if not cleaned:
            raise ReplyEmpty()
        source = self._sources.get(network)
        if source is not None:
            length = source.limits.measure(cleaned)
            if length > source.limits.reply_max:
                raise ReplyTooLong(length, source.limits.reply_max)
        return cleaned

    async def check_can_reply(self, *, case_id: int, user: str) -> Case:
        """Return the case if `user` may reply to it now, else raise why not."""
        async with self._sessions() as s:
            case = await self._load(s, case_id)
        await self._require_replier(case, user)
        return case

    async def reply_target(self, *, case_id: int, user: str) -> ReplyTarget:
        """Return the case and the newest post in it that summons the brand, if `user` may reply."""
        async with self._sessions() as s:
            case = await self._load(s, case_id)
            post = await cases.latest_summoning_post(s, case_id=case_id)
        await self._require_replier(case, user)
        if post is None:
            return ReplyTarget(case, None, case.url)
        return ReplyTarget(case, post.external_id, post.url)

    async def send(
        self,
        *,
        case_id: int,
        user: str,
        text: str,
        key: str,
        resolve_after: bool,
        view_id: str | None = None,
    ) -> ReplyOutcome:
        """Send `text` as `user`'s reply to the case, at most once per `key`.

        Raise ReplyNotSent when the network refused it, ReplyUnconfirmed when its outcome is
        unknown, ReplyInFlight when this key or another reply to the case is not settled yet.
        """
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await self._load(s, case_id)
            source = self._sources.require(case.network)
            text = self.validate(text, network=case.network)
            existing = await cases.reply_by_key(s, key=key)
            if existing is not None and existing.state == ReplyState.SENT:
                return ReplyOutcome(
                    case, existing.text, existing.url or "", repeated=True, reply_id=existing.id
                )
            if existing is not None and existing.state == ReplyState.PENDING:
                raise ReplyInFlight()  # the same submission, twice (a double click, a retry)
            if existing is not None and existing.state != ReplyState.FAILED:
                raise _in_flight(case)
            await self._require_replier(case, user)
            other = await cases.unsettled_reply(s, case_id=case_id)
            if other is not None:
                raise _in_flight(case)
            # Only a post that mentions or quotes the brand may be answered: said before sending.
            post = await cases.latest_summoning_post(s, case_id=case_id)
            if post is None:
                raise ReplyNotAllowed(NO_SUMMONING_POST)
            target = post.external_id
            reply_id = await cases.record_pending_reply(
                s,
                case_id=case_id,
                key=key,
                author=user,
                text=text,
                now=now,
                target_id=target,
                resolve_after=resolve_after,
                view_id=view_id,
            )
            if reply_id is None:
                raise ReplyInFlight()
        try:
            sent = await source.reply(to_external_id=target, text=text)
        except Exception as exc:  # every failure is one of two outcomes; see send_outcome
            outcome = send_outcome(exc)
            if isinstance(exc, ReplyNotAllowed):
                # A permanent refusal: the next Reply press says so before anything is sent.
                async with self._sessions() as s, s.begin():
                    await cases.mark_not_summoning(s, network=case.network, external_id=target)
            await self._record_failure(case, reply_id, user, outcome.status, outcome.reason)
            label = network_label(case.network)
            if outcome.status == SendStatus.REFUSED:
                permanent = isinstance(exc, ReplyNotAllowed)
                raise ReplyNotSent(outcome.reason, reply_id=reply_id, permanent=permanent) from exc
            log.warning("case %d: reply %d outcome unknown (%s)", case_id, reply_id, exc)
            raise ReplyUnconfirmed(label, outcome.reason) from exc
        done = self._clock()
        async with self._sessions() as s, s.begin():
            settled = await _record_sent(
                s, reply_id=reply_id, external_id=sent.external_id, url=sent.url, now=done
            )
            case = await self._load(s, case_id)
        self._on_change()
        log.info("case %d: reply %s sent by %s", case_id, sent.external_id, user)
        return ReplyOutcome(case, text, sent.url, repeated=not settled, reply_id=reply_id)

    async def owe_notice(self, *, reply_id: int, notice: str) -> None:
        """Owe the reply's author a direct message (the modal that would have said it is gone)."""
        async with self._sessions() as s, s.begin():
            await cases.set_reply_notice(s, reply_id=reply_id, notice=notice)
        self._on_change()

    async def _record_failure(
        self, case: Case, reply_id: int, user: str, status: SendStatus, reason: str
    ) -> None:
        async with self._sessions() as s, s.begin():
            if status == SendStatus.REFUSED:
                await cases.mark_reply_failed(s, reply_id=reply_id, error=reason)
                kind = "reply_failed"
            else:
                await cases.mark_reply_unknown(s, reply_id=reply_id, error=reason)
                kind = "reply_unknown"
            events.add_event(
                s,
                case_id=case.id,
                actor=user,
                kind=kind,
                at=self._clock(),
                detail={"reply_id": reply_id, "error": reason},
            )
        if status == SendStatus.UNKNOWN:
            self._on_change()

    async def _require_replier(self, case: Case, user: str) -> None:
        await self._access.require(Permission.REPLY, user)
        if case.status == CaseStatus.RESOLVED:
            raise CaseClosed()
        await self._access.require(Permission.REPLY, user, owner=case.owner)

    @staticmethod
    async def _load(session: AsyncSession, case_id: int) -> Case:
        case = await cases.get_case(session, case_id=case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return case


def _in_flight(case: Case) -> ReplyInFlight:
    return ReplyInFlight(
        f"Not sent: an earlier reply is still being confirmed with {network_label(case.network)} "
        "and this could post twice. The thread will say within a minute if it went out."
    )


async def _record_sent(
    session: AsyncSession, *, reply_id: int, external_id: str, url: str, now: datetime
) -> bool:
    """Mark the reply sent and its case answered, once; return whether this call did it."""
    if not await cases.mark_reply_sent(
        session, reply_id=reply_id, external_id=external_id, url=url, now=now
    ):
        return False
    reply = await cases.get_reply(session, reply_id=reply_id)
    assert reply is not None
    claimed = await cases.record_response(
        session, case_id=reply.case_id, user=reply.author, resolve=reply.resolve_after, now=now
    )
    if claimed:
        events.add_event(
            session,
            case_id=reply.case_id,
            actor=reply.author,
            kind="claimed",
            at=now,
            detail={"by": "reply", "reply_id": reply_id},
        )
    events.add_event(
        session,
        case_id=reply.case_id,
        actor=reply.author,
        kind="replied",
        at=now,
        detail={"reply_id": reply_id, "external_id": external_id},
    )
    return True


def _claimed_by(reply: Reply, case: Case) -> bool:
    """Whether sending `reply` made its author the owner (record_response claims at sent_at)."""
    return case.owner == reply.author and case.claimed_at == reply.sent_at


class ReplySettler:
    """The replica-safe job that settles replies in doubt and says how every reply ended.

    It posts in the card channel's threads, so one process at a time runs it: the one holding
    that channel's delivery lease (bot/delivery.py); every change it makes is conditional too, so
    two runs could not settle a reply twice. Each run: take over pending replies whose send
    is past its time (their process died), look for each reply in doubt on its network, record
    what is found, then post owed thread lines and direct messages.
    """

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        sources: Mapping[str, Source],
        delivery: DeliveryService,
        slack: AsyncWebClient,
        holder: str,
        pending_grace: timedelta = PENDING_GRACE,
        visible_after: timedelta | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sources = sources  # by network: each reply is looked for where it was sent
        self._delivery = delivery
        self._slack = slack
        self._holder = holder
        self._pending_grace = pending_grace
        self._visible_after = visible_after

    async def run_once(self) -> None:
        """Settle what can be settled and deliver what is owed."""
        async with self._sessions() as s, s.begin():
            held = await claims.acquire_lease(
                s, name=self._lease, holder=self._holder, now=self._clock(), ttl=LEASE_TTL
            )
        if not held:
            return
        await self.settle()
        await self.announce()

    @property
    def _lease(self) -> str:
        return f"delivery:{self._delivery.channel}"

    async def settle(self) -> None:
        """Look for every reply in doubt on the network and record what is found."""
        now = self._clock()
        async with self._sessions() as s:
            doubtful = list(
                await cases.replies_to_settle(
                    s, pending_before=now - self._pending_grace, limit=SETTLE_BATCH
                )
            )
        for reply in doubtful:
            if reply.state == ReplyState.PENDING:
                async with self._sessions() as s, s.begin():
                    await cases.mark_reply_unknown(
                        s, reply_id=reply.id, error="Carebot stopped before the network answered."
                    )
            await self._settle_one(reply)

    async def _settle_one(self, reply: Reply) -> None:
        async with self._sessions() as s:
            case = await cases.get_case(s, case_id=reply.case_id)
        if case is None:
            return  # deleted with its case
        source = self._sources.get(case.network)
        if source is None:
            # Deciding "not posted" without looking could let a resend post twice; it stays in
            # doubt (and every other reply to the case waits) until the network is configured.
            log.warning(
                "reply %d: no %s source configured to look for it; left in doubt",
                reply.id,
                case.network,
            )
            return
        if reply.target_id is None:
            await self._not_posted(reply, "Carebot does not know which post it answered.")
            return
        try:
            found = await source.find_reply(
                to_external_id=reply.target_id,
                text=reply.text,
                not_before=ensure_utc(reply.created_at),
            )
        except (SourceError, CarebotError) as exc:
            log.warning("reply %d: could not check the network yet (%s)", reply.id, exc)
            return
        now = self._clock()
        if found is not None:
            async with self._sessions() as s, s.begin():
                settled = await _record_sent(
                    s, reply_id=reply.id, external_id=found.external_id, url=found.url, now=now
                )
                case = await cases.get_case(s, case_id=reply.case_id)
                if settled and case is not None:
                    notice = reply_sent_notice(
                        case.author_handle, found.url, late=True, network_label=_label(case)
                    )
                    await cases.set_reply_notice(s, reply_id=reply.id, notice=notice)
            if settled and case is not None:
                log.info("reply %d was posted after all (%s)", reply.id, found.external_id)
                await self._update_modal(reply, sent_view(case, found.url))
            return
        visible_after = self._visible_after or timedelta(seconds=source.limits.reply_visible_after)
        if now - ensure_utc(reply.created_at) < visible_after:
            return  # the network may not show it yet; look again on a later run
        label = network_label(source.network)
        await self._not_posted(
            reply,
            f"{label} has no trace of it {int(visible_after.total_seconds())} s after it "
            "was sent, so it was not posted.",
        )

    async def _not_posted(self, reply: Reply, reason: str) -> None:
        async with self._sessions() as s, s.begin():
            if not await cases.mark_reply_failed(s, reply_id=reply.id, error=reason, announce=True):
                return
            case = await cases.get_case(s, case_id=reply.case_id)
            handle = case.author_handle if case is not None else "the customer"
            notice = reply_not_sent_notice(handle, reason, reply.text, resend_safe=True)
            await cases.set_reply_notice(s, reply_id=reply.id, notice=notice)
            events.add_event(
                s,
                case_id=reply.case_id,
                actor=reply.author,
                kind="reply_not_posted",
                at=self._clock(),
                detail={"reply_id": reply.id, "error": reason},
            )
        log.info("reply %d was not posted: %s", reply.id, reason)
        source = self._sources.get(case.network) if case is not None else None
        if case is not None and case.status != CaseStatus.RESOLVED:
            retry = reply_modal(
                case,
                reply_limit=source.limits.reply_max if source else 280,
                initial_text=reply.text,
                error=f"{reason} Sending it again is safe.",
                resolve_after=reply.resolve_after,
            )
            await self._update_modal(reply, retry)

    async def _update_modal(self, reply: Reply, view: dict[str, Any]) -> None:
        """Show the outcome in the agent's modal if it is still open (the DM says it anyway)."""
        if reply.view_id is None:
            return
        try:
            await self._slack.views_update(view_id=reply.view_id, view=view)
        except SLACK_CALL_ERRORS as exc:
            log.info("reply %d: modal not updated (%s); the DM tells the agent", reply.id, exc)

    async def announce(self) -> None:
        """Post owed thread lines and direct messages; what Slack refuses now is tried again."""
        async with self._sessions() as s:
            owed = list(await cases.replies_to_announce(s, limit=SETTLE_BATCH))
            cards = {
                r.case_id: await cases.get_case(s, case_id=r.case_id) for r in owed if r.thread_due
            }
        for reply in owed:
            try:
                if reply.thread_due:
                    await self._thread_line(reply, cards.get(reply.case_id))
            except _NotYet as exc:
                log.info("reply %d: thread line not posted yet (%s)", reply.id, exc)
            try:
                if reply.notice is not None:
                    await self._direct_message(reply.author, reply.notice)
                    async with self._sessions() as s, s.begin():
                        await cases.clear_reply_notice(s, reply_id=reply.id, notice=reply.notice)
            except _NotYet as exc:
                log.info("reply %d: agent not told yet (%s)", reply.id, exc)

    async def _thread_line(self, reply: Reply, case: Case | None) -> None:
        if case is None:
            line = None
        elif case.card_ts is None:
            raise _NotYet("its card is not posted yet")
        elif reply.state == ReplyState.SENT:
            line = reply_line(
                reply.author,
                reply.text,
                reply.url,
                network_label=_label(case),
                claimed=_claimed_by(reply, case),
            )
        else:
            line = reply_not_posted_line(
                reply.author, reply.error or "", network_label=_label(case)
            )
        if line is not None and case is not None and case.card_ts is not None:
            try:
                await self._delivery.notify(line, thread_ts=case.card_ts)
            except Exception as exc:  # Slack's failures: keep it owed for the next run
                raise _NotYet(str(exc)) from exc
        async with self._sessions() as s, s.begin():
            await cases.clear_reply_thread_due(s, reply_id=reply.id)

    async def _direct_message(self, user: str, text: str) -> None:
        try:
            await self._slack.chat_postMessage(channel=user, text=text, unfurl_links=False)
        except SLACK_CALL_ERRORS as exc:
            outcome = classify_slack_error(exc)
            if isinstance(outcome, SlackRateLimited):
                await asyncio.sleep(min(outcome.retry_after, 5.0))
            raise _NotYet(str(outcome)) from exc


class _NotYet(Exception):
    """An announcement that cannot be made on this run."""


def _label(case: Case) -> str:
    return network_label(case.network)


class ReplyAttempt:
    """A reply being sent in the background, so a Slack handler can answer within its 3 s."""

    def __init__(self, task: asyncio.Task[ReplyOutcome]) -> None:
        self._task = task

    async def within(self, seconds: float) -> ReplyOutcome | CarebotError | None:
        """Return the outcome or the domain error if it is known within `seconds`, else None."""
        done, _ = await asyncio.wait({self._task}, timeout=seconds)
        return self._result() if done else None

    async def finish(self) -> ReplyOutcome | CarebotError:
        """Wait for the outcome or the domain error."""
        await asyncio.wait({self._task})
        result = self._result()
        assert result is not None
        return result

    def _result(self) -> ReplyOutcome | CarebotError:
        error = self._task.exception()
        if error is None:
            return self._task.result()
        if isinstance(error, CarebotError):
            return error
        # A bug after the reply was recorded: it may be on the network, so it is left to the
        # settler rather than offered for another try.
        log.error("reply send failed unexpectedly", exc_info=error)
        return ReplyUnconfirmed("the network", "Carebot hit an unexpected error")


def start_reply(
    service: ReplyService,
    *,
    case_id: int,
    user: str,
    text: str,
    key: str,
    resolve_after: bool,
    view_id: str | None = None,
) -> ReplyAttempt:
    """Start sending a reply in the background and return a handle on its outcome."""
    task = asyncio.create_task(
        service.send(
            case_id=case_id,
            user=user,
            text=text,
            key=key,
            resolve_after=resolve_after,
            view_id=view_id,
        )
    )
    return ReplyAttempt(task)
