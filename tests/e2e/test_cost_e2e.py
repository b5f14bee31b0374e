"""What X costs, end to end: the real bot against the sandbox X and Slack counts its X calls,
shows this month's spend in `/care digest` and the App Home, warns the leads, and at the budget
tells the channel and slows its polling to the floor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import Ephemeral
from bot.sandbox.stack import RunningBot, Sandbox, sandbox
from tests.e2e.helpers import bot_with_simulator

LEAD = "U0LEAD1"


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator

    def channel_text(self) -> str:
        return "\n".join(m.text for m in self.stack.slack.channel_messages(self.stack.channel))

    async def care(self, text: str) -> Ephemeral:
        before = len(self.stack.slack.ephemerals(LEAD))
        response = await self.sim.slash_command(LEAD, text=text, channel_id="C0LEADS")
        assert response.status == 200
        await self.stack.slack.wait_for(lambda: len(self.stack.slack.ephemerals(LEAD)) > before)
        return self.stack.slack.ephemerals(LEAD)[-1]


async def start(tmp_path: Path, budget: str) -> AsyncIterator[World]:
    async with sandbox() as stack:
        for i in range(3):
            stack.x.add_mention(f"@acmehelp question {i}", author_handle=f"c{i}")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            poll_interval="1s",
            agents=LEAD,
            leads=LEAD,
            x_monthly_budget=budget,
            x_budget_poll_floor="1h",
        )
        async with bot_with_simulator(stack, settings) as (bot, sim):
            world = World(stack, bot, sim)
            await stack.slack.wait_for(
                lambda: (
                    sum(1 for m in stack.slack.channel_messages(stack.channel) if m.metadata) == 3
                )
            )
            yield world


@pytest.fixture
async def roomy(tmp_path: Path) -> AsyncIterator[World]:
    async for world in start(tmp_path, budget="100"):
        yield world


@pytest.fixture
async def tight(tmp_path: Path) -> AsyncIterator[World]:
    async for world in start(tmp_path, budget="0.004"):
        yield world


async def test_spend_shows_in_the_digest_and_the_home(roomy: World) -> None:
    digest = await roomy.care("digest 24h")
    # Three mentions and the brand's profile read at $0.001 each (nothing else billed by default).
    (spend,) = [str(b) for b in digest.blocks if "*X this month*" in str(b)]
    assert "*X this month*: $0.004 (4 reads, 0 replies) of a $100.00 budget (0%)" in spend
    response = await roomy.sim.app_home_opened(LEAD)
    assert response.status == 200
    await roomy.stack.slack.wait_for(lambda: LEAD in roomy.stack.slack.home_views)
    assert "*X this month*" in str(roomy.stack.slack.home_views[LEAD].blocks)
    assert "budget" not in roomy.channel_text()
    assert roomy.stack.slack.violations == []


async def test_at_the_budget_the_channel_is_told_and_polling_slows(tight: World) -> None:
    await tight.stack.slack.wait_for(lambda: "reached this month's" in tight.channel_text())
    text = tight.channel_text()
    assert f"<@{LEAD}> Carebot has spent $0.004 of this month's $0.004 X budget" in text
    assert "New mentions are now read every 1h" in text
    polls = tight.stack.x.mention_requests
    tight.stack.x.add_mention("@acmehelp anyone there?", author_handle="late")
    # Polls tick every second, but at the budget only one an hour runs.
    await asyncio.sleep(3)
    assert tight.stack.x.mention_requests == polls
    assert "anyone there" not in str(tight.stack.slack.channel_messages(tight.stack.channel))
