"""X's reply rule end to end: the Reply modal answers the newest post that mentions or quotes the
brand; with none, it says so before anything is sent and offers the post on X; X's 403 for the rule
is a permanent refusal in plain words, sent once and never retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.blocks.ids import ActionId, BlockId
from bot.sandbox.simulator import SimResponse, SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, sandbox
from storage.models import CaseMessage
from tests.e2e.helpers import bot_with_simulator, cards

AGENT = "U0AGENT1"


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator

    def cards(self) -> list[StoredMessage]:
        return cards(self.stack)

    def thread(self, card: StoredMessage) -> str:
        return "\n".join(m.text for m in self.stack.slack.thread(self.stack.channel, card.ts))

    async def open_reply(self, card: StoredMessage) -> tuple[str, dict[str, Any]]:
        before = set(self.stack.slack.views)
        response = await self.sim.click(
            AGENT, channel=self.stack.channel, ts=card.ts, action_id=ActionId.REPLY
        )
        assert response.status == 200
        await self.stack.slack.wait_for(lambda: bool(set(self.stack.slack.views) - before))
        (view_id,) = set(self.stack.slack.views) - before
        return view_id, self.stack.slack.views[view_id].payload

    async def submit(self, view_id: str, text: str) -> SimResponse:
        return await self.sim.submit_view(
            AGENT,
            view_id=view_id,
            values={
                BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: text},
                BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: []},
            },
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with sandbox() as stack:
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", poll_interval="1s", agents=AGENT
        )
        async with bot_with_simulator(stack, settings) as (bot, sim):
            yield World(stack, bot, sim)


def has_input(view: dict[str, Any]) -> bool:
    return any(b.get("block_id") == BlockId.REPLY_TEXT for b in view["blocks"])


async def test_reply_answers_the_newest_post_that_mentions_the_brand(world: World) -> None:
    x = world.stack.x
    first = x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
    await world.stack.slack.wait_for(lambda: len(world.cards()) == 1)
    card = world.cards()[0]
    ours = x.add_brand_post("@dana sorry! Which order?", in_reply_to=first)
    # A follow-up that answers the brand but no longer mentions it (Dana removed @acmehelp).
    x.add_mention("it's order 1234", author_handle="dana", in_reply_to=ours)
    await world.stack.slack.wait_for(lambda: "order 1234" in world.thread(card), timeout=15)
    view_id, view = await world.open_reply(card)
    assert has_input(view)
    answer = await world.submit(view_id, "Thanks Dana, found it!")
    assert answer.status == 200
    assert "Reply sent" in str(answer.body)
    # The reply goes to the newest post that summons the brand, which X accepts.
    assert [p["in_reply_to_tweet_id"] for p in x.posted_replies] == [first.id]


async def test_a_case_with_no_summoning_post_is_said_before_sending(world: World) -> None:
    x = world.stack.x
    ours = x.add_brand_post("Big news: our spring sale starts today!")
    reply = x.add_mention("meh, prices went up", author_handle="eve", in_reply_to=ours)
    await world.stack.slack.wait_for(lambda: len(world.cards()) == 1)
    _, view = await world.open_reply(world.cards()[0])
    assert not has_input(view)
    assert view.get("submit") is None
    blocked = next(b for b in view["blocks"] if b.get("block_id") == BlockId.REPLY_BLOCKED)
    assert "mention or quote it" in blocked["text"]["text"]
    assert blocked["accessory"]["text"]["text"] == "Open on X"
    assert blocked["accessory"]["url"] == f"https://x.com/eve/status/{reply.id}"
    assert not [r for r in x.requests if r.method == "POST"]


async def test_x_refusing_by_its_rule_is_permanent_and_plain(world: World) -> None:
    x = world.stack.x
    ours = x.add_brand_post("We're live on support today.")
    x.add_mention("my card was charged twice", author_handle="finn", in_reply_to=ours)
    await world.stack.slack.wait_for(lambda: len(world.cards()) == 1)
    card = world.cards()[0]
    # Carebot believes the post summons the brand (say, stored before this rule); X disagrees.
    async with world.bot.runtime.sessions() as s, s.begin():
        await s.execute(update(CaseMessage).values(summons=True))
    view_id, view = await world.open_reply(card)
    assert has_input(view)
    answer = await world.submit(view_id, "Sorry Finn, refund on its way.")
    assert answer.status == 200
    error = answer.body["errors"][BlockId.REPLY_TEXT]
    assert error.startswith("X only lets the brand reply to posts that mention or quote it")
    posts = [r for r in x.requests if r.method == "POST" and r.path == "/2/tweets"]
    assert [r.status for r in posts] == [403]  # asked once, never retried
    # The refusal is remembered: the next press says so before anything is sent.
    async with world.bot.runtime.sessions() as s:
        assert (await s.scalars(select(CaseMessage.summons))).all() == [False]
    _, again = await world.open_reply(card)
    assert not has_input(again)
    assert x.posted_replies == []
