"""The soak's run as the simulated Slack and people see it: `Soak` holds the fakes, replicas and
records, sends each Slack request with Slack's retries (timing every attempt), and plays the
customers (mentions at a steady rate, one storm), agents (claims with collisions, replies with
double submits, resolutions) and a lead asking for digests.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.common import progress
from bench.soak.processes import Proxy, Replica
from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.domain import ResolveReason
from bot.sandbox.simulator import SimResponse, SlackSimulator, form_body
from bot.sandbox.stack import Sandbox
from bot.sources.bluesky import compact_id

AGENTS = ["U0SOAKA1", "U0SOAKA2", "U0SOAKA3", "U0SOAKA4"]
LEAD = "U0SOAKLD"
ACK_LIMIT = 3.0
# Slack retries a request that got no 200 three times (after ~1 s, ~1 min, ~5 min); the soak
# retries sooner so a run stays short, with the same header.
SLACK_RETRIES = 3
RETRY_DELAY = 1.0
# Where the customers write: mostly X, some on Bluesky and Mastodon (the same invariants hold).
NETWORKS = ("x", "bluesky", "mastodon")
NETWORK_WEIGHTS = (0.6, 0.2, 0.2)
# Every reply the agents write carries this marker, so its posts can be found on any network
# (Mastodon puts the customer's handle in front of the text, for one).
REPLY_MARKER = re.compile(r"Soak reply \d+:")


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
    # The faults draw from their own generator, so the seed alone fixes their schedule (the
    # load's choices also depend on what the cards show when an agent looks).
    fault_rng: random.Random
    started: float = field(default_factory=time.monotonic)
    acks: list[Ack] = field(default_factory=list)
    submissions: list[tuple[str, str]] = field(default_factory=list)  # (card ts, text)
    # (network, the post's id as the bot stores it) -> monotonic time it was posted
    mention_added: dict[tuple[str, str], float] = field(default_factory=dict)
    card_seen: dict[int, float] = field(default_factory=dict)  # case id -> monotonic
    case_mentions: dict[int, tuple[str, str]] = field(default_factory=dict)  # case id -> mention
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

    def posted_replies(self) -> list[tuple[str, str]]:
        """Return (network, text) of every post the brand made, as each fake recorded it."""
        stack = self.stack
        return [
            *(("x", str(p["text"])) for p in stack.x.posted_replies),
            *(("bluesky", str(r["record"]["text"])) for r in stack.bluesky.created_records),
            *(("mastodon", str(b["status"])) for b in stack.mastodon.posted),
        ]

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
        """Mentions at a steady rate, and one storm, on X, Bluesky and Mastodon."""
        storm_at = self.rng.uniform(0.1, 0.3) * self.args.fault_seconds
        stormed = False
        while not self.faults_over.is_set():
            if not stormed and self.elapsed() >= storm_at:
                stormed = True
                self.note(f"storm: {self.args.storm} mentions in a minute")
                # Exactly `storm` mentions, spread evenly over the minute's seconds.
                for second in range(60):
                    due = (second + 1) * self.args.storm // 60 - second * self.args.storm // 60
                    self._mentions(due)
                    await asyncio.sleep(1)
                continue
            self._mentions(1)
            await asyncio.sleep(self.rng.expovariate(self.args.mention_rate))

    def _mentions(self, n: int) -> None:
        now = time.monotonic()
        for _ in range(n):
            self.seq += 1
            who = f"soak_customer_{self.rng.randrange(400)}"
            text = f"soak {self.seq}: my order is late"
            network = self.rng.choices(NETWORKS, weights=NETWORK_WEIGHTS)[0]
            if network == "bluesky":
                bluesky = self.stack.bluesky
                post = bluesky.add_mention(f"@{bluesky.brand.handle} {text}", author_handle=who)
                external_id = compact_id(post.uri)
            elif network == "mastodon":
                external_id = self.stack.mastodon.add_mention(text, author=f"{who}@soak.example").id
            else:
                x = self.stack.x
                external_id = x.add_mention(f"@{x.brand.username} {text}", author_handle=who).id
            self.mention_added[(network, external_id)] = now

    async def agents(self) -> None:
        """Agents claim (sometimes two at once), reply (sometimes twice), and resolve."""
        while not self.faults_over.is_set():
            await asyncio.sleep(self.rng.uniform(0.3, 1.2))
            cards = self.cards()
            if not cards:
                continue
            recent = cards[-40:]
            card = self.rng.choice(recent)
            roll = self.rng.random()
            try:
                if roll < 0.4:
                    # Claims go to cards still unclaimed, so most of them race for a real case.
                    claimable = [c for c in recent if has_button(c, ActionId.CLAIM)]
                    await self._claim(self.rng.choice(claimable) if claimable else card)
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
        # Half the claims collide: two or three agents press Claim on the same card at once.
        users = self.rng.sample(AGENTS, self.rng.choice((1, 2, 3, 1, 2, 3)))
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


def has_button(card: Any, action: ActionId) -> bool:
    """Say whether the card shows the button `action` now."""
    for block in card.blocks:
        elements = block.get("elements") or [block.get("accessory") or {}]
        if any(isinstance(e, dict) and e.get("action_id") == action for e in elements):
            return True
    return False
