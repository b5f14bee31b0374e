"""SQL aggregates behind digests and the App Home's figures. Every figure is computed by the
database over the cases received in a period (a range scan of `ix_cases_posted_at`); no function
here loads the cases of a period into Python, only aggregate rows. The open-case lists and
queue counts are in `storage.queue`.

Percentiles of the time to first response: PostgreSQL has `percentile_cont`; SQLite has not, so
there the rows at the two ranks around each percentile are picked in SQL with a window function
(`row_number()` over the response time) and interpolated the way `percentile_cont` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    extract,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.cases import ResolveReason
from bot.domain.digest import Span
from storage.models import Case, CaseStatus
from storage.sql import on_postgres


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """Counts over the cases received in a period for one (network, priority, bucket) group."""

    network: str
    priority: str
    bucket: int
    received: int
    replied: int
    resolved_without_reply: int
    still_open: int
    sla_due: int
    sla_met: int
    out_of_hours: int


@dataclass(frozen=True, slots=True)
class AgentTotals:
    """One agent's figures over the cases received in a period."""

    user: str
    claimed: int
    replied: int
    median_response_seconds: float | None


def _response_seconds(session: AsyncSession) -> ColumnElement[Any]:
    """Seconds from the post to the first response (NULL when there was none)."""
    if on_postgres(session):
        return extract("epoch", Case.first_response_at - Case.posted_at)
    # SQLite stores datetimes as ISO text; julianday() reads them (microseconds included).
    return (func.julianday(Case.first_response_at) - func.julianday(Case.posted_at)) * 86400.0


def _received_in(span: Span) -> ColumnElement[bool]:
    return and_(Case.posted_at >= span[0], Case.posted_at < span[1])


def _responded() -> ColumnElement[bool]:
    return Case.first_response_at.is_not(None)


def _segment_tree(column: Any, points: Sequence[datetime], leaf: Any, lo: int, hi: int) -> Any:
    """Pick `leaf(j)` for the segment j of `points` that `column` falls in, by bisection.

    Segment j is [points[j - 1], points[j]); a balanced tree of CASEs costs each row about
    log2(len(points)) comparisons, where a flat CASE or OR chain would cost up to all of them.
    """
    if hi - lo == 1:
        return leaf(lo)
    mid = (lo + hi) // 2
    return case(
        (column < points[mid - 1], _segment_tree(column, points, leaf, lo, mid)),
        else_=_segment_tree(column, points, leaf, mid, hi),
    )


def _within(column: Any, spans: Sequence[Span]) -> ColumnElement[bool]:
    """True where `column` lies in one of `spans` (sorted, not overlapping)."""
    if not spans:
        return false()
    points = [edge for span in spans for edge in span]
    # Odd segments are the spans themselves: [lo, hi) of each.
    inside = _segment_tree(column, points, lambda j: literal(j % 2, Integer), 0, len(points) + 1)
    return and_(column.is_not(None), inside == 1)


def _bucket(edges: Sequence[datetime]) -> ColumnElement[int]:
    """Index of the volume bucket a case falls in: edges[i] <= posted_at < edges[i + 1]."""
    if len(edges) <= 2:
        return literal(0, Integer)
    # Bucket i is segment i of the inner edges; the span's own ends need no comparison.
    inner = list(edges[1:-1])
    tree: ColumnElement[int] = _segment_tree(
        Case.posted_at, inner, lambda j: literal(j, Integer), 0, len(inner) + 1
    )
    return tree


def _sla_due(now: datetime) -> ColumnElement[bool]:
    # A response was owed and its deadline has come, or it was given: closing a case without a
    # reply (spam, praise) owed nothing, and a deadline still ahead is neither met nor missed.
    return and_(
        Case.due_at.is_not(None),
        or_(_responded(), and_(Case.status != CaseStatus.RESOLVED, Case.due_at <= now)),
    )


async def period_totals(
    session: AsyncSession,
    *,
    span: Span,
    now: datetime,
    edges: Sequence[datetime],
    open_hours: Sequence[Span] | None,
) -> list[GroupTotals]:
    """Return the counts of the cases received in `span`, grouped by network, priority, bucket.

    `edges` cut the span into volume buckets; `open_hours` are the business-hours windows that
    cover every possible first response (None: always open, so nothing is out of hours).
    """
    responded = _responded()
    out_of_hours: ColumnElement[bool] = (
        false()
        if open_hours is None
        else and_(responded, not_(_within(Case.first_response_at, open_hours)))
    )
    bucket = _bucket(edges).label("bucket")
    due = _sla_due(now)
    stmt = (
        select(
            Case.network,
            Case.priority,
            bucket,
            func.count().label("received"),
            func.count().filter(responded).label("replied"),
            func.count()
            .filter(Case.status == CaseStatus.RESOLVED, Case.first_response_at.is_(None))
            .label("resolved_without_reply"),
            func.count().filter(Case.status == CaseStatus.OPEN).label("still_open"),
            func.count().filter(due).label("sla_due"),
            func.count().filter(due, Case.first_response_at <= Case.due_at).label("sla_met"),
            func.count().filter(out_of_hours).label("out_of_hours"),
        )
        .where(_received_in(span))
        .group_by(Case.network, Case.priority, bucket)
    )
    rows = await session.execute(stmt)
    return [
        GroupTotals(
            network=str(row.network),
            priority=str(row.priority),
            bucket=int(row.bucket),
            received=int(row.received),
            replied=int(row.replied),
            resolved_without_reply=int(row.resolved_without_reply),
            still_open=int(row.still_open),
            sla_due=int(row.sla_due),
            sla_met=int(row.sla_met),
            out_of_hours=int(row.out_of_hours),
        )
        for row in rows
    ]


