"""The benchmark code must not rot: run the ingest benchmark's core at a tiny size (no timing is
asserted; benchmarks are measurements, run with `python -m bench`, never as tests)."""

from __future__ import annotations

import io
import json

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import Figure, emit
from bench.ingest import figures, run_ingest

LINE_KEYS = {
    "bench",
    "metric",
    "value",
    "unit",
    "target",
    "ok",
    "cpus",
    "machine",
    "python",
    "command",
    "db",
}


async def test_ingest_benchmark_core_stores_and_posts_every_mention(engine: AsyncEngine) -> None:
    run = await run_ingest(mentions=50, engine=engine, concurrency=4)
    assert (run.mentions, run.cases, run.cards) == (50, 50, 50)
    assert run.total_seconds > 0
    found: list[Figure] = figures(run)
    out = io.StringIO()
    for figure in found:
        emit(figure, db="sqlite", out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == len(found)
    for line in lines:
        assert set(line) == LINE_KEYS
        assert line["bench"] == "ingest"
        assert line["command"] == "python -m bench ingest"
        assert line["ok"] in (True, False, None)
    assert {line["metric"] for line in lines} >= {
        "fetch_ingest_seconds",
        "delivery_seconds",
        "total_seconds",
        "mentions_per_second",
        "peak_rss",
    }
