"""Restart after a crash: the bot (its own process, CAREBOT_POLL_INTERVAL=2s) is SIGKILLed while
it holds the polling and delivery leases, a mention arrives while it is dead, and a new process
is started. Measured from the moment the new process is launched: its first poll of X and the
card for that mention in Slack, each against one poll interval + 2 s. Before issue 14 the new
process waited for the dead one's leases to lapse (60 s for polling, 20 s for delivery).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import BenchmarkFailed, DbKind, Figure, progress, register, temp_database
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox, sandbox
from tests.processes import bot_process

NAME = "restart"
POLL_SECONDS = 2.0
TARGET = POLL_SECONDS + 2.0


def _cards(stack: Sandbox) -> list[StoredMessage]:
    return [m for m in stack.slack.channel_messages(stack.channel) if m.metadata]


async def _watch(stack: Sandbox, tweet_id: str, polls_before: int) -> tuple[float, float]:
    """Return when X was next polled and when the tweet's card appeared (perf_counter)."""
    polled: float | None = None
    while True:
        now = time.perf_counter()
        if polled is None and stack.x.mention_requests > polls_before:
            polled = now
        if polled is not None and any(tweet_id in str(m.blocks) for m in _cards(stack)):
            return polled, now
        await asyncio.sleep(0.005)


async def measure(db: DbKind) -> dict[str, float]:
    """Crash and restart the bot once; return the seconds from launch to each milestone."""
    with tempfile.TemporaryDirectory(prefix="carebot-restart-") as tmp:
        async with temp_database(db) as (url, _engine), sandbox() as stack:
            env = stack.environment(url, CAREBOT_POLL_INTERVAL=f"{POLL_SECONDS:g}s")
            log = Path(tmp) / "bot.log"
            first = stack.x.add_mention("@acmehelp before the crash", author_handle="early")
            async with bot_process(env, cwd=Path(tmp), log=log) as bot:

                def carded() -> bool:
                    return any(first.id in str(m.blocks) for m in _cards(stack))

                await stack.slack.wait_for(carded, timeout=30)
                bot.proc.kill()
                await bot.proc.wait()
            progress(f"{NAME} [{db}]: killed the bot holding both leases; restarting")
            late = stack.x.add_mention("@acmehelp while it was down", author_handle="late")
            polls = stack.x.mention_requests
            launched = time.perf_counter()
            watch = asyncio.create_task(_watch(stack, late.id, polls))
            async with bot_process(env, cwd=Path(tmp), log=log) as bot:
                healthy = time.perf_counter()
                polled, carded_at = await asyncio.wait_for(watch, timeout=90)
            if len(_cards(stack)) != 2:
                raise BenchmarkFailed(f"expected 2 cards, found {len(_cards(stack))}")
    return {
        "healthy": healthy - launched,
        "first_poll": polled - launched,
        "first_card": carded_at - launched,
    }


@register(NAME, summary="SIGKILL the bot, restart it: launch → first poll, first card (~15 s)")
async def bench_restart(db: DbKind) -> list[Figure]:
    """Run the benchmark on a fresh database of kind `db`."""
    run = await measure(db)
    progress(
        f"{NAME} [{db}]: healthy after {run['healthy']:.2f} s, first poll {run['first_poll']:.2f}"
        f" s, first card {run['first_card']:.2f} s"
    )
    target = f"<= {TARGET:g} (poll interval {POLL_SECONDS:g} s + 2 s)"
    return [
        Figure(NAME, "restart_to_healthy", round(run["healthy"], 2), "s (process start-up)"),
        Figure(
            NAME,
            "restart_to_first_poll",
            round(run["first_poll"], 2),
            "s",
            target,
            run["first_poll"] <= TARGET,
        ),
        Figure(
            NAME,
            "restart_to_first_card",
            round(run["first_card"], 2),
            "s",
            target,
            run["first_card"] <= TARGET,
        ),
    ]
