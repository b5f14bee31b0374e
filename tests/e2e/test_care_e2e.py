"""`/care` and the App Home end to end: slash commands, button presses and events from the
simulator to the real bot, which answers through the sandbox Slack's response_urls and Web API.
Every test runs over HTTP (signed requests) and over Socket Mode (envelopes and acks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.blocks.ids import ActionId, BlockId
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import Ephemeral, StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, running_bot, sandbox
from tests.e2e.helpers import cards

LEAD = "U0LEAD1"
AGENT = "U0AGENT1"
OTHER = "U0AGENT2"
TYPED_IN = "C0LEADS"


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator

    def cards(self) -> list[StoredMessage]:
        return cards(self.stack)

    async def care(self, user: str, text: str) -> Ephemeral:
        before = len(self.stack.slack.ephemerals(user))
        response = await self.sim.slash_command(user, text=text, channel_id=TYPED_IN)
        assert response.status == 200
        assert response.elapsed < 3
        await self.stack.slack.wait_for(lambda: len(self.stack.slack.ephemerals(user)) > before)
        return self.stack.slack.ephemerals(user)[-1]


@pytest.fixture(params=["http", "socket"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with sandbox() as stack:
        stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
        stack.x.add_mention("@acmehelp <b>where</b> is my refund & why", author_handle="eve")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            poll_interval="1s",
            agents=f"{AGENT},{OTHER},{LEAD}",
            leads=LEAD,
            timezone="Europe/Berlin",
        )
        socket_mode = request.param == "socket"
        async with (
            running_bot(settings, socket_mode=socket_mode, pacing_per_second=None) as bot,
            bot.simulator(stack.slack) as sim,
        ):
            world = World(stack, bot, sim)
            await stack.slack.wait_for(lambda: len(world.cards()) == 2)
            yield world


async def claim_and_reply(world: World) -> None:
    card = next(m for m in world.cards() if "dana" in m.text)
    channel = world.stack.channel
    await world.sim.click(AGENT, channel=channel, ts=card.ts, action_id=ActionId.CLAIM)
    await world.stack.slack.wait_for(
        lambda: "<@U0AGENT1>" in str(world.stack.slack.message(channel, card.ts).blocks)
    )
    before = set(world.stack.slack.views)
    await world.sim.click(AGENT, channel=channel, ts=card.ts, action_id=ActionId.REPLY)
    await world.stack.slack.wait_for(lambda: bool(set(world.stack.slack.views) - before))
    (view_id,) = set(world.stack.slack.views) - before
    sent = await world.sim.submit_view(
        AGENT,
        view_id=view_id,
        values={
            BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: "So sorry, Dana! Check your DMs."},
            BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: []},
        },
    )
    assert sent.body["response_action"] == "update"


async def test_a_lead_sees_the_digest_and_shares_it(world: World) -> None:
    await claim_and_reply(world)
    answer = await world.care(LEAD, "digest today")
    assert answer.source == "response_url"
    shown = str(answer.blocks)
    assert "Care digest: Today" in shown
    assert "*Received*\\n2" in shown
    assert "*Replied*\\n1" in shown
    assert "*Still open*\\n1" in shown
    assert "<@U0AGENT1>: claimed 1 · replied 1" in shown
    assert "@eve" in shown  # the open case, among the oldest
    assert "Europe/Berlin" in shown
    assert world.stack.slack.violations == []

    share = StoredMessage(
        channel=TYPED_IN, ts=answer.message_ts, text=answer.text, blocks=answer.blocks, user=""
    )
    response = await world.sim.click(
        LEAD, channel=TYPED_IN, ts=answer.message_ts, action_id=ActionId.SHARE_DIGEST, seen=share
    )
    assert response.status == 200
    slack = world.stack.slack
    # The digest, and after it the charts as a PNG uploaded with Slack's upload flow.
    await slack.wait_for(lambda: len(slack.channel_messages(TYPED_IN)) == 2)
    (posted,) = [m for m in slack.channel_messages(TYPED_IN) if not m.files]
    (charts,) = [m for m in slack.channel_messages(TYPED_IN) if m.files]
    (file,) = charts.files
    assert file["mimetype"] == "image/png"
    assert file["title"] == "Care digest charts: Today"
    png = slack.uploads.files[file["id"]].data
    assert png is not None
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert [c.method for c in slack.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    public = str(posted.blocks)
    assert "*Received*\\n2" in public
    assert "*Replied*\\n1" in public
    assert "Shared by <@U0LEAD1>" in public
    assert ActionId.SHARE_DIGEST not in public
    assert world.stack.slack.violations == []


async def test_non_leads_are_refused_politely(world: World) -> None:
    answer = await world.care(AGENT, "digest")
    assert "Sorry, digests are for Carebot leads" in answer.text
    assert answer.blocks == []


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("bogus", "unknown command 'bogus'"),
        ("digest fortnight", "unknown period 'fortnight'; use today, 24h, 7d or 30d"),
        ("queue now", "takes nothing after it, but got 'now'"),
    ],
)
async def test_bad_input_gets_usage_naming_the_bad_part(
    world: World, typed: str, named: str
) -> None:
    answer = await world.care(AGENT, typed)
    assert named in answer.text
    assert "/care digest [today|24h|7d|30d]" in answer.text


async def test_queue_and_mine(world: World) -> None:
    await claim_and_reply(world)
    queue = await world.care(OTHER, "queue")
    assert "@eve" in str(queue.blocks)
    assert "&lt;b&gt;where&lt;/b&gt;" in str(queue.blocks)  # customer text is escaped
    assert "@dana" not in str(queue.blocks)  # replied: not waiting any more
    mine = await world.care(OTHER, "mine")
    assert "You have no open cases." in str(mine.blocks)
    assert world.stack.slack.violations == []


async def test_app_home_opened_publishes_a_valid_home(world: World) -> None:
    card = next(m for m in world.cards() if "eve" in m.text)
    await world.sim.click(OTHER, channel=world.stack.channel, ts=card.ts, action_id=ActionId.CLAIM)
    # Slack's answer comes at ack(); the claim lands just after it, and the card shows when.
    await world.stack.slack.wait_for(
        lambda: f"<@{OTHER}>" in str(world.stack.slack.message(world.stack.channel, card.ts).blocks)
    )
    response = await world.sim.app_home_opened(OTHER)
    assert response.status == 200
    await world.stack.slack.wait_for(lambda: OTHER in world.stack.slack.home_views)
    home = world.stack.slack.home_views[OTHER]
    assert home.type == "home"
    shown = str(home.blocks)
    assert "*Your open cases* (1)" in shown
    assert "@eve" in shown
    assert "Today's SLA attainment" in shown
    assert world.stack.slack.violations == []
