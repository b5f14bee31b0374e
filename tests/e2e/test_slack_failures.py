"""Slack failing the way Slack fails, end to end (the real bot against the sandbox Slack and X):
a deleted card, a deleted thread, conversations.history rate-limited or out of scope, Slack's
`rate_limited` body, and the bot taken out of its channel. Each failure is kept to what it
affects: one message is skipped (or its card posted anew), or the install is reported degraded
once and recovers on the first call that works; nothing else waits behind it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, running_bot, sandbox
from bot.sandbox.x import FakeTweet
from storage.models import CardState, Case
from tests.e2e.helpers import cards

LEAD = "U0LEAD1"
LEAD_DM = "D0LEAD1"  # the app's direct message with the lead


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot

    @property
    def channel(self) -> str:
        return self.stack.channel

    def cards(self) -> list[StoredMessage]:
        return cards(self.stack)

    def card_of(self, tweet: FakeTweet) -> StoredMessage:
        (card,) = [m for m in self.cards() if tweet.id in str(m.blocks)]
        return card

    def shows(self, tweet: FakeTweet, text: str) -> bool:
        return any(tweet.id in str(m.blocks) and text in str(m.blocks) for m in self.cards())

    def thread_of(self, tweet: FakeTweet) -> str:
        found = [m for m in self.cards() if tweet.id in str(m.blocks)]
        return self.thread(found[0]) if len(found) == 1 else ""

    def thread(self, card: StoredMessage) -> str:
        replies = self.stack.slack.thread(self.channel, card.ts)
        return "\n".join(f"{m.text} {m.blocks}" for m in replies)

    async def cases(self) -> list[Case]:
        assert self.bot.runtime.deps is not None
        async with self.bot.runtime.sessions() as s:
            return list(await s.scalars(select(Case).order_by(Case.id)))

    async def case_of(self, tweet: FakeTweet) -> Case:
        (case,) = [c for c in await self.cases() if c.external_id == tweet.id]
        return case

    async def until(self, predicate: Callable[[], object], seconds: float = 15) -> None:
        await self.stack.slack.wait_for(lambda: bool(predicate()), timeout=seconds)

    async def until_cases(self, check: Callable[[list[Case]], bool], seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while not check(await self.cases()):
            if time.monotonic() > deadline:
                raise AssertionError("the cases never reached the expected state")
            await asyncio.sleep(0.1)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with sandbox() as stack:
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", poll_interval="1s", leads=LEAD
        )
        async with running_bot(settings, pacing_per_second=None) as bot:
            yield World(stack, bot)


async def claim(world: World, case_id: int, user: str) -> None:
    deps = world.bot.runtime.deps
    assert deps is not None
    await deps.ownership.claim(case_id=case_id, user=user)
    async with world.bot.runtime.sessions() as s, s.begin():
        # Mark dirty as the Claim button would, and leave the redraw to the sync job.
        await s.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(card_version=Case.card_version + 1, card_dirty_at=Case.claimed_at)
        )


def assert_one_card_per_case(world: World) -> None:
    per_case = Counter(m.metadata["event_payload"]["case_id"] for m in world.cards() if m.metadata)
    assert [case for case, n in per_case.items() if n > 1] == []


async def test_a_deleted_card_gets_a_new_card_and_the_redraws_behind_it_go_on(
    world: World,
) -> None:
    tweets = [
        world.stack.x.add_mention(f"@acmehelp order {i}", author_handle=f"c{i}") for i in range(3)
    ]
    await world.until(lambda: len(world.cards()) == 3)
    first = world.card_of(tweets[0])
    world.stack.slack.delete_message(world.channel, first.ts)
    for tweet in tweets:
        await claim(world, (await world.case_of(tweet)).id, "U0ANA")
    # The two cards still in Slack are redrawn; the deleted one is posted again, as it is now.
    for tweet in tweets:
        await world.until(partial(world.shows, tweet, "<@U0ANA>"))
    assert len(world.cards()) == 3
    assert world.card_of(tweets[0]).ts != first.ts
    assert any(c.error == "message_not_found" for c in world.stack.slack.calls_to("chat.update"))
    assert world.bot.runtime.delivery is not None
    assert world.bot.runtime.delivery.stats.cards_reposted == 1
    assert_one_card_per_case(world)


async def test_a_deleted_thread_does_not_stop_later_follow_ups(world: World) -> None:
    a = world.stack.x.add_mention("@acmehelp my parcel", author_handle="anna")
    b = world.stack.x.add_mention("@acmehelp my refund", author_handle="bert")
    await world.until(lambda: len(world.cards()) == 2)
    gone = world.card_of(a)
    world.stack.slack.delete_message(world.channel, gone.ts)
    world.stack.x.add_mention("@acmehelp still nothing?", author_handle="anna", in_reply_to=a)
    world.stack.x.add_mention("@acmehelp any news?", author_handle="bert", in_reply_to=b)
    await world.until(lambda: "any news?" in world.thread_of(b))
    # Anna's case is open: it gets a new card, and her follow-up lands in its thread.
    await world.until(lambda: len(world.cards()) == 2 and world.card_of(a).ts != gone.ts)
    await world.until(lambda: "still nothing?" in world.thread_of(a))
    assert any(
        c.error == "thread_not_found" for c in world.stack.slack.calls_to("chat.postMessage")
    )
    assert_one_card_per_case(world)


async def put_in_doubt(world: World, tweet: FakeTweet) -> None:
    """Leave the case as a crash between chat.postMessage and its record would: `posting`."""
    assert world.bot.runtime.deps is not None
    # First let the bot record the post it made, or its record would undo this.
    await world.until_cases(lambda cs: all(c.card_state == CardState.POSTED for c in cs))
    async with world.bot.runtime.sessions() as s, s.begin():
        await s.execute(
            update(Case)
            .where(Case.external_id == tweet.id)
            .values(card_state=CardState.POSTING, card_ts=None)
        )


async def test_history_rate_limited_ten_times_never_posts_a_duplicate_card(
    world: World,
) -> None:
    tweet = world.stack.x.add_mention("@acmehelp hello", author_handle="dora")
    await world.until(lambda: len(world.cards()) == 1)
    world.stack.slack.fail_next(
        "conversations.history", status=429, error="ratelimited", count=10, retry_after=0.2
    )
    await put_in_doubt(world, tweet)
    await world.until_cases(lambda cs: cs[0].card_state == CardState.POSTED, seconds=30)
    history = world.stack.slack.calls_to("conversations.history")
    assert sum(c.status == 429 for c in history) == 10
    assert any(c.ok for c in history)
    assert len(world.cards()) == 1
    assert (await world.case_of(tweet)).card_ts == world.card_of(tweet).ts


async def test_history_out_of_scope_holds_only_the_card_in_doubt(world: World) -> None:
    doubtful = world.stack.x.add_mention("@acmehelp first", author_handle="erin")
    await world.until(lambda: len(world.cards()) == 1)
    world.stack.slack.fail_next("conversations.history", error="missing_scope", count=10_000)
    await put_in_doubt(world, doubtful)
    later = world.stack.x.add_mention("@acmehelp second", author_handle="fred")
    # Delivery goes on: the new case gets its card while the one in doubt waits.
    await world.until(lambda: any(later.id in str(m.blocks) for m in world.cards()))
    delivery = world.bot.runtime.delivery
    assert delivery is not None
    await world.until(lambda: not delivery.health().ok)
    assert delivery.health().problems == {"history": "missing_scope"}
    assert "reinstall" in delivery.health().as_check()["reason"]
    assert (await world.case_of(doubtful)).card_state == CardState.POSTING
    # The scope is granted: the card in doubt is found in the channel, not posted again.
    world.stack.slack._failures.clear()
    await world.until_cases(lambda cs: all(c.card_state == CardState.POSTED for c in cs), 30)
    await world.until(lambda: delivery.health().ok)
    assert len(world.cards()) == 2
    assert_one_card_per_case(world)


async def test_a_rate_limited_body_is_retried_not_taken_as_a_refusal(world: World) -> None:
    world.stack.slack.fail_next("chat.postMessage", error="rate_limited", count=3)
    tweet = world.stack.x.add_mention("@acmehelp are you there", author_handle="gus")
    await world.until(lambda: len(world.cards()) == 1, seconds=30)
    assert (
        sum(c.error == "rate_limited" for c in world.stack.slack.calls_to("chat.postMessage")) == 3
    )
    assert world.card_of(tweet)
    assert world.bot.runtime.delivery is not None
    assert world.bot.runtime.delivery.health().ok


async def test_the_bot_taken_out_of_its_channel_alerts_once_and_recovers(world: World) -> None:
    world.stack.slack.remove_bot(world.channel)
    tweets = [
        world.stack.x.add_mention(f"@acmehelp help {i}", author_handle=f"h{i}") for i in range(2)
    ]
    delivery = world.bot.runtime.delivery
    assert delivery is not None
    await world.until(lambda: not delivery.health().ok)
    assert delivery.health().problems == {"post": "not_in_channel"}
    assert world.cards() == []
    # One alert, where it can still be seen: a DM to the lead.
    await world.until(lambda: bool(world.stack.slack.channel_messages(LEAD_DM)))
    await world.until(
        lambda: (
            len(
                [
                    c
                    for c in world.stack.slack.calls_to("chat.postMessage")
                    if c.error == "not_in_channel"
                ]
            )
            >= 2
        ),
        seconds=30,
    )
    dms = world.stack.slack.channel_messages(LEAD_DM)
    assert len(dms) == 1
    assert "not_in_channel" in dms[0].text
    world.stack.slack.invite_bot(world.channel)
    await world.until(lambda: len(world.cards()) == 2, seconds=30)
    await world.until(lambda: delivery.health().ok)
    await world.until(lambda: len(world.stack.slack.channel_messages(LEAD_DM)) == 2)
    assert "again" in world.stack.slack.channel_messages(LEAD_DM)[1].text
    for tweet in tweets:
        assert world.card_of(tweet)


async def test_health_checks_say_why_slack_is_degraded(world: World) -> None:
    world.stack.slack.remove_bot(world.channel)
    world.stack.x.add_mention("@acmehelp anyone?", author_handle="ivy")
    delivery = world.bot.runtime.delivery
    assert delivery is not None
    await world.until(lambda: not delivery.health().ok)
    checks = await world.bot.runtime.health_checks()
    assert checks["slack"]["status"] == "degraded"
    assert "not_in_channel" in str(checks["slack"]["reason"])
    assert "invite Carebot" in str(checks["slack"]["reason"])
    assert checks["x"] == {"status": "ok"}
