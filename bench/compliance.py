"""Issue 15: one content-compliance run over 5,000 stored X posts, 1 % deleted and 1 % edited.

The real path over loopback HTTP: `ComplianceService.run_once` → `XSource.check_posts` (tweepy,
`GET /2/tweets?ids=`, 100 a call) → the sandbox X in this process → the purges and edits written
to the database. Seeding (the sandbox's posts and the stored cases, ingested through the real
poll path) is set-up and not timed. The figures say how long a run holds its lease, how many X
calls it makes (what pay-per-use bills), and whether every change was found.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bench.common import BenchmarkFailed, DbKind, Figure, progress, register, temp_database
from bot.app import build_ingest
from bot.compliance import ComplianceService
from bot.sandbox.x import FakeX
from bot.settings import Settings
from bot.sources.x import XSource
from storage.engine import session_factory
from storage.models import Case

NAME = "compliance"
POSTS = 5_000
CHANGED = POSTS // 100


@register(NAME, summary="one compliance run over 5,000 stored X posts (~20 s with seeding)")
async def run(kind: DbKind) -> list[Figure]:
    """Time one compliance run over 5,000 stored posts with 50 deleted and 50 edited."""
    async with temp_database(kind) as (_url, engine), FakeX() as x:
        sessions = session_factory(engine)
        source = XSource(
            api_url=x.api_url,
            bearer_token=x.bearer_token,
            api_key=x.api_key,
            api_secret="s",
            access_token=x.access_token,
            access_token_secret="s",
            user_id=x.brand.id,
        )
        await source.start()
        try:
            progress(f"{NAME}: seeding {POSTS} posts ({kind})")
            x.add_mentions(POSTS, authors=500)
            fetched = await source.fetch_since(None, not_before=datetime.now(UTC) - timedelta(1))
            ingest = build_ingest(Settings(_env_file=None), sessions=sessions, clock=_now)
            await ingest.ingest(source_key="x", mentions=fetched.mentions, cursor=fetched.cursor)
            ids = sorted(x.tweets)
            for tweet_id in ids[:CHANGED]:
                x.delete(tweet_id)
            for tweet_id in ids[CHANGED : 2 * CHANGED]:
                x.edit(tweet_id, "@acmehelp edited: my order is late")
            service = ComplianceService(
                sessions=sessions,
                clock=_now,
                sources=[source],
                interval=timedelta(hours=1),
                retention=timedelta(days=90),
                holder="bench",
            )
            asked = len(x.requests)
            started = time.perf_counter()
            result = await service.run_once()
            seconds = time.perf_counter() - started
            calls = len(x.requests) - asked
        finally:
            await source.close()
        async with sessions() as s:
            purged = await s.scalar(
                select(func.count()).select_from(Case).where(Case.content_removed == "deleted")
            )
    if result.checked != POSTS or result.removed.get("deleted") != CHANGED or purged != CHANGED:
        raise BenchmarkFailed(f"compliance found {result} ({purged} purged), not {CHANGED} each")
    if result.edited != CHANGED:
        raise BenchmarkFailed(f"compliance took {result.edited} edits, not {CHANGED}")
    return [
        Figure(NAME, "posts_checked", result.checked, "count"),
        Figure(NAME, "run_seconds", round(seconds, 2), "s", "< 60 s", seconds < 60),
        Figure(NAME, "posts_per_second", round(POSTS / seconds), "1/s"),
        Figure(
            NAME, "x_lookup_calls", calls, "count", f"{POSTS // 100 + 1}", calls <= POSTS // 100 + 1
        ),
    ]


def _now() -> datetime:
    return datetime.now(UTC)
