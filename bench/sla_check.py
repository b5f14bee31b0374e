"""Issue 5: one SLA check over 100,000 open cases of which 100 are due for a rung.

The real `SlaChecker.run_once` against a real database: clear settled rows, select the due cases
through `ix_cases_next_nag`, decide each rung, claim it with a conditional UPDATE and commit. The
posts go to an in-memory notifier: what is measured is Carebot's own cost, not Slack's pacing
(100 posts at Slack's one per second per channel take 100 s whatever the bot does). Seeding is
bulk inserts and is not timed. The check runs several times, the 100 due rows reset in between,
and the median is the figure.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import BenchmarkFailed, DbKind, Figure, progress, register, temp_database
from bot.durations import BusinessHours
from bot.nags import SlaChecker
from bot.sla import NagStep, ResponsePolicy, start_deadline
from storage.engine import session_factory
from storage.models import CardState, Case, CaseStatus, Priority

NAME = "sla_check"
OPEN_CASES = 100_000
DUE = 100
RUNS = 7
CHUNK = 5_000
TARGET_MS = 100.0
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = ResponsePolicy(
    normal=timedelta(minutes=60),
    urgent=timedelta(minutes=15),
    hours=BusinessHours(),
    zone=ZoneInfo("UTC"),
)


class _Sink:
    """Takes the nags instead of Slack and counts them."""

    def __init__(self) -> None:
        self.posts = 0

    async def notify(
        self, text: str, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> str:
        self.posts += 1
        return f"1700000000.{self.posts:06d}"


def _row(n: int, *, due: bool) -> dict[str, Any]:
    # Due rows are 50 minutes old (their warning is due); the rest are up to ten minutes old
    # (nothing due for another 35 minutes or more). Times are spread so index keys differ.
    age = timedelta(minutes=50, seconds=n % 600) if due else timedelta(seconds=n % 600)
    posted_at = NOW - age
    deadline = start_deadline(POLICY, start=posted_at, urgent=False)
    return {
        "network": "x",
        "external_id": str(10**15 + n),
        "conversation_id": str(10**15 + n),
        "author_id": str(n % 5000),
        "author_handle": f"customer{n % 5000}",
        "author_name": f"Customer {n % 5000}",
        "text": f"@acme question {n}: where is my order?",
        "url": f"https://x.com/customer/status/{10**15 + n}",
        "posted_at": posted_at,
        "ingested_at": posted_at,
        "last_customer_at": posted_at,
        "priority": Priority.NORMAL,
        "status": CaseStatus.OPEN,
        "message_count": 1,
        "due_at": deadline.due_at,
        "nag_step": 0,
        "next_nag_at": deadline.first_nag_at,
        "card_state": CardState.POSTED,
        "slack_channel": "C0CARE",
        "card_ts": f"1600000000.{n:06d}",
        "card_version": 1,
    }


async def _seed(engine: AsyncEngine, *, open_cases: int, due: int) -> list[int]:
    due_every = open_cases // due
    async with engine.begin() as conn:
        for start in range(0, open_cases, CHUNK):
            rows = [
                _row(n, due=n % due_every == 0 and n // due_every < due)
                for n in range(start, min(start + CHUNK, open_cases))
            ]
            await conn.execute(insert(Case), rows)
        if engine.dialect.name == "postgresql":
            # Autovacuum would have analysed a table this size long ago in a real deployment.
            await conn.execute(text("ANALYZE cases"))
        due_ids = list(await conn.scalars(select(Case.id).where(Case.next_nag_at <= NOW)))
    if len(due_ids) != due:
        raise BenchmarkFailed(f"seeded {len(due_ids)} due cases, wanted {due}")
    return due_ids


async def _reset_due(engine: AsyncEngine, due_ids: list[int]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(Case)
            .where(Case.id.in_(due_ids))
            .values(nag_step=0, next_nag_at=NOW - timedelta(minutes=5), card_dirty_at=None)
        )


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds per check with `due` cases due, and for a check with nothing due."""

    laps: list[float]
    idle_ms: float
    seed_seconds: float


async def measure(engine: AsyncEngine, *, open_cases: int, due: int, runs: int) -> Timings:
    """Seed `open_cases` open cases (`due` of them due) and time `runs` SLA checks."""
    started = time.perf_counter()
    due_ids = await _seed(engine, open_cases=open_cases, due=due)
    seed_seconds = time.perf_counter() - started
    sink = _Sink()
    checker = SlaChecker(
        sessions=session_factory(engine), clock=lambda: NOW, policy=POLICY, notifier=sink
    )
    laps: list[float] = []
    for _ in range(runs):
        await _reset_due(engine, due_ids)
        before = sink.posts
        started = time.perf_counter()
        result = await checker.run_once()
        laps.append((time.perf_counter() - started) * 1000)
        if result.posted != due or sink.posts - before != due or result.examined != due:
            raise BenchmarkFailed(f"expected {due} warnings, got {result}")
    started = time.perf_counter()
    idle = await checker.run_once()
    idle_ms = (time.perf_counter() - started) * 1000
    if idle.posted or idle.examined:
        raise BenchmarkFailed(f"a second check found work: {idle}")
    async with session_factory(engine)() as s:
        warned = await s.scalar(
            select(func.count()).select_from(Case).where(Case.nag_step == NagStep.WARNING)
        )
    if warned != due:
        raise BenchmarkFailed(f"{warned} cases recorded a warning, expected {due}")
    return Timings(laps=laps, idle_ms=idle_ms, seed_seconds=seed_seconds)


@register(NAME, summary="one SLA check over 100,000 open cases, 100 due (~10 s with seeding)")
async def run(kind: DbKind) -> list[Figure]:
    """Time one SLA check over 100,000 open cases of which 100 are due."""
    async with temp_database(kind) as (_url, engine):
        timings = await measure(engine, open_cases=OPEN_CASES, due=DUE, runs=RUNS)
    progress(f"{NAME} [{kind}]: seeded {OPEN_CASES:,} open cases in {timings.seed_seconds:.1f}s")
    median = statistics.median(timings.laps)
    sqlite = kind == "sqlite"
    return [
        Figure(NAME, "open_cases", OPEN_CASES, "count"),
        Figure(NAME, "due_cases", DUE, "count"),
        Figure(NAME, "seed_seconds", round(timings.seed_seconds, 1), "s"),
        Figure(
            NAME,
            "check_ms",
            round(median, 1),
            "ms",
            f"< {TARGET_MS:.0f} ms" if sqlite else "",
            median < TARGET_MS if sqlite else None,
        ),
        Figure(NAME, "check_ms_max", round(max(timings.laps), 1), "ms"),
        Figure(NAME, "idle_check_ms", round(timings.idle_ms, 1), "ms"),
    ]
