"""The digest's values: periods and their calendar windows, the figures of a digest, the lists of
open cases (the queue, "mine", a digest's oldest) and what the App Home shows. The digest service
computes them, storage fills the rows, the builders in `bot/blocks/` render them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.cases import ResolveReason

# A time range [start, end) as aware UTC datetimes.
Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class OpenCaseRow:
    """What a list line shows about an open case (no full row, no relationships)."""

    id: int
    network: str
    author_handle: str
    text: str
    priority: str
    owner: str | None
    posted_at: datetime
    due_at: datetime | None
    slack_channel: str | None
    card_ts: str | None
    url: str
    content_removed: str | None = None  # why the post's text is gone (content compliance)


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """The team's open cases at a glance."""

    open: int
    unclaimed: int
    overdue: int
    urgent: int


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
    # The period's resolved cases (replied to or not), per reason; None: closed with no reason.
    resolved_by_reason: dict[ResolveReason | None, int] = field(default_factory=dict)

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


_TITLES = {
    Period.TODAY: "Today",
    Period.DAY: "Last 24 hours",
    Period.WEEK: "Last 7 days",
    Period.MONTH: "Last 30 days",
    Period.YESTERDAY: "Yesterday",
}
