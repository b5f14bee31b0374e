"""Digest figures over a seeded database, checked against values worked out by hand, on SQLite
and PostgreSQL: counts, percentiles, SLA attainment, out-of-hours answers, per-agent figures,
the volume chart and the period boundaries in a non-UTC zone (Europe/Berlin, CET in November)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.access import AccessPolicy
from bot.business_calendar import is_open, open_hours, period_window
from bot.daily_digest import DailyDigest
from bot.digest import Digest, DigestService
from bot.domain import Bucket, Period, ResolveReason
from bot.durations import parse_business_hours
from bot.errors import NotAllowed
from bot.sla import ResponsePolicy
from storage.engine import SessionFactory
from storage.models import Case, CaseStatus, DigestRun, Priority
from tests.conftest import FakeClock

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = parse_business_hours("Mon-Fri 09:00-17:00")
POLICY = ResponsePolicy(
    normal=timedelta(hours=1), urgent=timedelta(minutes=15), hours=HOURS, zone=BERLIN
)
# Wednesday 25 November 2026, 16:30 in Berlin.
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def case(n: int, posted: datetime, **values: Any) -> Case:
    row: dict[str, Any] = {
        "network": "x",
        "external_id": str(n),
        "conversation_id": str(n),
        "author_id": str(n),
        "author_handle": f"customer{n}",
        "author_name": f"Customer {n}",
        "text": f"question {n}",
        "url": f"https://x.com/customer{n}/status/{n}",
        "posted_at": posted,
        "ingested_at": posted,
        "last_customer_at": posted,
        "due_at": posted + timedelta(hours=1),
    }
    row.update(values)
    return Case(**row)


def replied(at: datetime, user: str, **values: Any) -> dict[str, Any]:
    return {
        "status": CaseStatus.REPLIED,
        "first_response_at": at,
        "first_responder": user,
        "owner": user,
        "claimed_at": at,
        **values,
    }


def resolved(at: datetime) -> dict[str, Any]:
    return {"status": CaseStatus.RESOLVED, "resolved_at": at, "resolved_by": "U0LEAD"}


def seed() -> list[Case]:
    """Return fresh rows (an ORM object can be inserted once)."""
    return [
        # J: exactly local midnight (today's first instant); answered 08:59 Berlin, out of hours.
        case(
            10,
            utc(2026, 11, 24, 23, 0),
            **replied(utc(2026, 11, 25, 7, 59), "U0TWO"),
            due_at=utc(2026, 11, 25, 9, 0),
        ),
        # A: 00:30 Berlin today; answered 09:30 Berlin (in hours) before its 10:00 deadline.
        case(
            1,
            utc(2026, 11, 24, 23, 30),
            **replied(utc(2026, 11, 25, 8, 30), "U0ONE"),
            due_at=utc(2026, 11, 25, 9, 0),
        ),
        # B: 23:30 Berlin yesterday: in the last 24 h but not today; answered at night, in time.
        case(
            2,
            utc(2026, 11, 24, 22, 30),
            **replied(utc(2026, 11, 24, 22, 40), "U0TWO"),
            due_at=utc(2026, 11, 24, 22, 45),
        ),
        # C: urgent, answered five minutes late.
        case(
            3,
            utc(2026, 11, 25, 10, 0),
            priority=Priority.URGENT,
            **replied(utc(2026, 11, 25, 10, 20), "U0ONE"),
            due_at=utc(2026, 11, 25, 10, 15),
        ),
        # D: open, unclaimed, deadline passed: a breach.
        case(4, utc(2026, 11, 25, 12, 0), due_at=utc(2026, 11, 25, 13, 0)),
        # E: open, claimed, deadline ahead: neither met nor missed yet.
        case(
            5,
            utc(2026, 11, 25, 15, 0),
            owner="U0TWO",
            claimed_at=utc(2026, 11, 25, 15, 5),
            due_at=utc(2026, 11, 25, 16, 0),
        ),
        # F: resolved without a reply (spam): no response was owed.
        case(
            6,
            utc(2026, 11, 25, 9, 0),
            **resolved(utc(2026, 11, 25, 9, 5)),
            resolve_reason=ResolveReason.SPAM,
            resolve_note="a bot",
        ),
        # G: Friday 20th, answered on Sunday (out of hours), late, then resolved.
        case(
            7,
            utc(2026, 11, 20, 10, 0),
            **{**replied(utc(2026, 11, 22, 11, 0), "U0ONE"), **resolved(utc(2026, 11, 22, 12, 0))},
            due_at=utc(2026, 11, 20, 11, 0),
            resolve_reason=ResolveReason.PRAISE,
        ),
        # H: 23:30 Berlin on the 18th, half an hour before the 7-day window; on Bluesky, overdue.
        case(8, utc(2026, 11, 18, 22, 30), network="bluesky", due_at=utc(2026, 11, 18, 23, 30)),
        # I: long ago, still open: the oldest open case.
        case(9, utc(2026, 10, 20, 9, 0), due_at=utc(2026, 10, 20, 10, 0)),
        # K, L: either side of the 30-day window's first midnight (27 October, CET after DST).
        case(11, utc(2026, 10, 26, 22, 59, 59), **resolved(utc(2026, 10, 27, 8, 0))),
        case(12, utc(2026, 10, 26, 23, 0), **resolved(utc(2026, 10, 27, 8, 0))),
    ]


class Leads(AccessPolicy):
    def __init__(self, leads: list[str]) -> None:
        super().__init__(slack=AsyncWebClient(token="xoxb-unused"), agents=[], leads=leads)


@pytest.fixture
async def service(sessions: SessionFactory) -> DigestService:
    async with sessions() as s, s.begin():
        s.add_all(seed())
    return DigestService(
        sessions=sessions, clock=FakeClock(NOW), access=Leads(["U0LEAD"]), policy=POLICY
    )


async def test_today_in_berlin(service: DigestService) -> None:
    d = await service.digest_for(user="U0LEAD", period=Period.TODAY)
    assert d.window.start == utc(2026, 11, 24, 23, 0)
    assert (d.received, d.replied, d.resolved_without_reply, d.still_open) == (6, 3, 1, 2)
    assert d.by_network == {"x": 6}
    assert d.by_priority == {"normal": 5, "urgent": 1}
    # Responses: C 1200 s, J 32340 s, A 32400 s. p90 at rank 1.8: 32340 + 0.8 * 60.
    assert d.median_response == timedelta(seconds=32340)
    assert d.p90_response == timedelta(seconds=32388)
    # Owed: J, A (met), C (late), D (overdue, open).
    assert (d.sla_due, d.sla_met, d.breaches) == (4, 2, 2)
    assert d.sla_attainment == pytest.approx(0.5)
    assert d.out_of_hours == 1  # J, answered at 08:59 Berlin
    agents = {a.user: (a.claimed, a.replied, a.median_response) for a in d.agents}
    assert agents == {
        "U0ONE": (2, 2, timedelta(seconds=16800)),
        "U0TWO": (2, 1, timedelta(seconds=32340)),
    }
    # Hourly bars from 00:00 Berlin: J and A in the first hour, F at 10:00, C 11:00, D 13:00,
    # and E in the current, partial hour (16:00-16:30).
    assert d.window.bucket == Bucket.HOUR
    assert len(d.volume) == 17
    assert d.window.labels()[0] == "00:00"
    assert d.window.labels()[-1] == "16:00"
    expected = [0] * 17
    expected[0], expected[10], expected[11], expected[13], expected[16] = 2, 1, 1, 1, 1
    assert d.volume == expected


async def test_last_24_hours(service: DigestService) -> None:
    d = await service.digest_for(user="U0LEAD", period=Period.DAY)
    assert (d.received, d.replied, d.still_open) == (7, 4, 2)
    # Responses 600, 1200, 32340, 32400: median (1200 + 32340) / 2; p90 at rank 2.7.
    assert d.median_response == timedelta(seconds=16770)
    assert d.p90_response == timedelta(seconds=32382)
    assert (d.sla_due, d.sla_met) == (5, 3)
    assert d.out_of_hours == 2  # J, and B answered at 23:40 Berlin
    assert sum(d.volume) == 7


async def test_last_7_days(service: DigestService) -> None:
    d = await service.digest_for(user="U0LEAD", period=Period.WEEK)
    assert d.window.start == utc(2026, 11, 18, 23, 0)  # midnight, Thursday 19th, Berlin
    assert (d.received, d.replied, d.resolved_without_reply, d.still_open) == (8, 5, 1, 2)
    # Responses 600, 1200, 32340, 32400, 176400: p90 at rank 3.6.
    assert d.median_response == timedelta(seconds=32340)
    assert d.p90_response == timedelta(seconds=32400 + 0.6 * (176400 - 32400))
    assert (d.sla_due, d.sla_met) == (6, 3)
    assert d.out_of_hours == 3  # J, B, and G answered on a Sunday
    agents = {a.user: (a.claimed, a.replied, a.median_response) for a in d.agents}
    assert agents == {
        "U0ONE": (3, 3, timedelta(seconds=32400)),
        "U0TWO": (3, 2, timedelta(seconds=16470)),
    }
    assert d.window.bucket == Bucket.DAY
    assert d.window.labels() == [
        "Thu 19",
        "Fri 20",
        "Sat 21",
        "Sun 22",
        "Mon 23",
        "Tue 24",
        "Wed 25",
    ]
    assert d.volume == [0, 1, 0, 0, 0, 1, 6]


async def test_resolved_cases_are_grouped_by_reason(service: DigestService) -> None:
    week = await service.digest_for(user="U0LEAD", period=Period.WEEK)
    assert week.resolved_by_reason == {ResolveReason.SPAM: 1, ResolveReason.PRAISE: 1}
    month = await service.digest_for(user="U0LEAD", period=Period.MONTH)
    # L was closed with no reason; K is before the window.
    assert month.resolved_by_reason == {
        ResolveReason.SPAM: 1,
        ResolveReason.PRAISE: 1,
        None: 1,
    }
    today = await service.digest_for(user="U0LEAD", period=Period.TODAY)
    assert today.resolved_by_reason == {ResolveReason.SPAM: 1}


async def test_the_charts_figures_response_times_and_sla_per_day(service: DigestService) -> None:
    d = await service.digest_for(user="U0LEAD", period=Period.WEEK)
    # Against the 1h target: a quarter, a half, the target, twice it, and slower.
    assert d.response_target == timedelta(hours=1)
    assert d.response_edges == (
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=2),
    )
    # Responses 600, 1200, 32340, 32400, 176400 seconds.
    assert d.response_histogram == [1, 1, 0, 0, 3]
    assert len(d.sla_by_bucket) == len(d.volume)
    assert sum(due for due, _ in d.sla_by_bucket) == d.sla_due
    assert sum(met for _, met in d.sla_by_bucket) == d.sla_met
    assert all(met <= due for due, met in d.sla_by_bucket)
    # Owed only on days that received cases.
    assert [due > 0 for due, _ in d.sla_by_bucket] == [n > 0 for n in d.volume]


async def test_last_30_days_and_the_oldest_open(service: DigestService) -> None:
    d = await service.digest_for(user="U0LEAD", period=Period.MONTH)
    assert d.window.start == utc(2026, 10, 26, 23, 0)
    assert d.received == 10  # L is in, K a second earlier is not
    assert d.by_network == {"x": 9, "bluesky": 1}
    assert (d.resolved_without_reply, d.still_open) == (2, 3)
    assert (d.sla_due, d.sla_met) == (7, 3)
    assert len(d.volume) == 30
    assert d.volume[0] == 1
    assert [row.id for row in d.oldest_open] == await _ids_of(service, ["9", "8", "4", "5"])


async def _ids_of(service: DigestService, external_ids: list[str]) -> list[int]:
    async with service._sessions() as s:
        rows = {e: i for e, i in await s.execute(select(Case.external_id, Case.id))}
    return [rows[e] for e in external_ids]


async def test_an_empty_period_has_no_percentiles(sessions: SessionFactory) -> None:
    service = DigestService(
        sessions=sessions, clock=FakeClock(NOW), access=Leads([]), policy=POLICY
    )
    d = await service.digest_for(user="U0ANYONE", period=Period.DAY)
    assert (d.received, d.median_response, d.p90_response, d.sla_attainment) == (
        0,
        None,
        None,
        None,
    )
    assert d.agents == []
    assert d.volume == [0] * len(d.volume)
    assert d.response_histogram == [0, 0, 0, 0, 0]
    assert d.sla_by_bucket == [(0, 0)] * len(d.volume)


async def test_only_leads_get_digests(service: DigestService) -> None:
    with pytest.raises(NotAllowed, match="leads"):
        await service.digest_for(user="U0ONE", period=Period.DAY)


async def test_queue_mine_and_home(service: DigestService) -> None:
    queue = await service.queue(user="U0ONE")
    # Unclaimed first (I, H, D by deadline), then E (claimed).
    assert [r.id for r in queue.cases] == await _ids_of(service, ["9", "8", "4", "5"])
    assert queue.total == 4
    assert queue.rest == 0
    mine = await service.mine(user="U0TWO")
    assert [r.id for r in mine.cases] == await _ids_of(service, ["5"])
    home = await service.home(user="U0TWO")
    assert home.counts is not None
    assert (home.counts.open, home.counts.unclaimed, home.counts.overdue) == (4, 3, 3)
    assert (home.sla_due, home.sla_met) == (4, 2)


def test_period_windows_across_dst() -> None:
    # Sunday 29 March 2026: Berlin springs forward at 02:00, so "today" has 23 hours.
    now = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 on the 30th in Berlin
    yesterday = period_window(Period.YESTERDAY, now=now, zone=BERLIN)
    assert yesterday.start == utc(2026, 3, 28, 23, 0)
    assert yesterday.end == utc(2026, 3, 29, 22, 0)
    assert len(yesterday.edges) - 1 == 23
    assert "02:00" not in yesterday.labels()
    day = period_window(Period.DAY, now=NOW, zone=BERLIN)
    assert day.start == NOW - timedelta(hours=24)
    assert len(day.edges) - 1 == 25


def test_open_hours_agree_with_is_open() -> None:
    holiday = date(2026, 11, 26)
    policy = ResponsePolicy(
        normal=timedelta(hours=1),
        urgent=timedelta(minutes=15),
        hours=parse_business_hours("Mon-Fri 09:00-12:00, Mon-Fri 13:00-17:00"),
        zone=BERLIN,
        holidays=frozenset({holiday}),
    )
    start, end = utc(2026, 11, 20, 0, 0), utc(2026, 11, 30, 0, 0)
    spans = open_hours(policy, start=start, end=end)
    assert spans is not None
    rng = random.Random(6)
    for _ in range(2000):
        at = start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))
        inside = any(lo <= at < hi for lo, hi in spans)
        assert inside == is_open(at, policy.hours, BERLIN, policy.holidays), at
    assert open_hours(_always(), start=start, end=end) is None


def _always() -> ResponsePolicy:
    return ResponsePolicy(
        normal=timedelta(hours=1),
        urgent=timedelta(minutes=15),
        hours=parse_business_hours("24/7"),
        zone=BERLIN,
    )


class Posts:
    def __init__(self, fail: Exception | None = None) -> None:
        self.posts: list[tuple[str, str]] = []
        self.fail = fail

    async def __call__(self, *, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        if self.fail is not None:
            raise self.fail
        self.posts.append((channel, text))
        return f"1700000000.{len(self.posts):06d}"


async def test_the_daily_digest_posts_once_across_replicas(service: DigestService) -> None:
    clock = FakeClock(utc(2026, 11, 25, 7, 59))  # 08:59 Berlin
    posts = Posts()

    def replica(name: str) -> DailyDigest:
        return DailyDigest(
            sessions=service._sessions,
            clock=clock,
            service=service,
            at=time(9, 0),
            channel="C0DIGEST",
            post=posts,
            render=lambda d: (f"{d.period}: {d.received}", []),
            holder=name,
        )

    first, second = replica("a"), replica("b")
    assert not await first.run_once()  # before 09:00 Berlin
    clock.advance(minutes=1)
    results = [await first.run_once(), await second.run_once(), await first.run_once()]
    assert results == [True, False, False]
    # Yesterday (24 November in Berlin) had one case: B.
    assert posts.posts == [("C0DIGEST", "yesterday: 1")]
    clock.advance(hours=3)  # a restart later that day posts nothing new
    assert not await replica("c").run_once()
    async with service._sessions() as s:
        run = (await s.scalars(select(DigestRun))).one()
    assert (run.day, run.channel, run.message_ts) == (
        date(2026, 11, 24),
        "C0DIGEST",
        "1700000000.000001",
    )


async def test_the_daily_digest_shares_its_charts_in_its_thread_once(
    service: DigestService,
) -> None:
    clock = FakeClock(utc(2026, 11, 25, 8, 0))  # 09:00 Berlin
    posts = Posts()
    shared: list[tuple[Digest, str, str]] = []

    async def charts(digest: Digest, *, channel: str, thread_ts: str) -> None:
        shared.append((digest, channel, thread_ts))

    def replica(name: str) -> DailyDigest:
        return DailyDigest(
            sessions=service._sessions,
            clock=clock,
            service=service,
            at=time(9, 0),
            channel="C0DIGEST",
            post=posts,
            render=lambda d: (f"{d.period}: {d.received}", []),
            holder=name,
            charts=charts,
        )

    assert [await replica("a").run_once(), await replica("b").run_once()] == [True, False]
    ((digest, channel, thread_ts),) = shared
    assert (digest.period, digest.received) == (Period.YESTERDAY, 1)
    assert (channel, thread_ts) == ("C0DIGEST", "1700000000.000001")
