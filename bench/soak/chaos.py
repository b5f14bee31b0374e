"""The soak's fault schedule: what goes wrong, when (drawn from the seed), and how it heals.

Faults play one at a time, so a SIGKILLed replica never restarts into another fault's window.
Besides the kills: Slack outages and 429 storms, a revoked bot token, 5xx from every network
(X, Bluesky, Mastodon), and on X 429s and timeouts. A timeout is X holding the connection open
without a word for longer than the bot's client waits (`X_CLIENT_TIMEOUT`), as a slow server
does; a post created meanwhile is stored and answered too late, the case where the bot cannot
tell whether it posted. `watch` notes when each card appears and samples each replica's memory
while the run lasts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bench.soak.people import Soak

# XSource's default: aiohttp's total timeout on every call to X.
X_CLIENT_TIMEOUT = 15.0
# Past the client's timeout, and short of X_REPLY_VISIBLE_AFTER (30 s): a post held this long is
# stored before the bot may decide, from X's timeline, that it was never posted.
X_STALL = X_CLIENT_TIMEOUT + 5.0


async def chaos(soak: Soak) -> None:
    """Play faults from the seed until the fault window ends, then heal everything."""
    end = soak.args.fault_seconds
    kinds: list[tuple[str, Callable[[Soak], Awaitable[None]]]] = [
        ("slack_outage", _slack_outage),
        ("slack_429_storm", _slack_429),
        ("network_5xx", _network_5xx),
        ("x_429", _x_429),
        ("x_timeout", _x_timeout),
        ("token_revoked", _revoke),
    ]
    # A short run still meets every kind: the first ones are a shuffled deck, then chance.
    deck = list(kinds)
    soak.fault_rng.shuffle(deck)
    next_kill = soak.fault_rng.uniform(30, 90)
    while soak.elapsed() < end:
        await asyncio.sleep(soak.fault_rng.uniform(10, 30))
        if soak.elapsed() >= end:
            break
        if soak.elapsed() >= next_kill:
            await _kill(soak)
            next_kill = soak.elapsed() + soak.fault_rng.uniform(90, 180)
            continue
        name, fault = deck.pop() if deck else soak.fault_rng.choice(kinds)
        soak.faults[name] += 1
        await fault(soak)
    _heal(soak)
    soak.faults_over.set()
    soak.note("faults over; the load stops and the system must settle")


async def _kill(soak: Soak) -> None:
    replica = soak.fault_rng.choice(soak.replicas)
    soak.faults["kill"] += 1
    soak.note(f"SIGKILL replica {replica.slot}")
    replica.kill()
    if replica.proc is not None:
        await replica.proc.wait()
    await asyncio.sleep(soak.fault_rng.uniform(1, 8))
    replica.restarts += 1
    await replica.start()
    soak.note(f"replica {replica.slot} restarted")


async def _slack_outage(soak: Soak) -> None:
    seconds = soak.fault_rng.uniform(5, 30)
    soak.note(f"Slack outage for {seconds:.0f}s")
    soak.stack.slack.start_outage()
    await asyncio.sleep(seconds)
    soak.stack.slack.end_outage()


async def _slack_429(soak: Soak) -> None:
    soak.note("Slack 429 storm on chat.postMessage and chat.update")
    for method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
        soak.stack.slack.fail_next(method, status=429, error="ratelimited", count=8)
    await asyncio.sleep(5)


async def _network_5xx(soak: Soak) -> None:
    seconds = soak.fault_rng.uniform(5, 25)
    soak.note(f"X answers 503 and Bluesky 502 for {seconds:.0f}s; Mastodon 503 to 10 requests")
    soak.stack.x.outage(503)
    soak.stack.bluesky.outage(502)
    soak.stack.mastodon.fail_next("/api/v1/", status=503, count=10)
    await asyncio.sleep(seconds)
    soak.stack.x.end_outage()
    soak.stack.bluesky.end_outage()


async def _x_429(soak: Soak) -> None:
    soak.note("X answers 429 to the next mention polls")
    soak.stack.x.fail_next("/2/users", 429, count=3, reset_in=5)
    await asyncio.sleep(5)


async def _x_timeout(soak: Soak) -> None:
    seconds = soak.fault_rng.uniform(20, 45)
    soak.note(
        f"X holds every request {X_STALL:.0f}s (past the client's timeout) for {seconds:.0f}s"
    )
    # FakeX.latency holds the connection open and then serves the request as usual: no error,
    # just silence until the client gives up (a post created meanwhile is stored, unanswered).
    soak.stack.x.latency = X_STALL
    await asyncio.sleep(seconds)
    soak.stack.x.latency = 0.0
    soak.note("X answers promptly again")


async def _revoke(soak: Soak) -> None:
    soak.note("the bot token is revoked for a minute")
    soak.stack.slack.revoke_token()
    await asyncio.sleep(60 if soak.args.minutes >= 10 else 15)
    soak.stack.slack.valid_tokens.add(soak.stack.slack.bot_token)
    soak.note("the bot token works again")


def _heal(soak: Soak) -> None:
    soak.stack.slack.end_outage()
    soak.stack.x.end_outage()
    soak.stack.bluesky.end_outage()
    soak.stack.x.latency = 0.0
    soak.stack.slack.valid_tokens.add(soak.stack.slack.bot_token)


async def watch(soak: Soak) -> None:
    """Note when each card first appears, and sample each replica's memory."""
    last_rss = 0.0
    while not soak.done.is_set():
        now = time.monotonic()
        for message in soak.cards():
            case_id = (message.metadata.get("event_payload") or {}).get("case_id")
            if isinstance(case_id, int) and case_id not in soak.card_seen:
                soak.card_seen[case_id] = now
        if now - last_rss >= 5:
            last_rss = now
            for replica in soak.replicas:
                replica.sample_rss()
        await asyncio.sleep(0.25)
