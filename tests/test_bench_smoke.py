"""The benchmark code must not rot: run the ingest benchmark's core at a tiny size (no timing is
asserted; benchmarks are measurements, run with `python -m bench`, never as tests)."""

from __future__ import annotations

import io
import json
from pathlib import Path

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


async def test_networks_benchmarks_core_at_a_tiny_size(engine: AsyncEngine, tmp_path: Path) -> None:
    from bench.networks import latency_figures, run_latency, run_networks_ingest

    run = await run_networks_ingest(per_network=30, engine=engine)
    assert run.cases == 90
    url = f"sqlite+aiosqlite:///{tmp_path / 'latency.db'}"
    found = await run_latency(per_network=2, poll_seconds=1.0, database_url=url)
    assert {network: len(values) for network, values in found.items()} == {
        "x": 2,
        "bluesky": 2,
        "mastodon": 2,
    }
    metrics = {f.metric for f in latency_figures(found, poll_seconds=1.0)}
    assert {"x_p50", "bluesky_p99", "mastodon_p50"} <= metrics
