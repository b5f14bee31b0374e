"""The case's history: the event log, and the lines queued for its card's thread, which wait in
the database until the card is in Slack and are claimed one at a time so a line is posted once
across replicas."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CardLine, CardState, Case, Event
from storage.sql import changed


def add_event(
    session: AsyncSession,
    *,
    case_id: int | None,
    actor: str,
    kind: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an event to the log."""
    session.add(Event(case_id=case_id, actor=actor, kind=kind, at=at, detail=detail or {}))


async def add_card_line(session: AsyncSession, *, case_id: int, text: str, now: datetime) -> None:
    """Queue a line for the case's card thread; it waits here until the card is in Slack."""
    session.add(CardLine(case_id=case_id, text=text, created_at=now))


async def card_lines_to_post(
    session: AsyncSession, *, limit: int, case_id: int | None = None
) -> Sequence[tuple[CardLine, Case]]:
    """Return queued thread lines whose card is posted, oldest first (of one case, if given)."""
    statement = (
        select(CardLine, Case)
        .join(Case, Case.id == CardLine.case_id)
        .where(CardLine.posted_at.is_(None), Case.card_state == CardState.POSTED)
        .order_by(CardLine.id)
        .limit(limit)
    )
    if case_id is not None:
        statement = statement.where(CardLine.case_id == case_id)
    rows = await session.execute(statement)
    return [(line, case) for line, case in rows]


async def claim_card_line(session: AsyncSession, *, line_id: int, now: datetime) -> bool:
    """Take a queued line for posting; only one caller (or replica) gets it."""
    result = await session.execute(
        update(CardLine)
        .where(CardLine.id == line_id, CardLine.posted_at.is_(None))
        .values(posted_at=now)
    )
    return changed(result)


async def unclaim_card_line(session: AsyncSession, *, line_id: int) -> None:
    """Put a line whose post failed back in the queue."""
    await session.execute(update(CardLine).where(CardLine.id == line_id).values(posted_at=None))
