"""Issues 4 and 12: 200 different agents press Claim on one card at once, against the running
bot, over HTTP and over Socket Mode.

Three processes, as in production: the bot (`python -m bot run --http`), the sandbox Slack and X
(`python -m bot.sandbox`, which also answers the bot's 199 "already claimed by …" messages), and
this one, which only sends the presses and times them. Each request is signed and serialised to
bytes before the clock starts, and all are written at once, each on its own socket, so the figure
is the bot's, not the client's (a Python HTTP client spends ~0.3 ms of its own per request, which
the last press would count). Two bursts, each on its own card: "warm", over connections opened
beforehand (a busy client keeps them alive; the target is judged on this one), and "cold", where
all 200 connections are opened at that moment. The latency is the time until the bot's HTTP
answer (its `ack()`), which Slack needs within 3 s. Reported per burst: p50 and p99 (target p99
< 100 ms), how many answers were 200 within 3 s, that exactly one agent became the owner, that
every other agent was told who it is, and how long until all of that was done; and the median of
20 presses made one at a time (made first: the bot's first request pays for Bolt's auth.test,
and every request that arrives before that answer makes its own call, so a burst right after a
restart is answered ~150 ms later, once).

Then the same against `python -m bot run --health-port P` in Socket Mode, connected to the sandbox
Slack's WebSocket: five bursts of 200 presses sent at once as `interactive` envelopes on that
connection (serialised before the first is sent), each timed by the fake Slack from its send to
the bot's ack, as Slack would time it; and 20 presses one at a time. The target is the same.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from asyncio import StreamReader, StreamWriter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from bench.common import (
    BenchmarkFailed,
    DbKind,
    Figure,
    poll,
    progress,
    register,
    temp_database,
)
from bot.blocks.ids import ActionId
from bot.sandbox.server import RemoteSandbox, remote_sandbox
from bot.sandbox.simulator import signed_headers
from storage.engine import session_factory
from storage.models import Case
from tests.processes import bot_process

NAME = "ack_latency"
PRESSES = 200
ALONE = 20
# Several bursts, each on its own card: one burst is one sample of a noisy machine, and the
# median burst is what the target is judged on (the worst is reported beside it).
WARM_BURSTS = 5
# Time for the previous burst's claims and ephemerals to settle, as between real bursts.
BURST_GAP_SECONDS = 1.0
SETTLE_SECONDS = 0.5
TARGET_P99_MS = 100.0


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _http_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """Return one HTTP/1.1 POST as bytes, serialised before the clock starts."""
    target = urlsplit(url)
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"Host: {target.netloc}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _press(
    url: str, request: bytes, connection: tuple[StreamReader, StreamWriter] | None = None
) -> tuple[int, float]:
    """Send one prepared request (over `connection` if open) and time it until the answer."""
    started = time.perf_counter()
    if connection is None:
        target = urlsplit(url)
        connection = await asyncio.open_connection(target.hostname, target.port)
    reader, writer = connection
    writer.write(request)
    # The answer is complete when its Content-Length bytes are in, as for Slack; when the bot then
    # closes the connection is not part of it.
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    elapsed = time.perf_counter() - started
    writer.close()
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, elapsed


async def _wait(
    box: RemoteSandbox, done: Callable[[dict[str, Any]], bool], what: str, seconds: float = 30.0
) -> dict[str, Any]:
    stats = await poll(box.slack_stats, done, seconds=seconds)
    if not done(stats):
        raise BenchmarkFailed(f"timed out after {seconds:.0f}s waiting for {what}")
    return stats


@dataclass(slots=True)
class Burst:
    """One burst of presses on one card: each press's (status, seconds) and the time to done."""

    presses: list[tuple[int, float]]
    all_done: float
    owner: str | None = None
    told: int = 0


