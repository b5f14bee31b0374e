"""The calendar: business hours (open time added, subtracted and measured in CAREBOT_TIMEZONE,
holidays closed, DST counted as it really is) and the digest's periods pinned to local days and
hours, with the business-hours windows inside them. Pure functions of their inputs: the caller
passes the time.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.domain.digest import Bucket, Period, Span, Window
from bot.durations import BusinessHours

_MAX_DAYS_SCANNED = 800  # a target can never need more than two years of calendar


class Calendar(Protocol):
    """Business hours, their zone and the days closed (`ResponsePolicy` is one)."""

    @property
    def hours(self) -> BusinessHours:
        """Return the opening hours by weekday."""
        ...

    @property
    def zone(self) -> ZoneInfo:
        """Return the zone the hours are kept in."""
        ...

    @property
    def holidays(self) -> frozenset[date]:
        """Return the days closed all day."""
        ...


def _windows(
    day: date, hours: BusinessHours, holidays: Collection[date]
) -> tuple[tuple[time, time], ...]:
    if day in holidays:
        return ()
    if hours.always_open:
        return ((time.min, time.max),)
    return hours.windows.get(day.weekday(), ())


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    # time.max stands for midnight at the end of the day.
    if at == time.max:
        return datetime.combine(day + timedelta(days=1), time.min, zone).astimezone(UTC)
    return datetime.combine(day, at, zone).astimezone(UTC)


def add_business_time(
    start: datetime,
    amount: timedelta,
    hours: BusinessHours,
    zone: ZoneInfo,
    holidays: Collection[date] = (),
) -> datetime:
    """Return the instant `amount` of open time after `start` (aware UTC in, aware UTC out)."""
    start = start.astimezone(UTC)
    if hours.always_open and not holidays:
        return start + amount
    remaining = amount
    day = start.astimezone(zone).date()
    for _ in range(_MAX_DAYS_SCANNED):
        for open_at, close_at in _windows(day, hours, holidays):
            # Arithmetic in UTC: a window that spans a DST change is as long as it really is.
            window_start, window_end = _local(day, open_at, zone), _local(day, close_at, zone)
            if window_end <= start:
                continue
            begin = max(start, window_start)
            available = window_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        day += timedelta(days=1)
    raise ValueError("business hours leave no open time within two years")


def business_time_between(
    start: datetime,
    end: datetime,
    hours: BusinessHours,
    zone: ZoneInfo,
    holidays: Collection[date] = (),
) -> timedelta:
    """Return how much open time lies between `start` and `end`."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return timedelta(0)
    if hours.always_open and not holidays:
        return end - start
    total = timedelta(0)
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        for open_at, close_at in _windows(day, hours, holidays):
            lo = max(start, _local(day, open_at, zone))
            hi = min(end, _local(day, close_at, zone))
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def is_open(
    at: datetime, hours: BusinessHours, zone: ZoneInfo, holidays: Collection[date] = ()
) -> bool:
    """Tell whether `at` falls inside business hours."""
    local = at.astimezone(zone)
    return any(
        _local(local.date(), open_at, zone)
        <= at.astimezone(UTC)
        < _local(local.date(), close_at, zone)
        for open_at, close_at in _windows(local.date(), hours, holidays)
    )


def subtract_business_time(
    end: datetime,
    amount: timedelta,
    hours: BusinessHours,
    zone: ZoneInfo,
    holidays: Collection[date] = (),
) -> datetime:
    """Return the instant `amount` of open time before `end` (aware UTC in, aware UTC out)."""
    end = end.astimezone(UTC)
    if hours.always_open and not holidays:
        return end - amount
    remaining = amount
    day = end.astimezone(zone).date()
    for _ in range(_MAX_DAYS_SCANNED):
        for open_at, close_at in reversed(_windows(day, hours, holidays)):
            window_start, window_end = _local(day, open_at, zone), _local(day, close_at, zone)
            if window_start >= end:
                continue
            stop = min(end, window_end)
            available = stop - window_start
            # `<=`: when the amount fills the window exactly, the answer is its opening time
            # (Monday 09:00), not the previous closing time (Friday 17:00).
            if remaining <= available:
                return stop - remaining
            remaining -= available
        day -= timedelta(days=1)
    raise ValueError("business hours leave no open time within two years")


USER_PERIODS = (Period.TODAY, Period.DAY, Period.WEEK, Period.MONTH)
DEFAULT_PERIOD = Period.DAY


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


def open_hours(calendar: Calendar, *, start: datetime, end: datetime) -> list[Span] | None:
    """Return the business-hours windows (UTC) overlapping [start, end); None when always open."""
    hours, zone, holidays = calendar.hours, calendar.zone, calendar.holidays
    if hours.always_open and not holidays:
        return None
    spans: list[Span] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        for opens, closes in _windows(day, hours, holidays):
            spans.append((_local(day, opens, zone), _local(day, closes, zone)))
        day += timedelta(days=1)
    return spans
