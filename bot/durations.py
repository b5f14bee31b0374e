"""Parsing of the human-friendly values settings accept: durations, business hours, clock times."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SEGMENT = re.compile(
    r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+(?P<t1>\d{1,2}:\d{2})-(?P<t2>\d{1,2}:\d{2})$"
)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse `45s`, `15m`, `2h`, `1d` or a bare number of seconds into a positive timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(
                f"'{value}' is not a duration; use e.g. 45s, 15m, 2h, 1d or a number of seconds"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"'{value}' must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Render a duration compactly for people: `45s`, `12m`, `1h 05m`, `2d 3h`."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    if days:
        return f"{sign}{days}d {hours}h" if hours else f"{sign}{days}d"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m"
    return f"{sign}{seconds}s"


def parse_clock_time(value: str) -> time:
    """Parse `HH:MM` (24-hour) into a time."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        raise ValueError(f"'{value}' is not a time of day; use HH:MM, e.g. 09:00")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute:
            raise ValueError(f"'{value}' is not a time of day")
        return time.max
    return time(hour, minute)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening hours per weekday (0 = Monday); `always_open` for 24/7 teams."""

    always_open: bool = True
    windows: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)

    def describe(self) -> str:
        """Return the hours as people write them."""
        if self.always_open:
            return "24/7"
        parts = []
        for day, spans in sorted(self.windows.items()):
            for start, end in spans:
                end_text = "24:00" if end == time.max else end.strftime("%H:%M")
                parts.append(f"{_DAYS[day].title()} {start.strftime('%H:%M')}-{end_text}")
        return ", ".join(parts)


def parse_business_hours(value: str | BusinessHours) -> BusinessHours:
    """Parse `24/7` or comma-separated `Mon-Fri 09:00-17:00, Sat 10:00-14:00` segments."""
    if isinstance(value, BusinessHours):
        return value
    if value.strip().lower() in {"24/7", "always", ""}:
        return BusinessHours()
    windows: dict[int, list[tuple[time, time]]] = {}
    for raw in value.split(","):
        segment = " ".join(raw.lower().split())
        match = _SEGMENT.match(segment)
        if not match:
            raise ValueError(
                f"'{raw.strip()}' is not a business-hours segment; use e.g. 'Mon-Fri 09:00-17:00'"
            )
        d1, d2 = match.group("d1"), match.group("d2") or match.group("d1")
        if d1 not in _DAYS or d2 not in _DAYS:
            raise ValueError(
                f"unknown day in '{raw.strip()}'; use Mon, Tue, Wed, Thu, Fri, Sat, Sun"
            )
        start, end = parse_clock_time(match.group("t1")), parse_clock_time(match.group("t2"))
        if end <= start:
            raise ValueError(f"'{raw.strip()}' closes before it opens")
        first, last = _DAYS.index(d1), _DAYS.index(d2)
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
        for day in days:
            windows.setdefault(day, []).append((start, end))
    return BusinessHours(
        always_open=False,
        windows={day: tuple(sorted(spans)) for day, spans in windows.items()},
    )