async def _burst(
    box: RemoteSandbox, url: str, secret: str, card_ts: str, crowd: list[str], *, warm: bool
) -> Burst:
    bodies = await box.click_bodies(ts=card_ts, action_id=ActionId.CLAIM, users=crowd)
    requests = [_http_request(url, body, signed_headers(secret, body)) for body in bodies]
    before = len((await box.slack_stats())["ephemerals"])
    connections: list[tuple[StreamReader, StreamWriter] | None] = [None] * len(requests)
    if warm:  # connections open before the press, as a client's keep-alive pool holds them
        target = urlsplit(url)
        connections = [
            await asyncio.open_connection(target.hostname, target.port) for _ in requests
        ]
        # Let the bot accept them all first: a pool's connections were accepted long ago. Sent
        # at once, the first presses queued behind 200 accepts (p99 200-300 ms, first burst only).
        await asyncio.sleep(SETTLE_SECONDS)
    started = time.perf_counter()
    presses = await asyncio.gather(
        *(
            _press(url, request, connection)
            for request, connection in zip(requests, connections, strict=True)
        )
    )
    await _wait(
        box,
        lambda s: len(s["ephemerals"]) - before >= len(crowd) - 1,
        f"{len(crowd) - 1} 'already claimed' messages",
    )
    return Burst(presses=presses, all_done=time.perf_counter() - started)


async def _socket_burst(box: RemoteSandbox, card_ts: str, crowd: list[str]) -> Burst:
    before = len((await box.slack_stats())["ephemerals"])
    started = time.perf_counter()
    acks = await box.socket_clicks(ts=card_ts, action_id=ActionId.CLAIM, users=crowd)
    await _wait(
        box,
        lambda s: len(s["ephemerals"]) - before >= len(crowd) - 1,
        f"{len(crowd) - 1} 'already claimed' messages",
    )
    return Burst(
        presses=[(200 if acked else 0, elapsed) for acked, elapsed in acks],
        all_done=time.perf_counter() - started,
    )


async def _socket_mode(
    box: RemoteSandbox, env: dict[str, str], tmp: Path, db: DbKind, cards: list[str], solo_card: str
) -> tuple[dict[str, Burst], list[tuple[int, float]]]:
    """Run the Socket Mode half: the bot in its own process, the presses sent by the fake Slack."""
    kinds = [f"socket{n}" for n in range(len(cards))]
    async with bot_process(env, cwd=tmp, log=tmp / "bot-socket.log", socket_mode=True):
        await poll(box.socket_state, lambda s: s["open"] >= 1, seconds=30)
        solo = [f"U0SOCKSOLO{i:03d}" for i in range(ALONE)]
        before = len((await box.slack_stats())["ephemerals"])
        acks = await box.socket_clicks(
            ts=solo_card, action_id=ActionId.CLAIM, users=solo, one_at_a_time=True
        )
        alone = [(200 if acked else 0, elapsed) for acked, elapsed in acks]
        await _wait(box, lambda s: len(s["ephemerals"]) - before >= ALONE - 1, "the solo presses")
        bursts: dict[str, Burst] = {}
        for kind, card_ts in zip(kinds, cards, strict=True):
            progress(f"{NAME} [{db}]: {PRESSES} agents press Claim at once over Socket Mode")
            crowd = [f"U0{kind.upper()}X{i:03d}" for i in range(PRESSES)]
            burst = bursts[kind] = await _socket_burst(box, card_ts, crowd)
            latencies_ms = [elapsed * 1000 for _, elapsed in burst.presses]
            progress(
                f"{NAME} [{db}]: {kind}: p50 {_percentile(latencies_ms, 0.5):.0f} ms, "
                f"p99 {_percentile(latencies_ms, 0.99):.0f} ms"
            )
            await asyncio.sleep(BURST_GAP_SECONDS)
        state = await box.socket_state()
    if state["protocol_errors"]:
        raise BenchmarkFailed(f"Socket Mode protocol errors: {state['protocol_errors'][:3]}")
    return bursts, alone


