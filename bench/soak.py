"""Issue 18: the chaos soak. Several real `carebot run --http` replicas on one database, Slack's
requests spread over them by a round-robin proxy, the sandbox Slack and X misbehaving on a
schedule drawn from a seed, and a steady load of customers, agents and leads on top. At the end,
invariants are checked from what the fakes recorded and from the database.

`python -m bench soak [--minutes N] [--replicas K] [--database sqlite|postgres] [--seed S]`
(`make soak`). PostgreSQL needs `CAREBOT_BENCH_POSTGRES_URL` (its `public` schema is dropped).

Processes: this one hosts the fakes, the proxy, the simulated people and the fault schedule; each
replica is its own process, SIGKILLed now and then and started again on the same port, as a
deploy or a crash would. The proxy behaves like a load balancer: a replica that refuses the
connection is skipped (nothing was sent), one that dies mid-request costs that request a 502,
which Slack answers by retrying (`X-Slack-Retry-Num`) — so does the simulated Slack here.

The invariants (a failure prints `INVARIANT <name>: <case>` and the run exits 1):
- one-card: every case has exactly one card in the channel, and every mention has a case;
- one-post: every reply submission made at most one post on X;
- reply-shown: every reply X accepted shows in its card's thread;
- nag-once: no nag line appears twice in one card's thread;
- settled: a minute after the faults stop, no reply is pending, no card unposted, none dirty;
- acked: every Slack request was answered 200 within 3 s (requests cut by a SIGKILL are counted
  apart: Slack retries those, and the retry must be answered in time);
- memory: each replica that lived long enough kept a flat resident set (last third vs second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bench.common import POSTGRES_ENV, _reset_postgres, machine, progress
from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.domain import ResolveReason
from bot.sandbox.simulator import SimResponse, SlackSimulator, form_body
from bot.sandbox.stack import SOURCE_ROOT, Sandbox, free_port, sandbox
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import CardState, Case, CaseMessage, Reply, ReplyState

AGENTS = ["U0SOAKA1", "U0SOAKA2", "U0SOAKA3", "U0SOAKA4"]
LEAD = "U0SOAKLD"
ACK_LIMIT = 3.0
# Slack retries a request that got no 200 three times (after ~1 s, ~1 min, ~5 min); the soak
# retries sooner so a run stays short, with the same header.
SLACK_RETRIES = 3
RETRY_DELAY = 1.0
QUIET_SECONDS = 60.0
SETTLE_SECONDS = 60.0
MEMORY_GROWTH_LIMIT_MIB = 25.0
MEMORY_GROWTH_LIMIT = 0.25


@dataclass(slots=True)
class Violation:
    """One broken invariant, naming what it broke on."""

    invariant: str
    detail: str


@dataclass(slots=True)
class Replica:
    """One `carebot run --http` process, restartable on the same port."""

    slot: int
    port: int
    env: dict[str, str]
    log: Path
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    kills: int = 0
    rss: list[list[tuple[float, float]]] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        """Start the process and wait until /healthz answers."""
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--http",
                "--port",
                str(self.port),
                cwd=SOURCE_ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )
        self.started_at = time.monotonic()
        self.rss.append([])
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"replica {self.slot} exited: see {self.log}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"replica {self.slot} did not become healthy: see {self.log}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an impatient orchestrator would."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            self.kills += 1

    async def stop(self) -> None:
        """SIGTERM and wait (then SIGKILL)."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def sample_rss(self) -> None:
        """Record this process's resident set now (Linux /proc)."""
        if not self.alive or self.proc is None:
            return
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.rss[-1].append((time.monotonic(), int(line.split()[1]) / 1024))
        except OSError:
            pass


