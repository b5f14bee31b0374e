"""Digests, the queue and the App Home: periods and their day boundaries in CAREBOT_TIMEZONE, the
figures assembled from the SQL aggregates in `storage.digest`, and the daily digest job, which
posts the previous day's digest once per day across replicas and restarts (a conditional insert
into `digest_runs` decides who posts).

A digest describes the cases *received* in its period (by post time): how many were replied to,
resolved without a reply or are still open, how fast and how often in time the first response
came, and who did the work. The oldest open cases are listed whatever the period.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import AccessPolicy, Permission
from bot.clock import Clock
from bot.errors import CarebotError
from bot.sla import ResponsePolicy
from bot.slack_errors import (
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
    classify_slack_error,
)
from storage import claims
from storage import digest as queries
from storage.digest import OpenCaseRow, QueueCounts, Span
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

OLDEST_OPEN = 5
LIST_LIMIT = 40
HOME_LIST_LIMIT = 20
# A claim on a day that never recorded its post is retried after this long (the poster died).
STALE_CLAIM = timedelta(minutes=10)
DAILY_CHECK = timedelta(minutes=1)
DAILY_JOB = "daily_digest"
# The time-to-first-response distribution's buckets, as shares of the normal target.
RESPONSE_SHARES = (0.25, 0.5, 1.0, 2.0)


class Period(StrEnum):
    """The spans a digest covers; `yesterday` is the daily digest's, not offered in `/care`."""

    TODAY = "today"
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    YESTERDAY = "yesterday"

    @property
    def heading(self) -> str:
        """Return the period as a heading says it."""
        return _TITLES[self]


_TITLES = {
    Period.TODAY: "Today",
    Period.DAY: "Last 24 hours",
    Period.WEEK: "Last 7 days",
    Period.MONTH: "Last 30 days",
    Period.YESTERDAY: "Yesterday",
}
USER_PERIODS = (Period.TODAY, Period.DAY, Period.WEEK, Period.MONTH)
DEFAULT_PERIOD = Period.DAY


