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

from bot.access import AccessPolicy, Permission
from bot.clock import Clock, ensure_utc
from bot.errors import (
    CarebotError,
    CaseClosed,
    CaseNotFound,
    ReplyEmpty,
    ReplyInFlight,
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
class ReplyOutcome:
    """A reply the network accepted (now or on an earlier identical submission)."""

    case: Case
    text: str
    url: str
    repeated: bool


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
            reply_id = await cases.record_pending_reply(
                s, case_id=case_id, key=key, author=user, text=text, now=now
            )
            if reply_id is None:
                raise ReplyInFlight()
            target = await cases.latest_customer_post(s, case_id=case_id) or case.external_id
        try:
            sent = await self._source.reply(to_external_id=target, text=text)
        except SourceError as exc:
            async with self._sessions() as s, s.begin():
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
            await cases.record_response(
                s, case_id=case_id, user=user, resolve=resolve_after, now=done
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
        return ReplyOutcome(case, text, sent.url, repeated=False)

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
