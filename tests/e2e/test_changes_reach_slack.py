"""No change is dropped on its way to Slack: a claim on a card whose Slack ts is not recorded yet,
or made while Slack is down, keeps its thread line in the database until the card can take it;
and redraws of posted cards are not starved by a backlog of new cards."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, update

from bot.blocks.ids import ActionId
from bot.delivery import PENDING_SLICE, DeliveryService
from bot.pacing import ChannelPacer
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import FakeSlack, StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, sandbox
from storage.engine import SessionFactory
from storage.models import CardLine, CardState, Case
from tests.conftest import FakeClock
from tests.e2e.helpers import bot_with_simulator, cards, only_case
from tests.factories import pending_case

AGENT = "U0AGENT1"


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator

    def cards(self) -> list[StoredMessage]:
        return cards(self.stack)

    def thread(self, card: StoredMessage) -> str:
        replies = self.stack.slack.thread(self.stack.channel, card.ts)
        return "\n".join(f"{m.text} {m.blocks}" for m in replies)

    async def case(self) -> Case:
        return await only_case(self.bot)

    async def until(self, predicate: Callable[[], bool], seconds: float = 20) -> None:
        await self.stack.slack.wait_for(predicate, timeout=seconds)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with sandbox() as stack:
        stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
        settings = stack.settings(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", poll_interval="1s")
        async with bot_with_simulator(stack, settings) as (bot, sim):
            world = World(stack, bot, sim)
            await world.until(lambda: len(world.cards()) == 1)
            yield world


async def test_a_claim_on_a_card_not_yet_recorded_reaches_its_thread(world: World) -> None:
    card = copy.deepcopy(world.cards()[0])
    assert world.bot.runtime.deps is not None
    # The card is in Slack but its ts is not recorded yet (posted cards are recorded in groups),
    # and the lookup that would record it is failing for now.
    world.stack.slack.fail_next("conversations.history", status=500, count=3)
    deadline = time.monotonic() + 10
    while (await world.case()).card_state != CardState.POSTED:  # let the bot record its post
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    async with world.bot.runtime.sessions() as s, s.begin():
        await s.execute(update(Case).values(card_state=CardState.POSTING, card_ts=None))
    response = await world.sim.click(
        AGENT, channel=world.stack.channel, ts=card.ts, action_id=ActionId.CLAIM, seen=card
    )
    assert response.status == 200
    await world.until(lambda: "claimed" in world.thread(card))
    await world.until(
        lambda: f"<@{AGENT}>" in str(world.stack.slack.message(world.stack.channel, card.ts).blocks)
    )
    case = await world.case()
    assert case.owner == AGENT
    assert case.card_ts == card.ts
    assert len(world.cards()) == 1


async def test_a_claim_while_slack_is_down_reaches_its_thread_after(world: World) -> None:
    card = copy.deepcopy(world.cards()[0])
    # Bolt checks its token once (auth.test) before its first request; let it, before Slack falls.
    await world.sim.app_home_opened(AGENT)
    await world.until(lambda: AGENT in world.stack.slack.home_views)
    world.stack.slack.start_outage()
    try:
        response = await world.sim.click(
            AGENT, channel=world.stack.channel, ts=card.ts, action_id=ActionId.CLAIM, seen=card
        )
        assert response.status == 200
        deps = world.bot.runtime.deps
        assert deps is not None
        deadline = time.monotonic() + 10
        while (await world.case()).owner != AGENT:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        async with world.bot.runtime.sessions() as s:
            (line,) = await s.scalars(select(CardLine))
        assert line.posted_at is None
        assert "claimed" in line.text
    finally:
        world.stack.slack.end_outage()
    await world.until(lambda: "claimed" in world.thread(card))
    assert world.thread(card).count("claimed") == 1


async def test_redraws_are_not_starved_by_a_backlog_of_new_cards(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    async with FakeSlack() as fake:
        fake.add_channel("C0CARE", name="care")
        slack = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        # Unpaced: the order of the calls is the property, not Slack's one message a second.
        delivery = DeliveryService(
            sessions=sessions,
            slack=slack,
            channel="C0CARE",
            clock=clock,
            pacer=ChannelPacer(per_second=None),
        )
        async with sessions() as s, s.begin():
            s.add(pending_case(0, clock.now))
        await delivery.run_once()
        async with sessions() as s, s.begin():
            await s.execute(
                update(Case).values(owner=AGENT, card_version=2, card_dirty_at=clock.now)
            )
            s.add_all(pending_case(n, clock.now) for n in range(1, PENDING_SLICE * 3 + 1))
        await delivery.run_once()
        calls = [c.method for c in fake.calls if c.method in {"chat.postMessage", "chat.update"}]
        assert calls.count("chat.postMessage") == PENDING_SLICE * 3 + 1
        # The redraw went out after one slice of new cards, not behind the whole backlog.
        assert calls.index("chat.update") <= PENDING_SLICE + 1
