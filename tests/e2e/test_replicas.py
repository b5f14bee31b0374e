"""Replicas, end to end: two real bots in this process sharing one PostgreSQL database and one
sandbox. N mentions make exactly N cards, one replica polls at a time, and when the one doing the
work shuts down the other takes over at once (ARCHITECTURE rule 7); likewise one replica holds
Mastodon's stream."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import select

from bot.sandbox.stack import RunningBot, Sandbox, running_bot, sandbox
from storage.models import Lease
from tests.conftest import POSTGRES_URL
from tests.e2e.helpers import assert_one_card_each, cards

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="CAREBOT_TEST_POSTGRES_URL is not set (CI sets it)"
)


async def lease_holders(bot: RunningBot) -> dict[str, str]:
    assert bot.runtime.deps is not None
    async with bot.runtime.sessions() as s:
        return {lease.name: lease.holder for lease in await s.scalars(select(Lease))}


async def one_poller_at_a_time(stack: Sandbox) -> None:
    """Check the mentions timeline is asked about once a second, not once per replica."""
    polls, started = stack.x.mention_requests, time.monotonic()
    await stack.slack.wait_for(lambda: stack.x.mention_requests >= polls + 4, timeout=10)
    # Two pollers on a 1 s interval would make these four requests in about two seconds.
    assert time.monotonic() - started >= 2.5


async def test_two_replicas_make_each_card_once_and_poll_one_at_a_time(
    stack: Sandbox, pg_url: str
) -> None:
    settings = stack.settings(pg_url, poll_interval="1s")
    tweets = stack.x.add_mentions(30)
    async with AsyncExitStack() as bots:
        first = await bots.enter_async_context(running_bot(settings, pacing_per_second=None))
        second = await bots.enter_async_context(running_bot(settings, pacing_per_second=None))
        await stack.slack.wait_for(lambda: len(cards(stack)) >= 30, timeout=20)
        tweets += [
            stack.x.add_mention(f"@acmehelp late {i}", author_handle=f"late{i}") for i in range(5)
        ]
        await stack.slack.wait_for(lambda: len(cards(stack)) >= 35, timeout=15)
        await one_poller_at_a_time(stack)
        holders = await lease_holders(first)
        assert set(holders) == {"poll:x", f"delivery:{stack.channel}"}
        assert set(holders.values()) <= {first.runtime.holder, second.runtime.holder}
        assert first.runtime.delivery is not None
        assert second.runtime.delivery is not None
        posted = [
            first.runtime.delivery.stats.cards_posted,
            second.runtime.delivery.stats.cards_posted,
        ]
        assert sorted(posted) == [0, 35]
    assert_one_card_each(stack, tweets)
    assert stack.slack.violations == []


async def test_when_the_working_replica_stops_the_other_takes_over(
    stack: Sandbox, pg_url: str
) -> None:
    settings = stack.settings(pg_url, poll_interval="1s")
    tweets = [stack.x.add_mention("@acmehelp early", author_handle="early")]
    # The worker starts alone, so it holds both leases; it is stopped while the standby runs on.
    async with AsyncExitStack() as worker_lifetime:
        worker = await worker_lifetime.enter_async_context(
            running_bot(settings, pacing_per_second=None)
        )
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
        async with running_bot(settings, pacing_per_second=None) as standby:
            assert set((await lease_holders(standby)).values()) == {worker.runtime.holder}
            await worker_lifetime.aclose()
            tweets += [
                stack.x.add_mention(f"@acmehelp after {i}", author_handle=f"after{i}")
                for i in range(5)
            ]
            # The worker released its leases on shutdown: nobody waits for them to expire.
            await stack.slack.wait_for(lambda: len(cards(stack)) == 6, timeout=8)
            assert set((await lease_holders(standby)).values()) == {standby.runtime.holder}
    assert_one_card_each(stack, tweets)


async def test_one_replica_streams_mastodon_and_the_other_takes_over(pg_url: str) -> None:
    async with sandbox(networks=("mastodon",)) as stack:
        # Polls an hour apart: between them, only a stream brings a mention.
        settings = stack.settings(pg_url, poll_interval="1h", x_bearer_token=None, x_api_key=None)
        async with AsyncExitStack() as worker_lifetime:
            worker = await worker_lifetime.enter_async_context(
                running_bot(settings, pacing_per_second=None)
            )
            await stack.slack.wait_for(lambda: stack.mastodon.stream_count == 1, timeout=15)
            async with running_bot(settings, pacing_per_second=None) as standby:
                await asyncio.sleep(2)  # the standby has tried the lease by now, more than once
                assert stack.mastodon.stream_count == 1
                holders = await lease_holders(standby)
                assert holders["stream:mastodon"] == worker.runtime.holder
                await worker_lifetime.aclose()
                # Released on shutdown: the standby streams without waiting for it to lapse.
                for _ in range(100):
                    holders = await lease_holders(standby)
                    if holders.get("stream:mastodon") == standby.runtime.holder:
                        break
                    await asyncio.sleep(0.1)
                assert holders["stream:mastodon"] == standby.runtime.holder
                streamed = stack.mastodon.add_mention("@acme anyone there?", author="lee")
                await stack.slack.wait_for(
                    lambda: any(f"/{streamed.id}" in str(m.blocks) for m in cards(stack)),
                    timeout=15,
                )
