"""Mentions into Slack, end to end: the real bot against the sandbox X and Slack over loopback."""

from __future__ import annotations

from pathlib import Path

from bot.blocks.ids import ActionId
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox, running_bot
from tests.e2e.helpers import cards


def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'carebot.db'}"


def action_ids(message: StoredMessage) -> set[str]:
    found: set[str] = set()
    for block in message.blocks or []:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                found.add(element["action_id"])
    return found


async def test_25_mentions_make_exactly_25_cards(stack: Sandbox, tmp_path: Path) -> None:
    tweets = [
        stack.x.add_mention(f"@acmehelp order {i} never arrived", author_handle=f"cust{i}")
        for i in range(25)
    ]
    settings = stack.settings(db(tmp_path), poll_interval="1s")
    async with running_bot(settings, pacing_per_second=None):
        await stack.slack.wait_for(lambda: len(cards(stack)) >= 25, timeout=20)
        polls = stack.x.mention_requests
        await stack.slack.wait_for(lambda: stack.x.mention_requests >= polls + 3, timeout=10)
    posted = cards(stack)
    assert len(posted) == 25
    by_text = {m.text: m for m in posted}
    for i, tweet in enumerate(tweets):
        card = next(m for m in posted if f"order {i} never" in str(m.blocks))
        assert {ActionId.CLAIM, ActionId.REPLY} <= action_ids(card)
        assert f"@cust{i}" in str(card.blocks)
        assert tweet.id in str(card.blocks)  # the link to the post
    assert by_text  # every card has a plain-text fallback
    assert all(m.text for m in posted)
    assert stack.slack.violations == []


async def test_follow_up_goes_to_the_cards_thread(stack: Sandbox, tmp_path: Path) -> None:
    first = stack.x.add_mention("@acmehelp my router is broken", author_handle="dana")
    settings = stack.settings(db(tmp_path), poll_interval="1s")
    async with running_bot(settings, pacing_per_second=None):
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
        stack.x.add_mention(
            "@acmehelp still broken, please help",
            author_handle="dana",
            conversation_id=first.conversation_id,
            in_reply_to=first.id,
        )
        card = cards(stack)[0]
        await stack.slack.wait_for(
            lambda: len(stack.slack.thread(stack.channel, card.ts)) >= 1, timeout=15
        )
        await stack.slack.wait_for(
            lambda: "2 messages" in str(stack.slack.message(stack.channel, card.ts).blocks),
            timeout=15,
        )
    assert len(cards(stack)) == 1
    thread = stack.slack.thread(stack.channel, card.ts)
    assert "still broken" in thread[0].text
