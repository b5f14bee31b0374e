"""Deadlines and the nag ladder as pure functions of an injected time: priorities, business hours
over a weekend, daylight-saving changes and holidays, next-response deadlines, the ladder's exact
rungs and its end, and silence once a case is replied to or resolved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.blocks.card import DeadlineState, deadline_state
from bot.business_calendar import add_business_time, business_time_between, subtract_business_time
from bot.domain.cases import Case, CaseStatus, Priority
from bot.durations import BusinessHours, parse_business_hours
from bot.sla import Ladder, NagStep, ResponsePolicy, schedule_first_nag, start_deadline

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = parse_business_hours("Mon-Fri 09:00-17:00")
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


def policy(
    hours: BusinessHours | None = None,
    zone: ZoneInfo = BERLIN,
    holidays: frozenset[date] = frozenset(),
) -> ResponsePolicy:
    return ResponsePolicy(
        normal=timedelta(minutes=60),
        urgent=timedelta(minutes=15),
        hours=hours or BusinessHours(),
        zone=zone,
        holidays=holidays,
    )


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN).astimezone(UTC)


def rungs(ladder: Ladder, due_at: datetime, *, urgent: bool) -> list[datetime]:
    return [ladder.at(step, due_at=due_at, urgent=urgent) for step in list(NagStep)[1:]]


# --- deadlines ----------------------------------------------------------------------------


def test_both_priorities_around_the_clock() -> None:
    p = policy()
    normal = start_deadline(p, start=T0, urgent=False)
    urgent = start_deadline(p, start=T0, urgent=True)
    assert normal.due_at == T0 + timedelta(minutes=60)
    assert normal.first_nag_at == T0 + timedelta(minutes=45)
    assert urgent.due_at == T0 + timedelta(minutes=15)
    assert urgent.first_nag_at == T0 + timedelta(minutes=11, seconds=15)


def test_friday_afternoon_is_due_monday_morning() -> None:
    p = policy(OFFICE)
    friday = berlin(2026, 11, 20, 16, 50)
    deadline = start_deadline(p, start=friday, urgent=False)
    assert deadline.due_at == berlin(2026, 11, 23, 9, 50)
    # 45 of the 60 open minutes: 10 on Friday, 35 on Monday.
    assert deadline.first_nag_at == berlin(2026, 11, 23, 9, 35)
    assert business_time_between(friday, deadline.due_at, OFFICE, BERLIN) == timedelta(hours=1)


def test_a_post_at_the_weekend_waits_for_opening_time() -> None:
    p = policy(OFFICE)
    saturday = berlin(2026, 11, 21, 11, 0)
    assert p.due(saturday, urgent=True) == berlin(2026, 11, 23, 9, 15)


@pytest.mark.parametrize(
    ("friday", "monday_utc"),
    [
        # Spring forward (Sun 29 March 2026): Monday 09:30 is CEST, UTC+2.
        (berlin(2026, 3, 27, 16, 30), datetime(2026, 3, 30, 7, 30, tzinfo=UTC)),
        # Fall back (Sun 25 October 2026): Monday 09:30 is CET, UTC+1.
        (berlin(2026, 10, 23, 16, 30), datetime(2026, 10, 26, 8, 30, tzinfo=UTC)),
    ],
)
def test_business_hours_across_a_dst_weekend(friday: datetime, monday_utc: datetime) -> None:
    assert policy(OFFICE).due(friday, urgent=False) == monday_utc


@pytest.mark.parametrize(
    ("day", "hours_long"),
    [(datetime(2026, 3, 29, tzinfo=UTC), 23), (datetime(2026, 10, 25, tzinfo=UTC), 25)],
)
def test_a_window_spanning_the_change_is_as_long_as_it_really_is(
    day: datetime, hours_long: int
) -> None:
    weekend = parse_business_hours("Sat-Sun 00:00-24:00")
    saturday_23h = berlin(2026, day.month, day.day - 1, 23, 0)
    # One hour on Saturday, then all of Sunday: 23 hours in March, 25 in October.
    end = add_business_time(saturday_23h, timedelta(hours=1 + hours_long), weekend, BERLIN)
    assert end == berlin(2026, day.month, day.day + 1, 0, 0)
    assert business_time_between(saturday_23h, end, weekend, BERLIN) == timedelta(
        hours=1 + hours_long
    )
    assert subtract_business_time(end, timedelta(hours=hours_long), weekend, BERLIN) == berlin(
        2026, day.month, day.day, 0, 0
    )


def test_a_holiday_stops_the_clock_for_the_day() -> None:
    monday = date(2026, 11, 23)
    p = policy(OFFICE, holidays=frozenset({monday}))
    assert p.due(berlin(2026, 11, 20, 16, 50), urgent=False) == berlin(2026, 11, 24, 9, 50)
    around_the_clock = policy(holidays=frozenset({monday}))
    sunday_night = berlin(2026, 11, 22, 23, 30)
    assert around_the_clock.due(sunday_night, urgent=False) == berlin(2026, 11, 24, 0, 30)


def test_a_follow_up_starts_a_next_response_deadline_from_its_own_time() -> None:
    p = policy(OFFICE)
    follow_up = berlin(2026, 11, 24, 16, 55)  # Tuesday, five minutes before closing
    deadline = start_deadline(p, start=follow_up, urgent=True)
    assert deadline.due_at == berlin(2026, 11, 25, 9, 10)
    assert deadline.first_nag_at == berlin(2026, 11, 25, 9, 6, 15)


def test_subtract_is_the_inverse_of_add_in_business_time() -> None:
    start = berlin(2026, 11, 20, 15, 0)
    for minutes in (1, 59, 120, 121, 600, 2000):
        amount = timedelta(minutes=minutes)
        end = add_business_time(start, amount, OFFICE, BERLIN)
        back = subtract_business_time(end, amount, OFFICE, BERLIN)
        assert business_time_between(back, end, OFFICE, BERLIN) == amount
        assert back == start


# --- the ladder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urgent", "offsets"),
    [
        (False, [45, 60, 90, 120, 150]),
        (True, [11.25, 15, 22.5, 30, 37.5]),
    ],
)
def test_ladder_rungs_for_both_priorities(urgent: bool, offsets: list[float]) -> None:
    p = policy()
    due_at = p.due(T0, urgent=urgent)
    assert rungs(Ladder(p), due_at, urgent=urgent) == [T0 + timedelta(minutes=m) for m in offsets]


def test_ladder_reminders_count_business_time() -> None:
    p = policy(OFFICE)
    due_at = berlin(2026, 11, 20, 16, 40)  # Friday
    assert rungs(Ladder(p), due_at, urgent=False) == [
        berlin(2026, 11, 20, 16, 25),
        due_at,
        berlin(2026, 11, 23, 9, 10),
        berlin(2026, 11, 23, 9, 40),
        berlin(2026, 11, 23, 10, 10),
    ]


def test_ladder_walks_each_rung_once_and_then_ends() -> None:
    p = policy()
    ladder = Ladder(p)
    due_at = p.due(T0, urgent=False)
    posted = NagStep.NONE
    seen: list[tuple[NagStep, datetime]] = []
    next_at = schedule_first_nag(p, due_at=due_at, urgent=False)
    assert next_at == T0 + timedelta(minutes=45)
    now = T0
    while next_at is not None:
        before = ladder.decide(
            due_at=due_at,
            urgent=False,
            posted=posted,
            now=next_at - timedelta(seconds=1),
            awaiting_reply=True,
        )
        assert before.step is None  # nothing is early
        now = next_at
        decision = ladder.decide(
            due_at=due_at, urgent=False, posted=posted, now=now, awaiting_reply=True
        )
        assert decision.step is not None
        seen.append((decision.step, now))
        posted, next_at = decision.step, decision.next_nag_at
    assert [step for step, _ in seen] == list(NagStep)[1:]
    assert [at - T0 for _, at in seen] == [timedelta(minutes=m) for m in (45, 60, 90, 120, 150)]
    # The end: a week later the ladder has nothing more to say.
    later = ladder.decide(
        due_at=due_at, urgent=False, posted=posted, now=now + timedelta(days=7), awaiting_reply=True
    )
    assert (later.step, later.next_nag_at) == (None, None)


def test_after_downtime_the_breach_is_posted_not_a_stale_warning() -> None:
    p = policy()
    ladder = Ladder(p)
    due_at = p.due(T0, urgent=False)
    late = T0 + timedelta(minutes=95)  # past the breach and the first reminder
    decision = ladder.decide(
        due_at=due_at, urgent=False, posted=NagStep.NONE, now=late, awaiting_reply=True
    )
    assert decision.step == NagStep.BREACH
    # The first reminder's time has passed too: the next one is the second, not a burst.
    assert decision.next_nag_at == T0 + timedelta(minutes=120)
    after_breach = ladder.decide(
        due_at=due_at, urgent=False, posted=NagStep.BREACH, now=late, awaiting_reply=True
    )
    assert after_breach.step == NagStep.REMINDER_1


def test_before_the_warning_nothing_is_posted() -> None:
    p = policy()
    due_at = p.due(T0, urgent=False)
    decision = Ladder(p).decide(
        due_at=due_at,
        urgent=False,
        posted=NagStep.NONE,
        now=T0 + timedelta(minutes=44),
        awaiting_reply=True,
    )
    assert decision.step is None
    assert decision.next_nag_at == T0 + timedelta(minutes=45)


@pytest.mark.parametrize("posted", list(NagStep))
def test_no_nag_once_replied_or_resolved(posted: NagStep) -> None:
    p = policy()
    decision = Ladder(p).decide(
        due_at=p.due(T0, urgent=False),
        urgent=False,
        posted=posted,
        now=T0 + timedelta(hours=5),
        awaiting_reply=False,
    )
    assert (decision.step, decision.next_nag_at) == (None, None)


def test_no_deadline_no_nags() -> None:
    assert schedule_first_nag(policy(), due_at=None, urgent=False) is None


# --- the card agrees ----------------------------------------------------------------------


def card_case(**overrides: Any) -> Case:
    values: dict[str, Any] = {
        "id": 1,
        "network": "x",
        "author_handle": "dana",
        "author_name": "Dana",
        "text": "@acme where is my parcel?",
        "url": "https://x.com/dana/status/1",
        "posted_at": T0,
        "last_customer_at": T0,
        "status": CaseStatus.OPEN,
        "priority": Priority.NORMAL,
        "due_at": T0 + timedelta(hours=1),
        "nag_step": 0,
    }
    values.update(overrides)
    return Case(**values)


def test_a_reopened_case_shows_its_next_response_deadline_not_met() -> None:
    follow_up = T0 + timedelta(hours=3)
    case = card_case(
        first_response_at=T0 + timedelta(minutes=10),
        last_customer_at=follow_up,
        due_at=follow_up + timedelta(hours=1),
    )
    assert deadline_state(case, now=follow_up + timedelta(minutes=5)) == DeadlineState.ON_TRACK
    assert deadline_state(case, now=follow_up + timedelta(minutes=50)) == DeadlineState.DUE_SOON
    assert deadline_state(case, now=follow_up + timedelta(minutes=61)) == DeadlineState.OVERDUE
    case = replace(case, status=CaseStatus.REPLIED)
    assert deadline_state(case, now=follow_up + timedelta(minutes=30)) == DeadlineState.MET
    case = replace(case, breached_at=follow_up + timedelta(hours=1))
    assert deadline_state(case, now=follow_up + timedelta(hours=2)) == DeadlineState.MISSED


def test_the_card_is_due_soon_once_the_warning_is_out() -> None:
    # Business hours make the warning come earlier than a calendar quarter would.
    case = card_case(nag_step=NagStep.WARNING)
    assert deadline_state(case, now=T0 + timedelta(minutes=5)) == DeadlineState.DUE_SOON
    assert deadline_state(card_case(), now=T0 + timedelta(minutes=5)) == DeadlineState.ON_TRACK
