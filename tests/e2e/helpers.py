"""What the end-to-end tests read off the sandbox the same way: the cards in the channel (the
bot's messages that carry metadata), the one-card-per-mention check, the only case in a running
bot's database, and a running bot with a Slack simulator signing requests to it."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import SIGNING_SECRET, RunningBot, Sandbox, running_bot
from bot.sandbox.x import FakeTweet
from bot.settings import Settings
from storage.models import Case


def cards(stack: Sandbox) -> list[StoredMessage]:
    """Return the cards in the sandbox channel (every other bot post has no metadata)."""
    return [m for m in stack.slack.channel_messages(stack.channel) if m.metadata]


def assert_one_card_each(stack: Sandbox, tweets: list[FakeTweet]) -> None:
    """Assert that every tweet has exactly one card, and no case has two."""
    posted = cards(stack)
    per_case = Counter(m.metadata["event_payload"]["case_id"] for m in posted if m.metadata)
    assert [case for case, n in per_case.items() if n > 1] == []
    per_tweet = {t.id: sum(t.id in str(m.blocks) for m in posted) for t in tweets}
    assert {tweet: n for tweet, n in per_tweet.items() if n != 1} == {}
    assert len(posted) == len(tweets)


async def only_case(bot: RunningBot) -> Case:
    """Return the one case in the running bot's database."""
    async with bot.runtime.sessions() as s:
        return (await s.scalars(select(Case))).one()


@asynccontextmanager
async def bot_with_simulator(
    stack: Sandbox, settings: Settings, **options: Any
) -> AsyncIterator[tuple[RunningBot, SlackSimulator]]:
    """Run the bot (unpaced, `options` passed on) and a simulator that signs requests to it."""
    async with (
        running_bot(settings, pacing_per_second=None, **options) as bot,
        SlackSimulator(
            stack.slack, events_url=bot.events_url, signing_secret=SIGNING_SECRET
        ) as sim,
    ):
        yield bot, sim
