"""Replies: validate an agent's text the network's way, record it under an idempotency key before
sending (ARCHITECTURE rule 5), send it through the case's source, then mark the case answered.

A double-clicked submit or a retried request finds the key already sent and posts nothing; a
failure keeps the text in the reply row and in the modal so the agent can try again."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import AccessPolicy
from bot.blocks.ids import ActionId
from bot.blocks.lines import not_allowed_text
from bot.clock import Clock, ensure_utc
from bot.errors import (
    CarebotError,
    CaseClosed,
    CaseNotFound,
    NotAllowed,
    ReplyEmpty,
    ReplyInFlight,
    ReplyNotAllowed,
    ReplyTooLong,
    SourceError,
    UnexpectedError,
)
from bot.sources import Source
from storage import cases, repo
from storage.engine import SessionFactory
from storage.models import Case, CaseStatus, ReplyState

log = logging.getLogger(__name__)

# A pending reply older than this was abandoned by a crashed process and may be sent again.
STALE_PENDING = timedelta(seconds=90)


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


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """A reply the network accepted (now or on an earlier identical submission)."""

    case: Case
    text: str
    url: str
    repeated: bool
    # The reply made its author the owner of a case nobody had claimed.
    claimed: bool = False


class ReplyService:
    """Sends agents' replies on the case's network."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        access: AccessPolicy,
        source: Source | None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._access = access
        self._source = source

    @property
    def reply_limit(self) -> int:
        """Return the longest reply the network takes, as it counts."""
        return self._source.limits.reply_max if self._source else 280

    def validate(self, text: str) -> str:
        """Return the reply as it will be sent, or raise ReplyEmpty / ReplyTooLong."""
        cleaned = text.strip()
        if not cleaned:
            raise ReplyEmpty()
        if self._source is not None:
            length = self._source.limits.measure(cleaned)
            if length > self._source.limits.reply_max:
                raise ReplyTooLong(length, self._source.limits.reply_max)
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
        self, *, case_id: int, user: str, text: str, key: str, resolve_after: bool
    ) -> ReplyOutcome:
        """Send `text` as `user`'s reply to the case, at most once per `key`."""
        text = self.validate(text)
        if self._source is None:
            raise SourceError("Carebot has no X credentials configured, so it cannot reply.")
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await self._load(s, case_id)
            existing = await cases.reply_by_key(s, key=key)
            if existing is not None and existing.state == ReplyState.SENT:
                return ReplyOutcome(case, existing.text, existing.url or "", repeated=True)
            if (
                existing is not None
                and existing.state == ReplyState.PENDING
                and now - ensure_utc(existing.created_at) < STALE_PENDING
            ):
                raise ReplyInFlight()
            await self._require_replier(case, user)
            # Only a post that mentions or quotes the brand may be answered: said before sending.
            post = await cases.latest_summoning_post(s, case_id=case_id)
            if post is None:
                raise ReplyNotAllowed(NO_SUMMONING_POST)
            target = post.external_id
            reply_id = await cases.record_pending_reply(
                s, case_id=case_id, key=key, author=user, text=text, now=now
            )
            if reply_id is None:
                raise ReplyInFlight()
        try:
            sent = await self._source.reply(to_external_id=target, text=text)
        except SourceError as exc:
            async with self._sessions() as s, s.begin():
                if isinstance(exc, ReplyNotAllowed):
                    # A permanent refusal: the next Reply press says so before anything is sent.
                    await cases.mark_not_summoning(s, network=case.network, external_id=target)
                await cases.mark_reply_failed(s, reply_id=reply_id, error=exc.user_message)
                repo.add_event(
                    s,
                    case_id=case_id,
                    actor=user,
                    kind="reply_failed",
                    at=now,
                    detail={"error": exc.user_message},
                )
            raise
        done = self._clock()
        async with self._sessions() as s, s.begin():
            await cases.mark_reply_sent(
                s, reply_id=reply_id, external_id=sent.external_id, url=sent.url, now=done
            )
            claimed = await cases.record_response(
                s, case_id=case_id, user=user, resolve=resolve_after, now=done
            )
            if claimed:
                repo.add_event(
                    s, case_id=case_id, actor=user, kind="claimed", at=done, detail={"by": "reply"}
                )
            repo.add_event(
                s,
                case_id=case_id,
                actor=user,
                kind="replied",
                at=done,
                detail={"reply_id": reply_id, "external_id": sent.external_id},
            )
            case = await self._load(s, case_id)
        log.info("case %d: reply %s sent by %s", case_id, sent.external_id, user)
        return ReplyOutcome(case, text, sent.url, repeated=False, claimed=claimed)

    async def _require_replier(self, case: Case, user: str) -> None:
        if not await self._access.is_agent(user):
            raise NotAllowed(not_allowed_text(ActionId.REPLY))
        if case.status == CaseStatus.RESOLVED:
            raise CaseClosed()
        if case.owner not in (None, user) and not await self._access.is_lead(user):
            raise NotAllowed(
                f"<@{case.owner}> owns this case. Ask them (or a lead) before replying."
            )

    @staticmethod
    async def _load(session: AsyncSession, case_id: int) -> Case:
        case = await cases.get_case(session, case_id=case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return case


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
        # Anything else is still reported in the modal, so the agent keeps the text.
        return error if isinstance(error, CarebotError) else UnexpectedError(error)


def start_reply(
    service: ReplyService, *, case_id: int, user: str, text: str, key: str, resolve_after: bool
) -> ReplyAttempt:
    """Start sending a reply in the background and return a handle on its outcome."""
    task = asyncio.create_task(
        service.send(case_id=case_id, user=user, text=text, key=key, resolve_after=resolve_after)
    )
    return ReplyAttempt(task)