@register(
    NAME,
    summary=f"{WARM_BURSTS + 1} bursts of {PRESSES} Claim presses over HTTP, {WARM_BURSTS} over "
    "Socket Mode (~40 s)",
)
async def run(db: DbKind) -> list[Figure]:
    """Press Claim 200 times at once, several times, and report ack latency and the winners."""
    kinds = [f"warm{n}" for n in range(WARM_BURSTS)] + ["cold"]
    with TemporaryDirectory(prefix="carebot-ack-") as tmp:
        async with temp_database(db) as (url, engine), remote_sandbox() as box:
            # Cards for both halves: the HTTP bursts and solo presses, then Socket Mode's.
            total = len(kinds) + 1 + WARM_BURSTS + 1
            await box.add_mentions(total)
            env = {**box.environment, "DATABASE_URL": url, "CAREBOT_POLL_INTERVAL": "1s"}
            secret = env["SLACK_SIGNING_SECRET"]
            async with bot_process(env, cwd=Path(tmp), log=Path(tmp) / "bot.log") as bot:
                await _wait(box, lambda s: s["cards"] == total, "the cards")
                every_card = [m["ts"] for m in await box.slack_messages() if m["metadata"]]
                *cards, solo_card = every_card[: len(kinds) + 1]
                *socket_cards, socket_solo = every_card[len(kinds) + 1 :]
                # One press at a time first: this is also the bot's first request, which makes
                # Bolt ask Slack who the bot is (auth.test) before the bursts are timed.
                solo = [f"U0SOLO{i:03d}" for i in range(ALONE)]
                bodies = await box.click_bodies(ts=solo_card, action_id=ActionId.CLAIM, users=solo)
                alone = [
                    await _press(
                        bot.events_url,
                        _http_request(bot.events_url, body, signed_headers(secret, body)),
                    )
                    for body in bodies
                ]
                await _wait(box, lambda s: len(s["ephemerals"]) == ALONE - 1, "the solo presses")
                bursts: dict[str, Burst] = {}
                for kind, card_ts in zip(kinds, cards, strict=True):
                    progress(f"{NAME} [{db}]: {PRESSES} agents press Claim at once ({kind})")
                    crowd = [f"U0{kind.upper()}X{i:03d}" for i in range(PRESSES)]
                    burst = bursts[kind] = await _burst(
                        box, bot.events_url, secret, card_ts, crowd, warm=kind != "cold"
                    )
                    latencies_ms = [elapsed * 1000 for _, elapsed in burst.presses]
                    progress(
                        f"{NAME} [{db}]: {kind}: p50 {_percentile(latencies_ms, 0.5):.0f} ms, "
                        f"p99 {_percentile(latencies_ms, 0.99):.0f} ms"
                    )
                    await asyncio.sleep(BURST_GAP_SECONDS)
            socket_bursts, socket_alone = await _socket_mode(
                box, env, Path(tmp), db, socket_cards, socket_solo
            )
            stats = await box.slack_stats()
            async with session_factory(engine)() as s:
                owners = dict((await s.execute(select(Case.card_ts, Case.owner))).tuples().all())
    for kind, card_ts in zip(kinds, cards, strict=True):
        _check_burst(kind, bursts[kind], owners.get(card_ts), stats["ephemerals"])
    for kind, card_ts in zip(socket_bursts, socket_cards, strict=True):
        _check_burst(kind, socket_bursts[kind], owners.get(card_ts), stats["ephemerals"])
    if stats["violations"]:
        raise BenchmarkFailed(f"Slack API misuse: {stats['violations']}")
    return _figures(bursts, alone) + _socket_figures(socket_bursts, socket_alone)


def _check_burst(
    kind: str, burst: Burst, owner: str | None, ephemerals: list[dict[str, str]]
) -> None:
    """Fail unless exactly one of the burst's agents owns its card and all the others were told."""
    prefix = f"U0{kind.upper()}X"
    if owner is None or not owner.startswith(prefix):
        raise BenchmarkFailed(f"{kind}: expected one owner from the crowd, found {owner}")
    burst.owner = owner
    burst.told = sum(
        1 for e in ephemerals if e["user"].startswith(prefix) and f"<@{owner}>" in e["text"]
    )
    if burst.told != PRESSES - 1:
        raise BenchmarkFailed(f"{kind}: {burst.told} of {PRESSES - 1} losers told the owner")