class Bucket(StrEnum):
    """The width of one bar of the volume chart."""

    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class Window:
    """A period pinned to the calendar: [start, end) in UTC and the edges of its chart buckets."""

    period: Period
    start: datetime
    end: datetime
    bucket: Bucket
    edges: tuple[datetime, ...]
    zone: ZoneInfo

    @property
    def span(self) -> Span:
        """Return (start, end)."""
        return self.start, self.end

    def labels(self) -> list[str]:
        """Return one label per bucket, in local time."""
        fmt = "%H:00" if self.bucket == Bucket.HOUR else "%a %d"
        return [edge.astimezone(self.zone).strftime(fmt) for edge in self.edges[:-1]]


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def _hour_edges(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[datetime, ...]:
    local = start.astimezone(zone)
    into_hour = timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    # Stepping in UTC lands on every local hour, also across a DST change (23 or 25 buckets).
    edge = start - into_hour + timedelta(hours=1)
    edges = [start]
    while edge < end:
        edges.append(edge)
        edge += timedelta(hours=1)
    edges.append(end)
    return tuple(edges)


def period_window(period: Period, *, now: datetime, zone: ZoneInfo) -> Window:
    """Return the window `period` covers when asked at `now`, days counted in `zone`."""
    now = now.astimezone(UTC)
    today = now.astimezone(zone).date()
    if period in (Period.TODAY, Period.YESTERDAY, Period.DAY):
        if period == Period.TODAY:
            start, end = _local_midnight(today, zone), now
        elif period == Period.YESTERDAY:
            start = _local_midnight(today - timedelta(days=1), zone)
            end = _local_midnight(today, zone)
        else:
            start, end = now - timedelta(hours=24), now
        return Window(period, start, end, Bucket.HOUR, _hour_edges(start, end, zone), zone)
    days = 7 if period == Period.WEEK else 30
    # "Last 7 days" is today and the six local days before it, so every bar is a calendar day.
    first = today - timedelta(days=days - 1)
    edges = [_local_midnight(first + timedelta(days=n), zone) for n in range(days)]
    return Window(period, edges[0], now, Bucket.DAY, (*edges, now), zone)


def open_hours(policy: ResponsePolicy, *, start: datetime, end: datetime) -> list[Span] | None:
    """Return the business-hours windows (UTC) overlapping [start, end); None when always open."""
    hours, zone, holidays = policy.hours, policy.zone, policy.holidays
    if hours.always_open and not holidays:
        return None
    spans: list[Span] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        if day not in holidays:
            windows = (
                ((time.min, time.max),)
                if hours.always_open
                else hours.windows.get(day.weekday(), ())
            )
            for opens, closes in windows:
                lo = datetime.combine(day, opens, zone).astimezone(UTC)
                # time.max stands for the midnight that ends the day.
                hi = (
                    _local_midnight(day + timedelta(days=1), zone)
                    if closes == time.max
                    else datetime.combine(day, closes, zone).astimezone(UTC)
                )
                spans.append((lo, hi))
        day += timedelta(days=1)
    return spans


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """What one agent did with the period's cases."""

    user: str
    claimed: int
    replied: int
    median_response: timedelta | None


@dataclass(frozen=True, slots=True)
class Digest:
    """Every figure of a digest, computed at `now` for the cases received in `window`."""

    window: Window
    now: datetime
    received: int
    by_network: dict[str, int]
    by_priority: dict[str, int]
    replied: int
    resolved_without_reply: int
    still_open: int
    median_response: timedelta | None
    p90_response: timedelta | None
    sla_due: int
    sla_met: int
    out_of_hours: int | None
    agents: list[AgentFigures]
    oldest_open: list[OpenCaseRow]
    volume: list[int]
    # Per volume bucket, (first responses owed, given in time): SLA attainment per day or hour.
    sla_by_bucket: list[tuple[int, int]] = field(default_factory=list)
    # The normal first-response target, and how many first responses took up to each of
    # `response_edges` (then one more count: slower than the last edge).
    response_target: timedelta | None = None
    response_edges: tuple[timedelta, ...] = ()
    response_histogram: list[int] = field(default_factory=list)
    spend: str | None = None  # this month's X spend, one mrkdwn line (None: not metered)

    @property
    def period(self) -> Period:
        """Return the period."""
        return self.window.period

    @property
    def breaches(self) -> int:
        """Return how many owed first responses came late or not at all."""
        return self.sla_due - self.sla_met

    @property
    def sla_attainment(self) -> float | None:
        """Return the share of owed first responses given in time (None: none owed)."""
        return self.sla_met / self.sla_due if self.sla_due else None


@dataclass(frozen=True, slots=True)
class CaseList:
    """Some open cases in display order, and how many there are in all."""

    cases: list[OpenCaseRow]
    total: int
    now: datetime

    @property
    def rest(self) -> int:
        """Return how many open cases are not in the list."""
        return max(self.total - len(self.cases), 0)


@dataclass(frozen=True, slots=True)
class HomeData:
    """What the App Home shows one user."""

    user: str
    mine: CaseList
    counts: QueueCounts | None  # None: the user is not an agent, so no team figures
    sla_due: int
    sla_met: int
    now: datetime
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    spend: str | None = None  # this month's X spend, shown to leads
    open_by_network: dict[str, int] = field(default_factory=dict)

    @property
    def sla_attainment(self) -> float | None:
        """Return today's share of owed first responses given in time (None: none owed)."""
        return self.sla_met / self.sla_due if self.sla_due else None


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
            oldest = await queries.oldest_open(s, limit=OLDEST_OPEN)
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
        )

    async def queue(self, *, user: str) -> CaseList:
        """Return the open cases, unclaimed first, then by deadline."""
        await self._access.require(Permission.QUEUE, user)
        async with self._sessions() as s, s.begin():
            rows, total = await queries.open_queue(s, limit=LIST_LIMIT)
        return CaseList(rows, total, self._clock())

    async def mine(self, *, user: str, limit: int = LIST_LIMIT) -> CaseList:
        """Return `user`'s open cases by deadline."""
        async with self._sessions() as s, s.begin():
            rows, total = await queries.open_queue(s, owner=user, limit=limit)
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
            rows, total = await queries.open_queue(s, owner=user, limit=HOME_LIST_LIMIT)
            if team:
                counts = await queries.queue_counts(s, now=now)
                due, met = await queries.sla_totals(s, span=today.span, now=now)
                by_network = await queries.open_by_network(s)
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


