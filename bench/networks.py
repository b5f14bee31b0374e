"""Issue 16: the networks at once. `ingest_networks`: 3,000 mentions on each of the sandbox X,
Bluesky and Mastodon (in a process of their own), polled by the three real sources at the same
time, stored and posted as cards; the target is 1,000 mentions/s in total, as for X alone.
`latency`: mentions posted at random moments on each network, timed from the post to its card
in the sandbox Slack, p50 and p99 per network at the default poll interval (Mastodon streams;
X and Bluesky are polled, so about half the interval is expected).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import (
    BenchmarkFailed,
    DbKind,
    Figure,
    ingest_service,
    progress,
    register,
    temp_database,
)
from bot.app import build_slack_client
from bot.clock import utc_now
from bot.delivery import DeliveryService
from bot.pacing import ChannelPacer
from bot.poller import Poller
from bot.sandbox.server import remote_sandbox
from bot.sandbox.stack import Sandbox, running_bot, sandbox
from bot.settings import Settings
from bot.sources.base import Source
from bot.sources.bluesky import BlueskySource
from bot.sources.mastodon import MastodonSource
from bot.sources.x import XSource
from storage.engine import session_factory
from storage.models import Case

INGEST = "ingest_networks"
LATENCY = "latency"
PER_NETWORK = 3_000
TARGET_PER_SECOND = 1_000.0
NETWORKS = ("x", "bluesky", "mastodon")


@dataclass(frozen=True, slots=True)
class NetworksRun:
    """What one three-network ingest measured."""

    per_network: int
    fetch_ingest_seconds: float
    delivery_seconds: float
    cases: int

    @property
    def total(self) -> int:
        """Mentions across the three networks."""
        return self.per_network * len(NETWORKS)

    @property
    def per_second(self) -> float:
        """Mentions per second end to end (poll, store, card)."""
        seconds = self.fetch_ingest_seconds + self.delivery_seconds
        return self.total / seconds if seconds else 0.0


async def run_networks_ingest(*, per_network: int, engine: AsyncEngine) -> NetworksRun:
    """Push `per_network` mentions from each sandbox network through the real sources, pollers,
    ingest and delivery into `engine`'s empty database; raise unless each became one case."""
    sessions = session_factory(engine)
    async with remote_sandbox() as box:
        environment: dict[str, Any] = {**box.environment, "DATABASE_URL": "sqlite://"}
        settings = Settings(_env_file=None, **environment)
        for network in NETWORKS:
            await box.add_network_mentions(network, per_network)
        env = box.environment
        sources: list[Source] = [
            XSource(
                api_url=box.x_api_url,
                bearer_token=env["X_BEARER_TOKEN"],
                api_key=None,
                api_secret=None,
                access_token=None,
                access_token_secret=None,
                user_id=box.x_brand_id,
                timeout=120.0,
            ),
            BlueskySource(
                api_url=box.bluesky_api_url,
                handle=env["BLUESKY_HANDLE"],
                app_password=env["BLUESKY_APP_PASSWORD"],
                sessions=sessions,
                timeout=120.0,
            ),
            MastodonSource(
                api_base_url=box.mastodon_api_url,
                access_token=env["MASTODON_ACCESS_TOKEN"],
                timeout=120.0,
            ),
        ]
        for source in sources:
            await source.start()
        http = aiohttp.ClientSession()
        try:
            ingest = ingest_service(sessions, settings)

            async def notify(text: str) -> None:
                raise BenchmarkFailed(f"a poller reported a problem: {text}")

            pollers = [
                Poller(
                    source=source,
                    ingest=ingest,
                    sessions=sessions,
                    clock=utc_now,
                    notify=notify,
                    backfill=timedelta(hours=1),
                    interval=settings.poll_interval,
                    holder="bench",
                )
                for source in sources
            ]
            delivery = DeliveryService(
                sessions=sessions,
                slack=build_slack_client(settings, retries=False, session=http),
                channel=box.channel,
                clock=utc_now,
                pacer=ChannelPacer(per_second=None),
                concurrency=8,
                holder="bench",
            )
            progress(f"{INGEST}: polling {per_network:,} mentions on each of {', '.join(NETWORKS)}")
            started = time.perf_counter()
            await asyncio.gather(*(p.run_once() for p in pollers))
            fetched = time.perf_counter()
            await delivery.run_once()
            done = time.perf_counter()
        finally:
            await http.close()
            for source in sources:
                await source.close()
        async with sessions() as s:
            rows = await s.execute(select(Case.network, func.count()).group_by(Case.network))
            counts = {str(network): int(n) for network, n in rows}
        if counts != {network: per_network for network in NETWORKS}:
            raise BenchmarkFailed(f"cases per network {counts}, expected {per_network} each")
        stats = await box.slack_stats()
        if stats["cards"] != per_network * len(NETWORKS) or stats["violations"]:
            raise BenchmarkFailed(f"cards in Slack: {stats['cards']}; {stats['violations'][:1]}")
    return NetworksRun(
        per_network=per_network,
        fetch_ingest_seconds=fetched - started,
        delivery_seconds=done - fetched,
        cases=sum(counts.values()),
    )


