"""Ownership: claim, release, resolve and reopen. Each is a permission check, one conditional
UPDATE and an event in the log, in one transaction; the caller redraws the card from the row
that comes back (ARCHITECTURE rules 1 and 2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import AccessPolicy, Permission
from bot.blocks.ids import ResolveReason
from bot.blocks.lines import (
    claimed_line,
    released_line,
    reopened_line,
    resolved_line,
)
from bot.clock import Clock
from bot.errors import AlreadyClaimed, CaseClosed, CaseNotFound, StaleAction
from storage import cases, events
from storage.engine import SessionFactory
from storage.models import Case, CaseStatus

# Given a case being reopened and the time, return its new deadline and first nag time.
Reschedule = Callable[[Case, datetime], tuple[datetime, datetime | None]]


@dataclass(frozen=True, slots=True)
class Change:
    """The case after an action, and the thread line announcing it (None: nothing changed)."""

    case: Case
    line: str | None


class OwnershipService:
    """Who owns a case and whether it is open."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        access: AccessPolicy,
        reschedule: Reschedule,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._access = access
        self._reschedule = reschedule

    async def claim(self, *, case_id: int, user: str) -> Change:
        """Make `user` the owner; the first to press wins (AlreadyClaimed for the rest)."""
        await self._access.require(Permission.CLAIM, user)
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await self._load(s, case_id)
            # Most presses after the first find an owner already: refuse those with a read, so a
            # crowd of late presses does not queue for the write lock. The conditional UPDATE
            # below still decides every real race.
            if case.owner is None:
                won = await cases.claim(s, case_id=case_id, user=user, now=now)
                case = await self._load(s, case_id)  # we won, or lost a race: see who owns it
                if won:
                    events.add_event(s, case_id=case_id, actor=user, kind="claimed", at=now)
                    return Change(case, claimed_line(user))
        if case.owner == user:
            return Change(case, None)
        if case.status == CaseStatus.RESOLVED:
            raise CaseClosed()
        assert case.owner is not None
        raise AlreadyClaimed(case.owner)

    async def release(self, *, case_id: int, user: str, seen: int | None = None) -> Change:
        """Return the case to the queue (its owner, or a lead)."""
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await self._load(s, case_id)
            _require_fresh(case, seen, "Release")
            if case.owner is None:
                return Change(case, None)
            owner = case.owner
            await self._access.require(Permission.RELEASE, user, owner=owner)
            if not await cases.release(s, case_id=case_id, owner=owner, now=now):
                return Change(await self._load(s, case_id), None)
            events.add_event(
                s, case_id=case_id, actor=user, kind="released", at=now, detail={"owner": owner}
            )
            case = await self._load(s, case_id)
        return Change(case, released_line(owner, by=user if user != owner else None))

    async def check_can_resolve(self, *, case_id: int, user: str, seen: int | None = None) -> Case:
        """Return the case if `user` may resolve it, else raise why not."""
        async with self._sessions() as s:
            case = await self._load(s, case_id)
        await self._require_resolver(case, user)
        _require_fresh(case, seen, "Resolve")
        return case

    async def resolve(
        self, *, case_id: int, user: str, reason: str | None = None, seen: int | None = None
    ) -> Change:
        """Close a case that needs no reply (owner or lead; any agent when unclaimed)."""
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await self._load(s, case_id)
            if seen is not None and case.state_version != seen:
                # A replayed or stale Resolve: say so, whether or not it is closed now.
                raise StaleAction("Resolve")
            await self._require_resolver(case, user)
            if not await cases.resolve(s, case_id=case_id, user=user, reason=reason, now=now):
                return Change(case, None)
            events.add_event(
                s, case_id=case_id, actor=user, kind="resolved", at=now, detail={"reason": reason}
            )
            case = await self._load(s, case_id)
        return Change(case, resolved_line(user, ResolveReason.describe(reason)))

    async def reopen(self, *, case_id: int, user: str, seen: int | None = None) -> Change:
        """Put a resolved case back in the queue with a fresh deadline."""
        await self._access.require(Permission.REOPEN, user)
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await self._load(s, case_id)
            _require_fresh(case, seen, "Reopen")
            due_at, nag_at = self._reschedule(case, now)
            if not await cases.reopen(
                s, case_id=case_id, due_at=due_at, next_nag_at=nag_at, now=now
            ):
                return Change(case, None)
            events.add_event(s, case_id=case_id, actor=user, kind="reopened", at=now)
            case = await self._load(s, case_id)
        return Change(case, reopened_line(user))

    async def _require_resolver(self, case: Case, user: str) -> None:
        await self._access.require(Permission.RESOLVE, user)
        if case.status == CaseStatus.RESOLVED:
            raise CaseClosed()
        await self._access.require(Permission.RESOLVE, user, owner=case.owner)

    @staticmethod
    async def _load(session: AsyncSession, case_id: int) -> Case:
        case = await cases.get_case(session, case_id=case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return case


def _require_fresh(case: Case, seen: int | None, what: str) -> None:
    """Refuse a press made on an older state of the case than the row's (stale or replayed)."""
    if seen is not None and case.state_version != seen:
        raise StaleAction(what)
