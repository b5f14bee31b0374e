"""Issue 6: `/care digest 30d` over a database of 1,000,000 cases.

What is timed is what the slash command does after its ack: the lead check, every SQL aggregate
of the 30-day digest (`DigestService.digest_for`) and the Block Kit rendering. The cases are a
year of traffic (one every ~31.5 s, so ~82,000 fall in the 30 days): 70% replied by one of 20
agents, 20% resolved without a reply, the rest open; one in seven on Bluesky, one in thirteen
urgent; Mon-Fri 09:00-17:00 business hours in Europe/Berlin, so the out-of-hours count is real
work. Seeding is one `INSERT ... SELECT` (a recursive CTE on SQLite, generate_series on
PostgreSQL) and is not timed. The digest runs several times; the median is the figure.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import BenchmarkFailed, DbKind, Figure, progress, register, temp_database
from bot.access import AccessPolicy
from bot.blocks.digest import digest_message
from bot.digest import DigestService, Period
from bot.durations import parse_business_hours
from bot.settings import Settings
from bot.sla import ResponsePolicy
from storage.engine import session_factory
from storage.models import Case

NAME = "digest"
CASES = 1_000_000
SPREAD = timedelta(days=365)
RUNS = 5
TARGET_S = 1.0
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
STEP_S = SPREAD.total_seconds() / CASES

# Columns shared by both dialects; {posted} and {plus(seconds)} are filled in per dialect.
_COLUMNS = """
    network, external_id, conversation_id, author_id, author_handle, author_name, text, url,
    posted_at, ingested_at, last_customer_at, priority, status, message_count,
    owner, claimed_at, first_response_at, first_responder, resolved_at, due_at,
    card_state, slack_channel, card_ts, card_version, nag_step
"""
_VALUES = """
    CASE WHEN n % 7 = 0 THEN 'bluesky' ELSE 'x' END,
    'e' || n, 'c' || n, 'a' || (n % 5000), 'customer' || (n % 5000), 'Customer',
    'where is my order ' || n, 'https://x.com/c/status/' || n,
    {posted}, {posted}, {posted},
    CASE WHEN n % 13 = 0 THEN 'urgent' ELSE 'normal' END,
    CASE WHEN n % 10 < 7 THEN 'replied' WHEN n % 10 < 9 OR n < {last_open} THEN 'resolved'
         ELSE 'open' END,
    1,
    CASE WHEN n % 10 < 7 THEN 'U0AGENT' || ((n / 10) % 20) END,
    CASE WHEN n % 10 < 7 THEN {reply} END,
    CASE WHEN n % 10 < 7 THEN {reply} END,
    CASE WHEN n % 10 < 7 THEN 'U0AGENT' || ((n / 10) % 20) END,
    CASE WHEN n % 10 >= 7 AND (n % 10 < 9 OR n < {last_open}) THEN {reply} END,
    {due},
    'posted', 'C0CARE', '1600000000.' || n, 1, 0
"""


def _seed_sql(dialect: str) -> str:
    # Only the newest ~2,000 cases stay open (a team does not leave a year of work open).
    last_open = CASES - 20_000
    if dialect == "postgresql":
        base = f"TIMESTAMPTZ '{(NOW - SPREAD).isoformat()}'"

        def plus(seconds: str) -> str:
            return f"{base} + ({seconds}) * INTERVAL '1 second'"

        values = _VALUES.format(
            posted=plus(f"n * {STEP_S}"),
            reply=plus(f"n * {STEP_S} + 60 + (n % 97) * 60"),
            due=plus(f"n * {STEP_S} + 3600"),
            last_open=last_open,
        )
        return (
            f"INSERT INTO cases ({_COLUMNS}) SELECT {values} "
            f"FROM generate_series(0, {CASES - 1}) AS n"
        )
    base = (NOW - SPREAD).strftime("%Y-%m-%d %H:%M:%S")

    def at(seconds: str) -> str:
        # The text form SQLAlchemy stores on SQLite, microseconds included, so ranges compare.
        return f"strftime('%Y-%m-%d %H:%M:%f', '{base}', '+' || ({seconds}) || ' seconds') || '000'"

    values = _VALUES.format(
        posted=at(f"n * {STEP_S}"),
        reply=at(f"n * {STEP_S} + 60 + (n % 97) * 60"),
        due=at(f"n * {STEP_S} + 3600"),
        last_open=last_open,
    )
    return (
        "WITH RECURSIVE seq(n) AS "
        f"(SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {CASES - 1}) "
        f"INSERT INTO cases ({_COLUMNS}) SELECT {values} FROM seq"
    )


async def _seed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(_seed_sql(engine.dialect.name)))
        # A real deployment's table has statistics (autovacuum, or SQLite's ANALYZE).
        await conn.execute(text("ANALYZE"))


async def _measure(kind: DbKind) -> list[Figure]:
    async with temp_database(kind) as (_url, engine):
        started = time.perf_counter()
        await _seed(engine)
        seed_seconds = time.perf_counter() - started
        progress(f"{NAME} [{kind}]: seeded {CASES:,} cases in {seed_seconds:.1f}s")
        sessions = session_factory(engine)
        settings = Settings(_env_file=None, timezone="Europe/Berlin")
        policy = ResponsePolicy(
            normal=settings.sla_first_response,
            urgent=settings.sla_urgent,
            hours=parse_business_hours("Mon-Fri 09:00-17:00"),
            zone=settings.zone,
        )
        # No leads configured: everyone is one, so the check costs no Slack call.
        access = AccessPolicy(slack=AsyncWebClient(token="xoxb-bench"), agents=[], leads=[])
        service = DigestService(sessions=sessions, clock=lambda: NOW, access=access, policy=policy)
        async with sessions() as s:
            total = await s.scalar(select(func.count()).select_from(Case))
        if total != CASES:
            raise BenchmarkFailed(f"seeded {total} cases, expected {CASES}")
        laps: list[float] = []
        for _ in range(RUNS):
            started = time.perf_counter()
            digest = await service.digest_for(user="U0LEAD", period=Period.MONTH)
            _text, blocks = digest_message(digest, shareable=True)
            laps.append(time.perf_counter() - started)
        start = digest.window.start
        async with sessions() as s:
            expected = await s.scalar(
                select(func.count()).select_from(Case).where(Case.posted_at >= start)
            )
        if digest.received != expected or not blocks or digest.median_response is None:
            raise BenchmarkFailed(f"digest counted {digest.received}, expected {expected}")
        if len(digest.agents) != 20 or digest.out_of_hours is None:
            raise BenchmarkFailed(f"unexpected digest: {len(digest.agents)} agents")
    median = statistics.median(laps)
    sqlite = kind == "sqlite"
    return [
        Figure(NAME, "cases", CASES, "count"),
        Figure(NAME, "cases_in_30d", digest.received, "count"),
        Figure(NAME, "seed_seconds", round(seed_seconds, 1), "s"),
        Figure(
            NAME,
            "digest_30d_seconds",
            round(median, 3),
            "s",
            f"< {TARGET_S:.0f} s" if sqlite else "",
            median < TARGET_S if sqlite else None,
        ),
        Figure(NAME, "digest_30d_seconds_max", round(max(laps), 3), "s"),
    ]


@register(NAME, summary="/care digest 30d over 1,000,000 cases (~1 min with seeding)")
async def run(kind: DbKind) -> list[Figure]:
    """Time the 30-day digest over a million cases."""
    return await _measure(kind)
