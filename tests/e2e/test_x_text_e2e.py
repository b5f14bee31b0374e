"""X's escaped text end to end: a post with `&`, `<` and `>` arrives escaped from (the sandbox) X,
is unescaped once at the adapter, and shows as typed on the card, in its thread and in the digest;
a reply quoting it is measured on the text as typed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.text import escape_mrkdwn
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import Ephemeral, StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, sandbox
from bot.sources.x_text import x_weighted_length
from storage.models import Case, CaseMessage
from tests.e2e.helpers import bot_with_simulator

LEAD = "U0LEAD1"
TYPED = "@acmehelp AT&T billed me <twice> & I'm >:( about it"
FOLLOW_UP = "@acmehelp still AT&T <-> you & nobody answers"


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator

    def card(self) -> StoredMessage:
        return next(m for m in self.stack.slack.channel_messages(self.stack.channel) if m.metadata)

    def thread(self) -> str:
        return "\n".join(
            m.text for m in self.stack.slack.thread(self.stack.channel, self.card().ts)
        )

    async def care(self, text: str) -> Ephemeral:
        before = len(self.stack.slack.ephemerals(LEAD))
        response = await self.sim.slash_command(LEAD, text=text, channel_id="C0LEADS")
        assert response.status == 200
        await self.stack.slack.wait_for(lambda: len(self.stack.slack.ephemerals(LEAD)) > before)
        return self.stack.slack.ephemerals(LEAD)[-1]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with sandbox() as stack:
        stack.x.add_mention(TYPED, author_handle="dana")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", poll_interval="1s", agents=LEAD, leads=LEAD
        )
        async with bot_with_simulator(stack, settings) as (bot, sim):
            world = World(stack, bot, sim)
            await stack.slack.wait_for(
                lambda: any(m.metadata for m in stack.slack.channel_messages(stack.channel))
            )
            yield world


async def test_escaped_text_shows_as_typed_everywhere(world: World) -> None:
    # What X sent really was escaped, so this test would see a double escape.
    assert "AT&amp;T" in str(world.stack.x.tweets[next(iter(world.stack.x.tweets))].to_json(set()))
    card = world.card()
    # mrkdwn escapes once (Slack shows `&amp;` as `&`); a second escape would show `&amp;` itself.
    assert escape_mrkdwn(TYPED) in str(card.blocks)
    assert "&amp;amp;" not in str(card.blocks)
    assert "&amp;lt;" not in str(card.blocks)
    assert "AT&amp;T billed me &lt;twice&gt;" in card.text
    first = world.stack.x.tweets[next(iter(world.stack.x.tweets))]
    world.stack.x.add_mention(FOLLOW_UP, author_handle="dana", in_reply_to=first)
    await world.stack.slack.wait_for(lambda: "wrote again" in world.thread(), timeout=15)
    assert escape_mrkdwn("still AT&T <-> you & nobody answers") in world.thread()
    assert "&amp;amp;" not in world.thread()
    digest = await world.care("digest 24h")
    queue = await world.care("queue")
    for answer in (digest, queue):
        shown = str(answer.blocks) + (answer.text or "")
        assert "AT&amp;T billed me &lt;twice&gt;" in shown
        assert "&amp;amp;" not in shown
    async with world.bot.runtime.sessions() as s:
        case = (await s.scalars(select(Case))).one()
        texts = sorted((await s.scalars(select(CaseMessage.text))).all())
    assert case.text == TYPED
    assert texts == sorted([TYPED, FOLLOW_UP])


async def test_a_reply_quoting_the_post_is_measured_as_typed(world: World) -> None:
    quoted = '"AT&T billed me <twice>" & more: '
    reply = quoted + "x" * (280 - len(quoted))
    assert x_weighted_length(reply) == 280
    # Escaped, as X sends the post, the same reply would count 294 and be refused.
    assert x_weighted_length(escape_mrkdwn(reply)) > 280
    before = set(world.stack.slack.views)
    card = world.card()
    press = await world.sim.click(
        LEAD, channel=world.stack.channel, ts=card.ts, action_id=ActionId.REPLY
    )
    assert press.status == 200
    await world.stack.slack.wait_for(lambda: bool(set(world.stack.slack.views) - before))
    (view_id,) = set(world.stack.slack.views) - before
    answer = await world.sim.submit_view(
        LEAD,
        view_id=view_id,
        values={
            BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: reply},
            BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: []},
        },
    )
    assert answer.status == 200
    assert "Reply sent" in str(answer.body)
    assert [p["text"] for p in world.stack.x.posted_replies] == [reply]
    await world.stack.slack.wait_for(lambda: "x" * 20 in world.thread())
    assert escape_mrkdwn(quoted) in world.thread()