@register(INGEST, summary="3 x 3,000 mentions: X, Bluesky, Mastodon polled at once → cards")
async def bench_networks_ingest(db: DbKind) -> list[Figure]:
    """Run the three-network ingest on a fresh database of kind `db`."""
    async with temp_database(db) as (_url, engine):
        run = await run_networks_ingest(per_network=PER_NETWORK, engine=engine)
    progress(f"{INGEST} [{db}]: {run.per_second:,.0f} mentions/s end to end")
    target = f">= {TARGET_PER_SECOND:,.0f}/s"
    return [
        Figure(INGEST, "mentions", run.total, "count"),
        Figure(INGEST, "fetch_ingest_seconds", round(run.fetch_ingest_seconds, 3), "s"),
        Figure(INGEST, "delivery_seconds", round(run.delivery_seconds, 3), "s"),
        Figure(
            INGEST,
            "mentions_per_second",
            round(run.per_second, 1),
            "mentions/s",
            target,
            run.per_second >= TARGET_PER_SECOND,
        ),
        Figure(INGEST, "cases", run.cases, "count", f"== {run.total}", True),
    ]


# -- latency -------------------------------------------------------------------------------------


def _post(stack: Sandbox, network: str, number: int) -> str:
    """Post mention `number` on `network`; return what its card's link contains."""
    if network == "x":
        tweet = stack.x.add_mention(f"@acmehelp latency {number}", author_handle=f"lat{number}")
        return f"/status/{tweet.id}"
    if network == "bluesky":
        post = stack.bluesky.add_mention(f"latency {number}", author_handle=f"lat{number}")
        return f"/post/{post.rkey}"
    status = stack.mastodon.add_mention(f"latency {number}", author=f"lat{number}@social.example")
    return f"/{status.id}"


async def run_latency(
    *, per_network: int, poll_seconds: float, database_url: str, seed: int = 16
) -> dict[str, list[float]]:
    """Post `per_network` mentions per network at random moments over two poll intervals and
    return, per network, the seconds from each post to its card."""
    rng = random.Random(seed)
    spread = 2 * poll_seconds
    plan = sorted(
        (rng.uniform(0, spread), network, n) for network in NETWORKS for n in range(per_network)
    )
    async with sandbox(networks=NETWORKS) as stack:
        settings = stack.settings(database_url, poll_interval=f"{poll_seconds:g}s")
        async with running_bot(settings):
            # Time only once Mastodon's stream is open and the first polls are done: a mention
            # posted before would be measured against start-up, not against the bot at work.
            await stack.slack.wait_for(lambda: stack.mastodon.stream_count >= 1, timeout=60)
            await asyncio.sleep(2)
            waiting: dict[str, tuple[str, float]] = {}
            found: dict[str, list[float]] = {network: [] for network in NETWORKS}

            def scan() -> None:
                for message in stack.slack.channel_messages(stack.channel):
                    if not message.metadata:
                        continue
                    shown = str(message.blocks)
                    for link, (network, at) in list(waiting.items()):
                        if link in shown:
                            found[network].append(time.monotonic() - at)
                            del waiting[link]

            watcher_stop = asyncio.Event()

            async def watch(stop: Callable[[], bool]) -> None:
                while not stop():
                    scan()
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch(watcher_stop.is_set))
            start = time.monotonic()
            for at, network, n in plan:
                await asyncio.sleep(max(0.0, start + at - time.monotonic()))
                number = NETWORKS.index(network) * 100_000 + n
                waiting[_post(stack, network, number)] = (network, time.monotonic())
            deadline = time.monotonic() + 3 * poll_seconds + 30
            while waiting and time.monotonic() < deadline:  # noqa: ASYNC110 (Slack is polled)
                await asyncio.sleep(0.1)
            watcher_stop.set()
            await watcher
            if waiting:
                raise BenchmarkFailed(f"{len(waiting)} mention(s) never got a card")
    return found


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def latency_figures(found: dict[str, list[float]], *, poll_seconds: float) -> list[Figure]:
    """Return p50 and p99 per network, judged against the issue's targets."""
    out: list[Figure] = []
    for network, values in found.items():
        p50, p99 = statistics.median(values), _percentile(values, 0.99)
        if network == "mastodon":
            target, ok = "p50 < 2 s (streamed)", p50 < 2.0
        else:
            limit = 0.6 * poll_seconds
            target, ok = f"p50 <= {limit:g} s (about half the poll interval)", p50 <= limit
        out.append(Figure(LATENCY, f"{network}_p50", round(p50, 2), "s", target, ok))
        out.append(Figure(LATENCY, f"{network}_p99", round(p99, 2), "s"))
        out.append(Figure(LATENCY, f"{network}_mentions", len(values), "count"))
    return out


@register(
    LATENCY,
    summary="mention → card p50/p99 per network at the default 60 s poll (~3 min)",
    per_database=False,
)
async def bench_latency(db: DbKind) -> list[Figure]:
    """Time mention → card on each network with the default settings."""
    poll_seconds = Settings(_env_file=None).poll_interval.total_seconds()
    async with temp_database(db) as (url, _engine):
        found = await run_latency(per_network=20, poll_seconds=poll_seconds, database_url=url)
    for network, values in found.items():
        progress(f"{LATENCY}: {network} p50 {statistics.median(values):.2f}s")
    return latency_figures(found, poll_seconds=poll_seconds)


__all__ = ["latency_figures", "run_latency", "run_networks_ingest"]
