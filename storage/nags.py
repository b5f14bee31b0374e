"""Repository functions for the nag ladder: find the cases due for a rung through the
`next_nag_at` index, and record each rung with one conditional UPDATE (`… AND nag_step = :step`)
whose row count decides which process posts it, so a rung is posted once across restarts and
replicas (ARCHITECTURE rules 2 and 7)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case, CaseStatus
from storage.sql import card_dirty_values, changed, rowcount


def _redraw(redraw: bool, now: datetime) -> dict[str, Any]:
    # The card shows the deadline's state; bumping the version makes delivery chat.update it.
    return card_dirty_values(now) if redraw else {}


async def cases_due(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Case]:
    """Return cases with a posted card whose next nag is due, soonest first.

    Call `clear_settled` first: then every due row is open. Status is deliberately not in the
    WHERE clause: without table statistics SQLite would pick the status index (every open case)
    and sort, instead of walking `ix_cases_next_nag` over the few due rows. Claims re-check it.
    """
    rows = await session.scalars(due_statement(now=now, limit=limit))
    return rows.all()


def due_statement(*, now: datetime, limit: int) -> Select[Case]:
    """Return the SELECT `cases_due` runs (tests check its query plan)."""
    return (
        select(Case)
        .where(Case.next_nag_at <= now, Case.card_ts.is_not(None))
        .order_by(Case.next_nag_at, Case.id)
        .limit(limit)
    )


async def clear_settled(session: AsyncSession, *, now: datetime) -> int:
    """Stop scheduling nags for due cases that are no longer open; return how many."""
    # Replies and resolves clear `next_nag_at` themselves; this keeps a row a path forgot from
    # sitting at the front of the index for ever.
    result = await session.execute(
        update(Case)
        .where(Case.next_nag_at <= now, Case.status != CaseStatus.OPEN)
        .values(next_nag_at=None)
    )
    return rowcount(result)


@dataclass(frozen=True, slots=True)
class StepClaim:
    """A rung one process wants to record for a case that was at rung `posted`."""

    case_id: int
    posted: int
    step: int
    next_nag_at: datetime | None
    breach: bool = False
    redraw: bool = False


async def claim_steps(
    session: AsyncSession, *, claims: Sequence[StepClaim], now: datetime
) -> set[int]:
    """Record each claim whose case is open and still at its `posted` rung; return the winners."""
    groups: dict[tuple[int, int, bool, bool], list[StepClaim]] = defaultdict(list)
    for claim in claims:
        groups[(claim.posted, claim.step, claim.breach, claim.redraw)].append(claim)
    won: set[int] = set()
    for (posted, step, breach, redraw), group in groups.items():
        values: dict[str, Any] = {"nag_step": step, **_redraw(redraw, now)}
        if breach:
            values["breached_at"] = now
        # One conditional UPDATE per kind of move: the rows it returns are the ones this process
        # won; a row another replica moved first no longer matches `nag_step = posted`.
        rows = await session.scalars(
            update(Case)
            .where(
                Case.id.in_([c.case_id for c in group]),
                Case.nag_step == posted,
                Case.status == CaseStatus.OPEN,
            )
            .values(**values)
            .returning(Case.id)
            # The caller reads the rows it loaded as they were; matching every loaded object
            # against each UPDATE's criteria would cost more than the UPDATE itself.
            .execution_options(synchronize_session=False)
        )
        won.update(rows)
    if won:
        # Rows this transaction now holds: their next check is set by primary key in one batch.
        await session.execute(
            update(Case),
            [{"id": c.case_id, "next_nag_at": c.next_nag_at} for c in claims if c.case_id in won],
        )
    return won


async def unclaim_step(
    session: AsyncSession,
    *,
    case_id: int,
    step: int,
    posted: int,
    next_nag_at: datetime | None,
    breached_at: datetime | None,
) -> bool:
    """Undo `claim_step` after the post failed, so a later check tries the rung again."""
    result = await session.execute(
        update(Case)
        .where(Case.id == case_id, Case.nag_step == step)
        .values(nag_step=posted, next_nag_at=next_nag_at, breached_at=breached_at)
    )
    return changed(result)


async def reschedule(
    session: AsyncSession,
    *,
    case_id: int,
    posted: int,
    seen: datetime | None,
    next_nag_at: datetime | None,
) -> None:
    """Move the case's next check from `seen` to `next_nag_at`, unless someone else moved it."""
    # Compare-and-set on both columns: a reply, a reopen or another replica wins over this.
    await session.execute(
        update(Case)
        .where(Case.id == case_id, Case.nag_step == posted, Case.next_nag_at == seen)
        .values(next_nag_at=next_nag_at)
    )