class Proxy:
    """A round-robin load balancer in front of the replicas, on loopback."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self._next = 0
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = free_port()
        self.cut = 0

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/slack/events", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower().startswith("x-slack") or k.lower() == "content-type"
        }
        for _ in range(len(self.replicas)):
            replica = self.replicas[self._next % len(self.replicas)]
            self._next += 1
            url = f"http://127.0.0.1:{replica.port}/slack/events"
            try:
                async with self._http.post(url, data=body, headers=headers) as answer:
                    payload = await answer.read()
                    return web.Response(
                        status=answer.status,
                        body=payload,
                        content_type=answer.content_type,
                    )
            except aiohttp.ClientConnectorError:
                continue  # nothing reached that replica: the next one may take it
            except (aiohttp.ClientError, TimeoutError):
                self.cut += 1  # sent, then the replica died: Slack sees an error and retries
                return web.Response(status=502, text="upstream died")
        return web.Response(status=503, text="no replica is up")


@dataclass(slots=True)
class Ack:
    """One Slack request as the simulated Slack saw it, retries included."""

    what: str
    attempts: list[tuple[int, float]]

    @property
    def answered(self) -> bool:
        return bool(self.attempts) and self.attempts[-1][0] == 200

    @property
    def first_ok(self) -> bool:
        return bool(self.attempts) and self.attempts[0][0] == 200


@dataclass(slots=True)
class Soak:
    """The whole run: its fakes, replicas, people and records."""

    args: argparse.Namespace
    stack: Sandbox
    replicas: list[Replica]
    proxy: Proxy
    sim: SlackSimulator
    rng: random.Random
    started: float = field(default_factory=time.monotonic)
    acks: list[Ack] = field(default_factory=list)
    submissions: list[tuple[str, str]] = field(default_factory=list)  # (card ts, text)
    mention_added: dict[str, float] = field(default_factory=dict)  # tweet id -> monotonic
    card_seen: dict[int, float] = field(default_factory=dict)  # case id -> monotonic
    case_mentions: dict[int, str] = field(default_factory=dict)  # case id -> tweet id
    faults: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    faults_over: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    seq: int = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, message: str) -> None:
        line = f"{self.elapsed():7.1f}s {message}"
        self.log.append(line)
        progress(f"soak {line}")

    # -- Slack's side: every request with retries, timed ------------------------------------

    async def request(self, what: str, send: Callable[[int], Awaitable[SimResponse]]) -> Any:
        """Send one Slack request (and Slack's retries of it); record every attempt."""
        ack = Ack(what=what, attempts=[])
        self.acks.append(ack)
        for attempt in range(SLACK_RETRIES + 1):
            try:
                response = await send(attempt)
                ack.attempts.append((response.status, response.elapsed))
                if response.status == 200:
                    return response.body
            except (aiohttp.ClientError, TimeoutError):
                ack.attempts.append((0, ACK_LIMIT))
            await asyncio.sleep(RETRY_DELAY)
        return None

    async def _post(self, payload: dict[str, Any], attempt: int) -> SimResponse:
        return await self._send(form_body(payload), attempt)

    async def _send(self, body: bytes, attempt: int) -> SimResponse:
        retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_error"}
        return await self.sim.send(
            body,
            content_type="application/x-www-form-urlencoded",
            extra_headers=retry if attempt else None,
        )

    def cards(self) -> list[Any]:
        return [m for m in self.stack.slack.channel_messages(self.stack.channel) if m.metadata]

    async def press(self, user: str, card: Any, action: ActionId, *, seen: Any = None) -> Any:
        try:
            payload = self.sim.click_payload(
                user, channel=self.stack.channel, ts=card.ts, action_id=action, seen=seen
            )
        except AssertionError:
            return None  # the card changed under us and has no such button now
        return await self.request(f"{action} {card.ts}", lambda n: self._post(payload, n))

    async def open_view(self, user: str, card: Any, action: ActionId, callback: str) -> Any:
        before = set(self.stack.slack.views)
        await self.press(user, card, action)
        for _ in range(50):
            new = [
                v
                for vid, v in self.stack.slack.views.items()
                if vid not in before and v.user_id == user and not v.closed
            ]
            mine = [v for v in new if v.callback_id == callback]
            if mine:
                return mine[0]
            await asyncio.sleep(0.1)
        return None

    async def submit(self, user: str, view: Any, values: dict[str, dict[str, Any]]) -> Any:
        payload = self.sim.view_submission_payload(user, view_id=view.id, values=values)
        body = await self.request(f"submit {view.id}", lambda n: self._post(payload, n))
        if body is not None:
            self.stack.slack.view_submitted(view.id, body)
        return body

    # -- the people ---------------------------------------------------------------------------

    async def customers(self) -> None:
        """Mentions at a steady rate, and one storm."""
        storm_at = self.rng.uniform(0.1, 0.3) * self.args.fault_seconds
        stormed = False
        while not self.faults_over.is_set():
            if not stormed and self.elapsed() >= storm_at:
                stormed = True
                self.note(f"storm: {self.args.storm} mentions in a minute")
                per_tick = max(1, self.args.storm // 60)
                for _ in range(60):
                    self._mentions(per_tick)
                    await asyncio.sleep(1)
                continue
            self._mentions(1)
            await asyncio.sleep(self.rng.expovariate(self.args.mention_rate))

    def _mentions(self, n: int) -> None:
        now = time.monotonic()
        for _ in range(n):
            self.seq += 1
            who = f"soak_customer_{self.rng.randrange(400)}"
            tweet = self.stack.x.add_mention(
                f"@{self.stack.x.brand.username} soak {self.seq}: my order is late",
                author_handle=who,
            )
            self.mention_added[tweet.id] = now

    async def agents(self) -> None:
        """Agents claim (sometimes two at once), reply (sometimes twice), and resolve."""
        while not self.faults_over.is_set():
            await asyncio.sleep(self.rng.uniform(0.3, 1.2))
            cards = self.cards()
            if not cards:
                continue
            card = self.rng.choice(cards[-40:])
            roll = self.rng.random()
            try:
                if roll < 0.4:
                    await self._claim(card)
                elif roll < 0.8:
                    await self._reply(card)
                elif roll < 0.9:
                    await self._resolve(card)
                else:
                    await self.request(
                        "/care digest",
                        lambda n: self._slash(LEAD, "digest 24h", n),
                    )
            except Exception as exc:  # the soak must go on; the log says why
                self.note(f"agent step failed: {exc!r}")

    async def _claim(self, card: Any) -> None:
        users = self.rng.sample(AGENTS, 2 if self.rng.random() < 0.3 else 1)
        seen = self.stack.slack.message(self.stack.channel, card.ts)
        await asyncio.gather(*(self.press(u, card, ActionId.CLAIM, seen=seen) for u in users))

    async def _reply(self, card: Any) -> None:
        user = self.rng.choice(AGENTS)
        view = await self.open_view(user, card, ActionId.REPLY, CallbackId.REPLY_MODAL)
        if view is None:
            return
        self.seq += 1
        text = f"Soak reply {self.seq}: sorry about that, we're on it."
        values: dict[str, dict[str, Any]] = {BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: text}}
        if any(b.get("block_id") == BlockId.RESOLVE_AFTER for b in view.blocks):
            values[BlockId.RESOLVE_AFTER] = {ActionId.RESOLVE_AFTER: []}
        self.submissions.append((card.ts, text))
        times = 2 if self.rng.random() < 0.25 else 1
        await asyncio.gather(*(self.submit(user, view, values) for _ in range(times)))

    async def _resolve(self, card: Any) -> None:
        user = self.rng.choice(AGENTS)
        view = await self.open_view(user, card, ActionId.RESOLVE, CallbackId.RESOLVE_MODAL)
        if view is None:
            return
        values: dict[str, dict[str, Any]] = {
            BlockId.RESOLVE_REASON: {ActionId.RESOLVE_REASON: ResolveReason.OTHER.value}
        }
        await self.submit(user, view, values)

    async def _slash(self, user: str, text: str, attempt: int) -> SimResponse:
        body = self.sim.slash_command_body(user, text=text, channel_id=self.stack.channel)
        return await self._send(body, attempt)

    # -- the faults ---------------------------------------------------------------------------

    async def chaos(self) -> None:
        """Play faults from the seed until the fault window ends, then heal everything."""
        end = self.args.fault_seconds
        kinds = [
            ("kill", self._kill),
            ("slack_outage", self._slack_outage),
            ("slack_429_storm", self._slack_429),
            ("x_5xx", self._x_5xx),
            ("x_429", self._x_429),
            ("token_revoked", self._revoke),
        ]
        next_kill = self.rng.uniform(30, 90)
        while self.elapsed() < end:
            await asyncio.sleep(self.rng.uniform(10, 30))
            if self.elapsed() >= end:
                break
            if self.elapsed() >= next_kill:
                await self._kill()
                next_kill = self.elapsed() + self.rng.uniform(90, 180)
                continue
            name, fault = self.rng.choice(kinds[1:])
            self.faults[name] += 1
            await fault()
        self._heal()
        self.faults_over.set()
        self.note("faults over; the load stops and the system must settle")

    async def _kill(self) -> None:
        replica = self.rng.choice(self.replicas)
        self.faults["kill"] += 1
        self.note(f"SIGKILL replica {replica.slot}")
        replica.kill()
        if replica.proc is not None:
            await replica.proc.wait()
        await asyncio.sleep(self.rng.uniform(1, 8))
        replica.restarts += 1
        await replica.start()
        self.note(f"replica {replica.slot} restarted")

    async def _slack_outage(self) -> None:
        seconds = self.rng.uniform(5, 30)
        self.note(f"Slack outage for {seconds:.0f}s")
        self.stack.slack.start_outage()
        await asyncio.sleep(seconds)
        self.stack.slack.end_outage()

    async def _slack_429(self) -> None:
        self.note("Slack 429 storm on chat.postMessage and chat.update")
        for method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            self.stack.slack.fail_next(method, status=429, error="ratelimited", count=8)
        await asyncio.sleep(5)

    async def _x_5xx(self) -> None:
        seconds = self.rng.uniform(5, 25)
        self.note(f"X answers 503 for {seconds:.0f}s")
        self.stack.x.outage(503)
        await asyncio.sleep(seconds)
        self.stack.x.end_outage()

    async def _x_429(self) -> None:
        self.note("X answers 429 to the next mention polls")
        self.stack.x.fail_next("/2/users", 429, count=3, reset_in=5)
        await asyncio.sleep(5)

    async def _revoke(self) -> None:
        self.note("the bot token is revoked for a minute")
        self.stack.slack.revoke_token()
        await asyncio.sleep(60 if self.args.minutes >= 10 else 15)
        self.stack.slack.valid_tokens.add(self.stack.slack.bot_token)
        self.note("the bot token works again")

    def _heal(self) -> None:
        self.stack.slack.end_outage()
        self.stack.x.end_outage()
        self.stack.slack.valid_tokens.add(self.stack.slack.bot_token)

    # -- watching -----------------------------------------------------------------------------

    async def watch(self) -> None:
        """Note when each card first appears, and sample each replica's memory."""
        last_rss = 0.0
        while not self.done.is_set():
            now = time.monotonic()
            for message in self.cards():
                case_id = (message.metadata.get("event_payload") or {}).get("case_id")
                if isinstance(case_id, int) and case_id not in self.card_seen:
                    self.card_seen[case_id] = now
            if now - last_rss >= 5:
                last_rss = now
                for replica in self.replicas:
                    replica.sample_rss()
            await asyncio.sleep(0.25)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--storm", type=int, default=None, help="mentions in the storm minute")
    parser.add_argument("--mention-rate", type=float, default=0.5, help="mentions per second")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    if args.storm is None:
        # Cards go out at Slack's ~1 per second per channel: a storm must drain before the end.
        args.storm = 500 if args.minutes >= 15 else 60
    args.fault_seconds = max(args.minutes * 60 - QUIET_SECONDS, 60.0)
    return args


async def _database(kind: str, tmp: Path) -> str:
    if kind == "postgres":
        url = os.environ.get(POSTGRES_ENV)
        if not url:
            raise SystemExit(f"--database postgres needs {POSTGRES_ENV}")
        await _reset_postgres(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'soak.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


async def run(args: argparse.Namespace) -> int:
    """Run the soak; return 0 when every invariant held."""
    progress(
        f"soak: seed {args.seed}, {args.minutes:g} min, {args.replicas} replicas, "
        f"{args.database}; replay with --seed {args.seed}"
    )
    with tempfile.TemporaryDirectory(prefix="carebot-soak-") as tmp_name:
        tmp = Path(tmp_name)
        url = await _database(args.database, tmp)
        async with sandbox() as stack:
            for user in [*AGENTS, LEAD]:
                stack.slack.add_user(user, name=user.lower())
            stack.slack.rate_limit_channel(stack.channel, per_second=1.0, burst=3)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": SOURCE_ROOT,
                **stack.environment(url),
                "CAREBOT_POLL_INTERVAL": "2s",
                "CAREBOT_SLA_FIRST_RESPONSE": "3m",
                "CAREBOT_SLA_URGENT": "1m",
                "CAREBOT_SLA_CHECK_INTERVAL": "5s",
                "CAREBOT_AGENTS": ",".join(AGENTS),
                "CAREBOT_LEADS": LEAD,
            }
            replicas = [
                Replica(slot=i, port=free_port(), env=env, log=tmp / f"replica-{i}.log")
                for i in range(args.replicas)
            ]
            proxy = Proxy(replicas)
            await proxy.start()
            sim = SlackSimulator(
                stack.slack,
                events_url=f"http://127.0.0.1:{proxy.port}/slack/events",
                signing_secret=stack.slack.signing_secret,
            )
            await sim.start()
            soak = Soak(args, stack, replicas, proxy, sim, random.Random(args.seed))
            try:
                for replica in replicas:
                    await replica.start()
                soak.note(f"{args.replicas} replicas up behind the proxy")
                watcher = asyncio.create_task(soak.watch())
                await asyncio.gather(soak.customers(), soak.agents(), soak.chaos())
                settled = await _settle(soak, url)
                soak.done.set()
                await watcher
                violations = await _check(soak, url, settled)
                _report(soak, violations, tmp)
                return 1 if violations else 0
            finally:
                await sim.close()
                for replica in replicas:
                    await replica.stop()
                await proxy.stop()


async def _stuck(url: str) -> dict[str, list[int]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            pending = await s.scalars(
                select(Reply.case_id).where(Reply.state == ReplyState.PENDING)
            )
            unposted = await s.scalars(select(Case.id).where(Case.card_state != CardState.POSTED))
            dirty = await s.scalars(select(Case.id).where(Case.card_dirty_at.is_not(None)))
            return {
                "pending reply": list(pending),
                "unposted card": list(unposted),
                "card waiting for a redraw": list(dirty),
            }
    finally:
        await engine.dispose()


async def _settle(soak: Soak, url: str) -> dict[str, list[int]]:
    """Wait up to a minute after the faults for the system to settle; return what is stuck."""
    deadline = time.monotonic() + SETTLE_SECONDS
    stuck = await _stuck(url)
    while any(stuck.values()) and time.monotonic() < deadline:
        await asyncio.sleep(1)
        stuck = await _stuck(url)
    soak.note("settled" if not any(stuck.values()) else "still not settled after a minute")
    return stuck


async def _check(soak: Soak, url: str, stuck: dict[str, list[int]]) -> list[Violation]:
    found: list[Violation] = []
    slack, x, channel = soak.stack.slack, soak.stack.x, soak.stack.channel
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            cases = {c.id: c for c in await s.scalars(select(Case))}
            stored = set(await s.scalars(select(CaseMessage.external_id)))
    finally:
        await engine.dispose()
    per_case = Counter((m.metadata.get("event_payload") or {}).get("case_id") for m in soak.cards())
    for case_id, count in per_case.items():
        if count != 1:
            found.append(Violation("one-card", f"case {case_id} has {count} cards"))
    for case_id in cases:
        if per_case.get(case_id, 0) == 0:
            found.append(Violation("one-card", f"case {case_id} has no card"))
    soak.case_mentions = {case_id: case.external_id for case_id, case in cases.items()}
    for tweet_id in soak.mention_added:
        if tweet_id not in stored:
            found.append(Violation("one-card", f"mention {tweet_id} is in no case"))
    posts = Counter(p["text"] for p in x.posted_replies)
    card_of_text = dict((text, ts) for ts, text in soak.submissions)
    for text, count in posts.items():
        if count > 1:
            found.append(Violation("one-post", f"{count} posts of {text!r}"))
        ts = card_of_text.get(text)
        if ts is not None:
            thread = " ".join(m.text or "" for m in slack.thread(channel, ts))
            if text not in thread:
                found.append(Violation("reply-shown", f"{text!r} is not in card {ts}'s thread"))
    for card in soak.cards():
        lines = Counter(
            m.text for m in slack.thread(channel, card.ts) if m.text and _is_nag(m.text)
        )
        for line, count in lines.items():
            if count > 1:
                found.append(Violation("nag-once", f"card {card.ts}: {count}x {line[:80]!r}"))
    for what, ids in stuck.items():
        if ids:
            found.append(Violation("settled", f"{len(ids)} {what}: cases {ids[:10]}"))
    for ack in soak.acks:
        if not ack.answered:
            found.append(Violation("acked", f"{ack.what}: never answered 200 {ack.attempts}"))
        elif ack.attempts[-1][1] > ACK_LIMIT:
            found.append(Violation("acked", f"{ack.what}: answered in {ack.attempts[-1][1]:.2f}s"))
    for replica in soak.replicas:
        for life in replica.rss:
            if len(life) < 12:
                continue  # too short a life to judge
            third = len(life) // 3
            middle = statistics.median(v for _, v in life[third : 2 * third])
            last = statistics.median(v for _, v in life[2 * third :])
            if last - middle > max(MEMORY_GROWTH_LIMIT_MIB, MEMORY_GROWTH_LIMIT * middle):
                found.append(
                    Violation(
                        "memory",
                        f"replica {replica.slot}: {middle:.0f} -> {last:.0f} MiB in one life",
                    )
                )
    return found


def _is_nag(text: str) -> bool:
    return text.startswith((":hourglass_flowing_sand:", ":red_circle:", ":bell:"))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else 0


def _report(soak: Soak, violations: list[Violation], tmp: Path) -> None:
    ack_times = [a.attempts[-1][1] for a in soak.acks if a.answered]
    latencies = [
        soak.card_seen[case_id] - soak.mention_added[tweet_id]
        for case_id, tweet_id in soak.case_mentions.items()
        if case_id in soak.card_seen and tweet_id in soak.mention_added
    ]
    figures = {
        "seed": soak.args.seed,
        "minutes": soak.args.minutes,
        "replicas": soak.args.replicas,
        "database": soak.args.database,
        "mentions": len(soak.mention_added),
        "cards": len(soak.cards()),
        "reply_submissions": len(soak.submissions),
        "replies_posted": len(soak.stack.x.posted_replies),
        "slack_requests": len(soak.acks),
        "slack_requests_cut_by_kill": soak.proxy.cut,
        "ack_p50_ms": round(_percentile(ack_times, 0.5) * 1000, 1),
        "ack_p99_ms": round(_percentile(ack_times, 0.99) * 1000, 1),
        "mention_to_card_p50_s": round(_percentile(latencies, 0.5), 2),
        "mention_to_card_p99_s": round(_percentile(latencies, 0.99), 2),
        "faults": dict(soak.faults),
        "kills": sum(r.kills for r in soak.replicas),
        "peak_rss_mib": round(
            max((v for r in soak.replicas for life in r.rss for _, v in life), default=0), 1
        ),
        "invariants_broken": len(violations),
        **machine(),
        "command": "python -m bench soak " + " ".join(sys.argv[2:]),
    }
    print(json.dumps({"bench": "soak", **figures}), flush=True)
    for violation in violations[:50]:
        print(f"INVARIANT {violation.invariant}: {violation.detail}", file=sys.stderr)
    if violations:
        progress(
            f"soak FAILED: {len(violations)} broken; replay with --seed {soak.args.seed}; "
            f"replica logs were in {tmp}"
        )
        for replica in soak.replicas:
            tail = replica.log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- replica {replica.slot} log tail ---", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
    else:
        progress("soak passed: every invariant held")


def main(argv: list[str]) -> int:
    """Entry point of `python -m bench soak …`."""
    return asyncio.run(run(_parse(argv)))
