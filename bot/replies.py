"""Replies: validate an agent's text the network's way, record it under an idempotency key before
sending (ARCHITECTURE rule 5), send it through the case's source, and settle every outcome.

A send has three outcomes (rule 9). *Sent*: the case is marked answered. *Refused*: nothing was
posted, the text stays in the reply row and the modal, and Send may be pressed again. *Unknown*
(a timeout, a 5xx, a crash): nothing is sent again under that key or for that case until
`ReplySettler` (bot/settler.py) has looked for the reply on the network: found, it is recorded as
sent; not found once the network's visibility delay has passed, it is recorded as not posted and
the agent is offered a resend that is then safe. What the card's thread and the agent still have
to be told is kept on the reply row and delivered by that job, so a closed modal or a crash loses
nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import AccessPolicy
from bot.clock import Clock
from bot.domain import Case as CaseValue
from bot.domain.networks import network_label
from bot.errors import (
    CarebotError,
    ReplyEmpty,
    ReplyInFlight,
    ReplyNotAllowed,
    ReplyTooLong,
)
from bot.ownership import load_case, require_replier
from bot.sources import SendStatus, send_outcome
from bot.sources.registry import SourceRegistry
from storage import cases, events
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import Case, ReplyState

log = logging.getLogger(__name__)


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

    case: CaseValue
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

    case: CaseValue
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

    async def check_can_reply(self, *, case_id: int, user: str) -> CaseValue:
        """Return the case if `user` may reply to it now, else raise why not."""
        async with self._sessions() as s:
            case = await load_case(s, case_id)
        await require_replier(self._access, case, user)
        return case_value(case)

    async def reply_target(self, *, case_id: int, user: str) -> ReplyTarget:
        """Return the case and the newest post in it that summons the brand, if `user` may reply."""
        async with self._sessions() as s:
            case = await load_case(s, case_id)
            post = await cases.latest_summoning_post(s, case_id=case_id)
        await require_replier(self._access, case, user)
        if post is None:
            return ReplyTarget(case_value(case), None, case.url)
        return ReplyTarget(case_value(case), post.external_id, post.url)

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
            case = await load_case(s, case_id)
            source = self._sources.require(case.network)
            text = self.validate(text, network=case.network)
            existing = await cases.reply_by_key(s, key=key)
            if existing is not None and existing.state == ReplyState.SENT:
                return ReplyOutcome(
                    case_value(case),
                    existing.text,
                    existing.url or "",
                    repeated=True,
                    reply_id=existing.id,
                )
            if existing is not None and existing.state == ReplyState.PENDING:
                raise ReplyInFlight()  # the same submission, twice (a double click, a retry)
            if existing is not None and existing.state != ReplyState.FAILED:
                raise _in_flight(case)
            await require_replier(self._access, case, user)
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
            settled = await record_sent(
                s, reply_id=reply_id, external_id=sent.external_id, url=sent.url, now=done
            )
            case = await load_case(s, case_id)
        self._on_change()
        log.info("case %d: reply %s sent by %s", case_id, sent.external_id, user)
        return ReplyOutcome(
            case_value(case), text, sent.url, repeated=not settled, reply_id=reply_id
        )

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


def _in_flight(case: Case) -> ReplyInFlight:
    return ReplyInFlight(
        f"Not sent: an earlier reply is still being confirmed with {network_label(case.network)} "
        "and this could post twice. The thread will say within a minute if it went out."
    )


async def record_sent(
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