async def response_histogram(
    session: AsyncSession, *, span: Span, edges: Sequence[float]
) -> list[int]:
    """Count the span's first responses by how long they took, in `len(edges) + 1` buckets.

    Bucket i holds the times up to `edges[i]` seconds (and above the edge before it); the last
    bucket holds everything slower than the last edge.
    """
    seconds = _response_seconds(session)
    index = case(*((seconds <= edge, i) for i, edge in enumerate(edges)), else_=len(edges)).label(
        "bucket"
    )
    rows = await session.execute(
        select(index, func.count().label("n"))
        .where(_received_in(span), _responded())
        .group_by(index)
    )
    counts = [0] * (len(edges) + 1)
    for row in rows:
        counts[int(row.bucket)] += int(row.n)
    return counts


async def response_percentiles(
    session: AsyncSession, *, span: Span, percents: Sequence[int]
) -> dict[int, float | None]:
    """Return the time to first response at each percentile (whole percents), in seconds."""
    seconds = _response_seconds(session)
    where = and_(_received_in(span), _responded())
    if on_postgres(session):
        columns = [
            func.percentile_cont(p / 100).within_group(seconds).label(f"p{p}") for p in percents
        ]
        row = (await session.execute(select(*columns).where(where))).one()
        return {
            p: float(value) if value is not None else None
            for p, value in zip(percents, row, strict=True)
        }
    ranked = (
        select(
            seconds.label("seconds"),
            (func.row_number().over(order_by=seconds) - 1).label("i"),
            func.count().over().label("n"),
        )
        .where(where)
        .subquery()
    )
    # floor((n - 1) * p / 100) and its ceiling, in integer arithmetic the database does itself.
    wanted = or_(
        *(
            or_(
                ranked.c.i == (ranked.c.n - 1) * p // 100,
                ranked.c.i == ((ranked.c.n - 1) * p + 99) // 100,
            )
            for p in percents
        )
    )
    rows = (
        await session.execute(select(ranked.c.i, ranked.c.n, ranked.c.seconds).where(wanted))
    ).all()
    if not rows:
        return dict.fromkeys(percents)
    n = int(rows[0].n)
    at = {int(row.i): float(row.seconds) for row in rows}
    return {p: _interpolate(at, (n - 1) * p / 100) for p in percents}


def _interpolate(at: dict[int, float], position: float) -> float:
    lo, hi = math.floor(position), math.ceil(position)
    return at[lo] + (at[hi] - at[lo]) * (position - lo)


async def resolved_by_reason(
    session: AsyncSession, *, span: Span
) -> dict[ResolveReason | None, int]:
    """Return how many of the period's cases are resolved, per reason (None: none given)."""
    rows = await session.execute(
        select(Case.resolve_reason, func.count())
        .where(_received_in(span), Case.status == CaseStatus.RESOLVED)
        .group_by(Case.resolve_reason)
    )
    counts: dict[ResolveReason | None, int] = {}
    for reason, count in rows:
        key = ResolveReason.parse(reason)
        counts[key] = counts.get(key, 0) + int(count)
    return counts


async def agent_totals(session: AsyncSession, *, span: Span) -> list[AgentTotals]:
    """Return per-agent claimed and replied counts and median time to first response."""
    received = _received_in(span)
    claimed_rows = await session.execute(
        select(Case.owner, func.count())
        .where(received, Case.owner.is_not(None))
        .group_by(Case.owner)
    )
    claimed = {str(owner): int(count) for owner, count in claimed_rows}
    seconds = _response_seconds(session)
    responded = and_(received, _responded(), Case.first_responder.is_not(None))
    if on_postgres(session):
        stmt: Any = (
            select(
                Case.first_responder,
                func.count(),
                func.percentile_cont(0.5).within_group(seconds),
            )
            .where(responded)
            .group_by(Case.first_responder)
        )
    else:
        ranked = (
            select(
                Case.first_responder.label("user"),
                seconds.label("seconds"),
                (
                    func.row_number().over(partition_by=Case.first_responder, order_by=seconds) - 1
                ).label("i"),
                func.count().over(partition_by=Case.first_responder).label("n"),
            )
            .where(responded)
            .subquery()
        )
        # The median is the middle row, or the mean of the two middle rows: ranks (n-1)/2, n/2.
        stmt = (
            select(ranked.c.user, func.max(ranked.c.n), func.avg(ranked.c.seconds))
            .where(or_(ranked.c.i == (ranked.c.n - 1) // 2, ranked.c.i == ranked.c.n // 2))
            .group_by(ranked.c.user)
        )
    replied = {
        str(user): (int(count), float(median) if median is not None else None)
        for user, count, median in await session.execute(stmt)
    }
    return [
        AgentTotals(
            user=user,
            claimed=claimed.get(user, 0),
            replied=replied.get(user, (0, None))[0],
            median_response_seconds=replied.get(user, (0, None))[1],
        )
        for user in sorted(set(claimed) | set(replied))
    ]


async def sla_totals(session: AsyncSession, *, span: Span, now: datetime) -> tuple[int, int]:
    """Return (responses owed, responses given in time) for the cases received in `span`."""
    due = _sla_due(now)
    row = (
        await session.execute(
            select(
                func.count().filter(due),
                func.count().filter(due, Case.first_response_at <= Case.due_at),
            ).where(_received_in(span))
        )
    ).one()
    return int(row[0]), int(row[1])
