"""Digests, the queue and the App Home: the figures assembled from the SQL aggregates in
`storage.digest` (open-case lists and counts: `storage.queue`) for a period pinned to the
calendar (`bot.business_calendar`). The daily digest job that posts them is `bot.daily_digest`.

A digest describes the cases *received* in its period (by post time): how many were replied to,
resolved without a reply or are still open, how fast and how often in time the first response
came, and who did the work. The oldest open cases are listed whatever the period.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.access import AccessPolicy, Permission
from bot.business_calendar import DEFAULT_PERIOD, USER_PERIODS, open_hours, period_window
from bot.clock import Clock
from bot.domain.digest import (
    AgentFigures,
    Bucket,
    CaseList,
    Digest,
    HomeData,
    Period,
    QueueCounts,
    Window,
)
from bot.errors import CarebotError
from bot.sla import ResponsePolicy
from storage import digest as queries
from storage import queue as open_cases
from storage.engine import SessionFactory

# The calendar's names that callers have always taken from here.
__all__ = [
    "DEFAULT_PERIOD",
    "USER_PERIODS",
    "AgentFigures",
    "Bucket",
    "CaseList",
    "Digest",
    "DigestService",
    "HomeData",
    "Period",
    "Window",
    "open_hours",
    "period_window",
]

log = logging.getLogger(__name__)

OLDEST_OPEN = 5
LIST_LIMIT = 40
HOME_LIST_LIMIT = 20
# The time-to-first-response distribution's buckets, as shares of the normal target.
RESPONSE_SHARES = (0.25, 0.5, 1.0, 2.0)


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=round(value))


class DigestService:
    """Computes digests, the queue and the App Home from the database."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        access: AccessPolicy,
        policy: ResponsePolicy,
        spend: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._access = access
        self._policy = policy
        self._spend = spend

    @property
    def zone(self) -> ZoneInfo:
        """Return the zone days are counted in."""
        return self._policy.zone

    async def digest_for(
        self,
        *,
        user: str,
        period: Period,
        at: datetime | None = None,
        permission: Permission = Permission.DIGEST,
    ) -> Digest:
        """Return the digest of `period` (as of `at`, default now) if `user` may see it."""
        await self._access.require(permission, user)
        now = self._clock()
        if at is not None and at > now:
            raise CarebotError("That digest button is out of date; run /care digest again.")
        return await self.compute(period, at=at)

    async def compute(self, period: Period, *, at: datetime | None = None) -> Digest:
        """Return the digest of `period` as it stands now, its window pinned to `at` (or now)."""
        now = self._clock()
        window = period_window(period, now=at or now, zone=self._policy.zone)
        # Responses to the period's cases may come up to now, so the hours run to now.
        hours = open_hours(self._policy, start=window.start, end=now)
        target = self._policy.normal
        edges = tuple(target * share for share in RESPONSE_SHARES)
        async with self._sessions() as s, s.begin():
            groups = await queries.period_totals(
                s, span=window.span, now=now, edges=window.edges, open_hours=hours
            )
            percentiles = await queries.response_percentiles(s, span=window.span, percents=(50, 90))
            histogram = await queries.response_histogram(
                s, span=window.span, edges=[e.total_seconds() for e in edges]
            )
            agents = await queries.agent_totals(s, span=window.span)
            by_reason = await queries.resolved_by_reason(s, span=window.span)
            oldest = await open_cases.oldest_open(s, limit=OLDEST_OPEN)
        by_network: dict[str, int] = {}
        by_priority: dict[str, int] = {}
        volume = [0] * (len(window.edges) - 1)
        sla = [(0, 0)] * len(volume)
        for g in groups:
            due, met = sla[g.bucket]
            sla[g.bucket] = (due + g.sla_due, met + g.sla_met)
            by_network[g.network] = by_network.get(g.network, 0) + g.received
            by_priority[g.priority] = by_priority.get(g.priority, 0) + g.received
            volume[g.bucket] += g.received
        figures = [
            AgentFigures(a.user, a.claimed, a.replied, _seconds(a.median_response_seconds))
            for a in agents
        ]
        figures.sort(key=lambda a: (-a.replied, -a.claimed, a.user))
        return Digest(
            window=window,
            now=now,
            received=sum(g.received for g in groups),
            by_network=by_network,
            by_priority=by_priority,
            replied=sum(g.replied for g in groups),
            resolved_without_reply=sum(g.resolved_without_reply for g in groups),
            still_open=sum(g.still_open for g in groups),
            median_response=_seconds(percentiles[50]),
            p90_response=_seconds(percentiles[90]),
            sla_due=sum(g.sla_due for g in groups),
            sla_met=sum(g.sla_met for g in groups),
            out_of_hours=None if hours is None else sum(g.out_of_hours for g in groups),
            agents=figures,
            oldest_open=oldest,
            volume=volume,
            sla_by_bucket=sla,
            response_target=target,
            response_edges=edges,
            response_histogram=histogram,
            spend=await self._spend() if self._spend is not None else None,
            resolved_by_reason=by_reason,
        )

    async def queue(self, *, user: str) -> CaseList:
        """Return the open cases, unclaimed first, then by deadline."""
        await self._access.require(Permission.QUEUE, user)
        async with self._sessions() as s, s.begin():
            rows, total = await open_cases.open_queue(s, limit=LIST_LIMIT)
        return CaseList(rows, total, self._clock())

    async def mine(self, *, user: str, limit: int = LIST_LIMIT) -> CaseList:
        """Return `user`'s open cases by deadline."""
        async with self._sessions() as s, s.begin():
            rows, total = await open_cases.open_queue(s, owner=user, limit=limit)
        return CaseList(rows, total, self._clock())

    async def home(self, *, user: str) -> HomeData:
        """Return what `user`'s App Home shows: their cases, the queue, today's SLA attainment."""
        now = self._clock()
        today = period_window(Period.TODAY, now=now, zone=self._policy.zone)
        team = await self._access.allows(Permission.TEAM_FIGURES, user)
        spend_shown = self._spend is not None and await self._access.is_lead(user)
        counts: QueueCounts | None = None
        due = met = 0
        by_network: dict[str, int] = {}
        async with self._sessions() as s, s.begin():
            rows, total = await open_cases.open_queue(s, owner=user, limit=HOME_LIST_LIMIT)
            if team:
                counts = await open_cases.queue_counts(s, now=now)
                due, met = await queries.sla_totals(s, span=today.span, now=now)
                by_network = await open_cases.open_by_network(s)
        return HomeData(
            user=user,
            mine=CaseList(rows, total, now),
            counts=counts,
            sla_due=due,
            sla_met=met,
            now=now,
            zone=self._policy.zone,
            spend=await self._spend() if self._spend is not None and spend_shown else None,
            open_by_network=by_network,
        )
