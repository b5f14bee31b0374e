"""Response targets: when a case is due, counted in business hours when the team keeps them.

Pure functions of their inputs (ARCHITECTURE rule 6): the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.durations import BusinessHours

_MAX_DAYS_SCANNED = 800  # a target can never need more than two years of calendar


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    """Targets by priority plus the calendar they are counted in."""

    normal: timedelta
    urgent: timedelta
    hours: BusinessHours
    zone: ZoneInfo
    holidays: frozenset[date] = frozenset()

    def target(self, *, urgent: bool) -> timedelta:
        """Return the response target for a priority."""
        return self.urgent if urgent else self.normal

    def due(self, start: datetime, *, urgent: bool) -> datetime:
        """Return when a response to a post made at `start` is due."""
        return add_business_time(
            start, self.target(urgent=urgent), self.hours, self.zone, self.holidays
        )


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
