"""The open-case queries behind `/care queue`, `/care mine`, the App Home and the digest's oldest
open cases: short, limited lists of open cases in a fixed order and the queue's counts, each one
query over the open cases (no period aggregates; those are in `storage.digest`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.digest import OpenCaseRow, QueueCounts
from storage.models import Case, CaseStatus, Priority


def _row_columns() -> tuple[Any, ...]:
    return (
        Case.id,
        Case.network,
        Case.author_handle,
        Case.text,
        Case.priority,
        Case.owner,
        Case.posted_at,
        Case.due_at,
        Case.slack_channel,
        Case.card_ts,
        Case.url,
        Case.content_removed,
    )


def _open_rows(rows: Any) -> list[OpenCaseRow]:
    return [OpenCaseRow(**row._asdict()) for row in rows]


async def oldest_open(session: AsyncSession, *, limit: int) -> list[OpenCaseRow]:
    """Return the open cases waiting longest (by post time), oldest first."""
    rows = await session.execute(
        select(*_row_columns())
        .where(Case.status == CaseStatus.OPEN)
        .order_by(Case.posted_at, Case.id)
        .limit(limit)
    )
    return _open_rows(rows)


async def open_queue(
    session: AsyncSession, *, owner: str | None = None, limit: int
) -> tuple[list[OpenCaseRow], int]:
    """Return up to `limit` open cases (unclaimed first, then by deadline) and how many there are.

    With `owner`, only that user's open cases, by deadline.
    """
    where: list[ColumnElement[bool]] = [Case.status == CaseStatus.OPEN]
    if owner is not None:
        where.append(Case.owner == owner)
    # Portable NULLS LAST: a case with no deadline sorts after every dated one.
    no_deadline = case((Case.due_at.is_(None), 1), else_=0)
    claimed_last = case((Case.owner.is_(None), 0), else_=1)
    order = [no_deadline, Case.due_at, Case.posted_at, Case.id]
    if owner is None:
        order.insert(0, claimed_last)
    rows = await session.execute(
        select(*_row_columns()).where(*where).order_by(*order).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Case).where(*where))
    return _open_rows(rows), int(total or 0)


async def queue_counts(session: AsyncSession, *, now: datetime) -> QueueCounts:
    """Return how many cases are open, unclaimed, overdue and urgent."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(Case.owner.is_(None)),
                func.count().filter(Case.due_at <= now),
                func.count().filter(Case.priority == Priority.URGENT),
            ).where(Case.status == CaseStatus.OPEN)
        )
    ).one()
    return QueueCounts(
        open=int(row[0]), unclaimed=int(row[1]), overdue=int(row[2]), urgent=int(row[3])
    )


async def open_by_network(session: AsyncSession) -> dict[str, int]:
    """Return how many cases are open on each network."""
    rows = await session.execute(
        select(Case.network, func.count())
        .where(Case.status == CaseStatus.OPEN)
        .group_by(Case.network)
    )
    return {str(network): int(count) for network, count in rows}
