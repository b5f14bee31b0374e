"""Ownership: claim, release, resolve and reopen. Each is a permission check, one conditional
UPDATE and an event in the log, in one transaction; the caller redraws the card from the case
that comes back and turns the domain event into its thread line (ARCHITECTURE rules 1 and 2).
The checks of who may reply or resolve, and loading a case, live here for every service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import AccessPolicy, Permission
from bot.clock import Clock
from bot.domain import Case as CaseValue
from bot.domain import CaseEvent, CaseStatus, Claimed, Released, Reopened, Resolved, ResolveReason
from bot.errors import AlreadyClaimed, CaseClosed, CaseNotFound, StaleAction
from storage import cases, events
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import Case

# Given a case being reopened and the time, return its new deadline and first nag time.
Reschedule = Callable[[Case, datetime], tuple[datetime, datetime | None]]


@dataclass(frozen=True, slots=True)
class Change:
    """The case after an action, and what happened to it (None: nothing changed)."""

    case: CaseValue
    event: CaseEvent | None


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
            case = await load_case(s, case_id)
            # Most presses after the first find an owner already: refuse those with a read, so a
            # crowd of late presses does not queue for the write lock. The conditional UPDATE
            # below still decides every real race.
            if case.owner is None:
                won = await cases.claim(s, case_id=case_id, user=user, now=now)
                case = await load_case(s, case_id)  # we won, or lost a race: see who owns it
                if won:
                    events.add_event(s, case_id=case_id, actor=user, kind="claimed", at=now)
                    return Change(case_value(case), Claimed(user))
        if case.owner == user:
            return Change(case_value(case), None)
        if case.status == CaseStatus.RESOLVED:
            raise CaseClosed()
        assert case.owner is not None
        raise AlreadyClaimed(case.owner)

    async def release(self, *, case_id: int, user: str, seen: int | None = None) -> Change:
        """Return the case to the queue (its owner, or a lead)."""
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await load_case(s, case_id)
            _require_fresh(case, seen, "Release")
            if case.owner is None:
                return Change(case_value(case), None)
            owner = case.owner
            await self._access.require(Permission.RELEASE, user, owner=owner)
            if not await cases.release(s, case_id=case_id, owner=owner, now=now):
                return Change(case_value(await load_case(s, case_id)), None)
            events.add_event(
                s, case_id=case_id, actor=user, kind="released", at=now, detail={"owner": owner}
            )
            case = await load_case(s, case_id)
        return Change(case_value(case), Released(owner, by=user if user != owner else None))

    async def check_can_resolve(
        self, *, case_id: int, user: str, seen: int | None = None
    ) -> CaseValue:
        """Return the case if `user` may resolve it, else raise why not."""
        async with self._sessions() as s:
            case = await load_case(s, case_id)
        await require_resolver(self._access, case, user)
        _require_fresh(case, seen, "Resolve")
        return case_value(case)

    async def resolve(
        self,
        *,
        case_id: int,
        user: str,
        reason: ResolveReason | None = None,
        note: str | None = None,
        seen: int | None = None,
    ) -> Change:
        """Close a case that needs no reply (owner or lead; any agent when unclaimed)."""
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await load_case(s, case_id)
            if seen is not None and case.state_version != seen:
                # A replayed or stale Resolve: say so, whether or not it is closed now.
                raise StaleAction("Resolve")
            await require_resolver(self._access, case, user)
            note = note.strip() if note and note.strip() else None
            if not await cases.resolve(
                s, case_id=case_id, user=user, reason=reason, note=note, now=now
            ):
                return Change(case_value(case), None)
            events.add_event(
                s,
                case_id=case_id,
                actor=user,
                kind="resolved",
                at=now,
                detail={"reason": reason, "note": note},
            )
            case = await load_case(s, case_id)
        return Change(case_value(case), Resolved(user, reason, note))

    async def reopen(self, *, case_id: int, user: str, seen: int | None = None) -> Change:
        """Put a resolved case back in the queue with a fresh deadline."""
        await self._access.require(Permission.REOPEN, user)
        now = self._clock()
        async with self._sessions() as s, s.begin():
            case = await load_case(s, case_id)
            _require_fresh(case, seen, "Reopen")
            due_at, nag_at = self._reschedule(case, now)
            if not await cases.reopen(
                s, case_id=case_id, due_at=due_at, next_nag_at=nag_at, now=now
            ):
                return Change(case_value(case), None)
            events.add_event(s, case_id=case_id, actor=user, kind="reopened", at=now)
            case = await load_case(s, case_id)
        return Change(case_value(case), Reopened(user))


async def load_case(session: AsyncSession, case_id: int) -> Case:
    """Return the case row, or raise CaseNotFound."""
    case = await cases.get_case(session, case_id=case_id)
    if case is None:
        raise CaseNotFound(case_id)
    return case


async def require_resolver(access: AccessPolicy, case: Case, user: str) -> None:
    """Raise unless `user` may resolve the case now (owner or lead; any agent when unclaimed)."""
    await _require_open(access, Permission.RESOLVE, case, user)


async def require_replier(access: AccessPolicy, case: Case, user: str) -> None:
    """Raise unless `user` may reply to the case now."""
    await _require_open(access, Permission.REPLY, case, user)


async def _require_open(
    access: AccessPolicy, permission: Permission, case: Case, user: str
) -> None:
    await access.require(permission, user)
    if case.status == CaseStatus.RESOLVED:
        raise CaseClosed()
    await access.require(permission, user, owner=case.owner)


def _require_fresh(case: Case, seen: int | None, what: str) -> None:
    """Refuse a press made on an older state of the case than the row's (stale or replayed)."""
    if seen is not None and case.state_version != seen:
        raise StaleAction(what)