class DigestPoster(Protocol):
    """Posts a message to a channel and returns its ts (raising the delivery errors)."""

    def __call__(
        self, *, channel: str, text: str, blocks: list[dict[str, Any]]
    ) -> Awaitable[str]: ...


def slack_poster(client: AsyncWebClient) -> DigestPoster:
    """Return a poster that sends through `client`, its failures mapped to delivery's errors."""

    async def post(*, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        try:
            response = await client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise classify_slack_error(exc) from exc
        return str(response["ts"])

    return post


Render = Callable[[Digest], tuple[str, list[dict[str, Any]]]]


class ChartPoster(Protocol):
    """Shares a digest's charts in the thread of its posted message (failures are its own)."""

    def __call__(self, digest: Digest, *, channel: str, thread_ts: str) -> Awaitable[object]: ...


class DailyDigest:
    """Posts yesterday's digest at `at` (local time) once per day, whichever replica sees it."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        service: DigestService,
        at: time,
        channel: str,
        post: DigestPoster,
        render: Render,
        holder: str,
        charts: ChartPoster | None = None,
    ) -> None:
        self._sessions = sessions
        self._charts = charts
        self._clock = clock
        self._service = service
        self._at = at
        self._channel = channel
        self._post = post
        self._render = render
        self._holder = holder

    def due_day(self, now: datetime) -> date | None:
        """Return the day whose digest is due at `now` (yesterday once `at` has passed)."""
        local = now.astimezone(self._service.zone)
        if local.timetz().replace(tzinfo=None) < self._at:
            return None
        return local.date() - timedelta(days=1)

    async def run_once(self) -> bool:
        """Post the due digest if nobody has; return whether this call posted it."""
        now = self._clock()
        day = self.due_day(now)
        if day is None:
            return False
        async with self._sessions() as s, s.begin():
            # A read first: on every other minute of the day the answer is "posted already".
            if await claims.digest_day_posted(s, day=day):
                return False
            if not await claims.claim_digest_day(
                s, day=day, holder=self._holder, now=now, retry_before=now - STALE_CLAIM
            ):
                return False
        digest = await self._service.compute(Period.YESTERDAY, at=now)
        text, blocks = self._render(digest)
        try:
            ts = await self._post(channel=self._channel, text=text, blocks=blocks)
        except (SlackUnavailable, SlackRateLimited) as exc:
            log.warning("daily digest for %s not posted yet (%s); will retry", day, exc)
            async with self._sessions() as s, s.begin():
                await claims.release_digest_day(s, day=day, holder=self._holder)
            return False
        except SlackRejected as exc:
            # Retrying at once will not help (e.g. the bot is not in the channel): the claim
            # stays, so the next try comes when it goes stale.
            log.error(
                "daily digest for %s refused by Slack in %s: %s (invite the bot to the channel)",
                day,
                self._channel,
                exc,
            )
            return False
        async with self._sessions() as s, s.begin():
            await claims.record_digest_posted(
                s, day=day, holder=self._holder, channel=self._channel, ts=ts, now=self._clock()
            )
        log.info("daily digest for %s posted to %s", day, self._channel)
        if self._charts is not None:
            # After the record: a failed upload is logged by the poster and never reposts the day.
            await self._charts(digest, channel=self._channel, thread_ts=ts)
        return True
