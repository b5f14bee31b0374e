"""What the demo's simulated people share while they play the script: the sandbox, the Slack
simulator, the transcript and the cards seen so far, and the bounded waits and look-ups in what the
fakes recorded that every step uses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.blocks.ids import ActionId
from bot.demo.script import SCRIPT, Agent, Customer
from bot.demo.transcript import Transcript
from bot.sandbox.simulator import SimResponse, SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox
from bot.sandbox.x import FakeTweet

# How long one scripted step may take before the demo gives up; generous, because a step that is
# merely slow on a busy machine should still finish, and one that never happens must not hang.
STEP_TIMEOUT = 15.0
# How often the transcript looks for news while the script waits (and, with --keep, afterwards).
POLL_SECONDS = 0.02


class DemoFailed(Exception):
    """Something the script expected did not happen in time; the message says what."""


@dataclass
class Stage:
    """The running sandbox as the script's people see it, and the cards and posts so far.

    `cards`, `tweets` (the posts on X) and `links` are keyed by the post's number in SCRIPT; the
    demo hands in its own dicts, so they stay readable after the run.
    """

    sandbox: Sandbox
    sim: SlackSimulator
    transcript: Transcript
    tweets: dict[int, FakeTweet] = field(default_factory=dict)
    cards: dict[int, StoredMessage] = field(default_factory=dict)
    # Where each post's card links to (a part of its network's address of the post).
    links: dict[int, str] = field(default_factory=dict)

    async def _click(
        self, agent: Agent, card: StoredMessage, action: ActionId, *, stale: bool = False
    ) -> None:
        answer = await self.sim.click(
            agent.user_id,
            channel=card.channel,
            ts=card.ts,
            action_id=action,
            seen=card if stale else None,
        )
        self._require_ok(answer, f"{agent.name}'s {action} button")

    async def _until(self, predicate: Callable[[], bool], what: str, *, extra: float = 0.0) -> None:
        """Wait for `predicate` while printing what happens; fail naming `what` if it never holds.

        A bounded poll (STEP_TIMEOUT plus `extra` seconds) rather than an await on the bot, so a
        failure can say what the script was waiting for and what Slack last saw.
        """
        seconds = STEP_TIMEOUT + extra
        deadline = time.monotonic() + seconds
        while not predicate():
            self.transcript.flush()
            if time.monotonic() >= deadline:
                recent = ", ".join(
                    f"{c.method}->{c.error or 'ok'}" for c in self.sandbox.slack.calls[-6:]
                )
                raise DemoFailed(
                    f"expected {what} within {seconds:g}s, but it did not happen "
                    f"(last Slack calls: {recent or 'none'})"
                )
            await asyncio.sleep(POLL_SECONDS)
        self.transcript.flush()

    @staticmethod
    def _require_ok(answer: SimResponse, what: str) -> None:
        if answer.status != 200:
            raise DemoFailed(f"the bot answered {what} with HTTP {answer.status}: {answer.body}")

    def _card_of(self, customer: Customer) -> StoredMessage:
        for number in sorted(self.cards, reverse=True):
            if SCRIPT[number].customer == customer:
                return self.cards[number]
        raise DemoFailed(f"the script has a follow-up from @{customer.handle} before any post")

    def _in_thread(self, card: StoredMessage, text: str, *, start: bool = False) -> bool:
        return any(
            m.text.startswith(text) if start else text in m.text
            for m in self.sandbox.slack.thread(card.channel, card.ts)
        )

    def _count_in_thread(self, card: StoredMessage, text: str) -> int:
        return sum(text in m.text for m in self.sandbox.slack.thread(card.channel, card.ts))