def _figures(bursts: dict[str, Burst], alone: list[tuple[int, float]]) -> list[Figure]:
    def p(burst: Burst, fraction: float) -> float:
        return _percentile([elapsed * 1000 for _, elapsed in burst.presses], fraction)

    warm = sorted((b for kind, b in bursts.items() if kind != "cold"), key=lambda b: p(b, 0.99))
    median, worst, cold = warm[len(warm) // 2], warm[-1], bursts["cold"]
    presses = [press for burst in bursts.values() for press in burst.presses]
    acked = sum(1 for status, elapsed in presses if status == 200 and elapsed < 3.0)
    p99 = p(median, 0.99)
    return [
        Figure(NAME, "p50_ack_ms", round(p(median, 0.5), 1), "ms (median warm burst)"),
        Figure(
            NAME,
            "p99_ack_ms",
            round(p99, 1),
            f"ms (median of {len(warm)} warm bursts)",
            f"< {TARGET_P99_MS:.0f}",
            p99 < TARGET_P99_MS,
        ),
        Figure(NAME, "p99_ack_ms_worst_burst", round(p(worst, 0.99), 1), "ms (worst warm burst)"),
        Figure(NAME, "p50_ack_ms_cold", round(p(cold, 0.5), 1), "ms (fresh connections)"),
        Figure(NAME, "p99_ack_ms_cold", round(p(cold, 0.99), 1), "ms (fresh connections)"),
        Figure(
            NAME,
            "acked_200_within_3s",
            acked,
            "presses",
            f"= {len(presses)}",
            acked == len(presses),
        ),
        Figure(NAME, "bursts_with_one_owner", len(bursts), "bursts", f"= {len(bursts)}", True),
        Figure(
            NAME,
            "losers_told_owner",
            sum(b.told for b in bursts.values()),
            "ephemerals",
            f"= {len(bursts) * (PRESSES - 1)}",
            True,
        ),
        Figure(
            NAME,
            "all_done_ms",
            round(statistics.median(b.all_done for b in bursts.values()) * 1000),
            "ms (median burst: claim, card, 199 ephemerals)",
        ),
        Figure(
            NAME,
            "p50_ack_ms_one_at_a_time",
            round(statistics.median(elapsed * 1000 for _, elapsed in alone), 1),
            "ms",
        ),
    ]


def _socket_figures(bursts: dict[str, Burst], alone: list[tuple[int, float]]) -> list[Figure]:
    def p(burst: Burst, fraction: float) -> float:
        return _percentile([elapsed * 1000 for _, elapsed in burst.presses], fraction)

    ordered = sorted(bursts.values(), key=lambda b: p(b, 0.99))
    median, worst = ordered[len(ordered) // 2], ordered[-1]
    presses = [press for burst in ordered for press in burst.presses]
    acked = sum(1 for status, elapsed in presses if status == 200 and elapsed < 3.0)
    p99 = p(median, 0.99)
    return [
        Figure(NAME, "socket_p50_ack_ms", round(p(median, 0.5), 1), "ms (median burst)"),
        Figure(
            NAME,
            "socket_p99_ack_ms",
            round(p99, 1),
            f"ms (median of {len(ordered)} bursts over Socket Mode)",
            f"< {TARGET_P99_MS:.0f}",
            p99 < TARGET_P99_MS,
        ),
        Figure(NAME, "socket_p99_ack_ms_worst_burst", round(p(worst, 0.99), 1), "ms"),
        Figure(
            NAME,
            "socket_acked_within_3s",
            acked,
            "presses",
            f"= {len(presses)}",
            acked == len(presses),
        ),
        Figure(
            NAME,
            "socket_losers_told_owner",
            sum(b.told for b in ordered),
            "ephemerals",
            f"= {len(ordered) * (PRESSES - 1)}",
            True,
        ),
        Figure(
            NAME,
            "socket_all_done_ms",
            round(statistics.median(b.all_done for b in ordered) * 1000),
            "ms (median burst: claim, card, 199 ephemerals)",
        ),
        Figure(
            NAME,
            "socket_p50_ack_ms_one_at_a_time",
            round(statistics.median(elapsed * 1000 for _, elapsed in alone), 1),
            "ms",
        ),
    ]
