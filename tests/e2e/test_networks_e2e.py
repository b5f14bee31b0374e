"""The core loop on Bluesky and Mastodon, end to end, on SQLite and PostgreSQL: a mention becomes a
card, an agent claims it and replies through the modal, the reply goes out on that network in the
thread, the customer's follow-up joins the same case, an untouched mention is nagged, and the
digest counts each network. The real bot runs against the sandbox Slack, X, Bluesky and Mastodon
over loopback; the networks' fakes are driven by the real atproto and Mastodon.py clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from bot.blocks.ids import ActionId, BlockId
from bot.sandbox.bluesky import BskyPost
from bot.sandbox.mastodon import MastoStatus
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox, running_bot, sandbox
from bot.sources.bluesky import post_uri
from storage.models import Case, Reply
from tests.e2e.helpers import bot_with_simulator, cards

AGENT, LEAD = "U0AGENT1", "U0LEAD1"
WARNING = ":hourglass_flowing_sand:"
FAST = {
    "poll_interval": "1s",
    "sla_first_response": "12s",
    "sla_urgent": "12s",
    "sla_check_interval": "1s",
}


@dataclass
class Network:
    """How a test speaks to one network's fake."""

    key: str
    label: str
    mention: Callable[[Sandbox, str, str], Any]
    follow_up: Callable[[Sandbox, str, str, str], Any]  # (stack, reply id, handle, text)
    sent: Callable[[Sandbox], list[dict[str, Any]]]
    in_reply_to: Callable[[dict[str, Any]], str]
    customer_post_id: Callable[[Any], str]


def _bsky_mention(stack: Sandbox, handle: str, text: str) -> BskyPost:
    return stack.bluesky.add_mention(f"@{stack.bluesky.brand.handle} {text}", author_handle=handle)


def _bsky_follow_up(stack: Sandbox, reply_id: str, handle: str, text: str) -> BskyPost:
    return stack.bluesky.add_post(
        text, author_handle=handle, reply_to=stack.bluesky.posts[post_uri(reply_id)]
    )


def _masto_mention(stack: Sandbox, handle: str, text: str) -> MastoStatus:
    return stack.mastodon.add_mention(f"@acme {text}", author=f"{handle}@social.example")


def _masto_follow_up(stack: Sandbox, reply_id: str, handle: str, text: str) -> MastoStatus:
    return stack.mastodon.add_status(
        f"@acme {text}", author=f"{handle}@social.example", in_reply_to=reply_id
    )


NETWORKS = [
    Network(
        key="bluesky",
        label="Bluesky",
        mention=_bsky_mention,
        follow_up=_bsky_follow_up,
        sent=lambda stack: [r["record"] for r in stack.bluesky.created_records],
        in_reply_to=lambda record: str(record["reply"]["parent"]["uri"]),
        customer_post_id=lambda post: str(post.uri),
    ),
    Network(
        key="mastodon",
        label="Mastodon",
        mention=_masto_mention,
        follow_up=_masto_follow_up,
        sent=lambda stack: stack.mastodon.posted,
        in_reply_to=lambda body: str(body["in_reply_to_id"]),
        customer_post_id=lambda status: str(status.id),
    ),
]


def card_for(stack: Sandbox, handle: str) -> StoredMessage:
    (card,) = [m for m in cards(stack) if handle in str(m.blocks)]
    return stack.slack.message(stack.channel, card.ts)


def thread_text(stack: Sandbox, card: StoredMessage) -> str:
    return "\n".join(m.text for m in stack.slack.thread(stack.channel, card.ts))


@pytest.mark.parametrize("network", NETWORKS, ids=[n.key for n in NETWORKS])
async def test_the_core_loop_on_each_network(network: Network, db_url: str) -> None:
    async with sandbox(networks=("x", "bluesky", "mastodon")) as stack:
        first = network.mention(stack, "dana", "my parcel is lost")
        network.mention(stack, "eve", "where is my refund?")
        settings = stack.settings(db_url, agents=f"{AGENT},{LEAD}", leads=LEAD, **FAST)
        async with bot_with_simulator(stack, settings) as (bot, sim):
            await stack.slack.wait_for(lambda: len(cards(stack)) == 2, timeout=20)
            dana = card_for(stack, "@dana")
            assert f"*{network.label}*" in str(dana.blocks)
            assert f"View on {network.label}" in str(dana.blocks)

            # Claim.
            await sim.click(AGENT, channel=stack.channel, ts=dana.ts, action_id=ActionId.CLAIM)
            await stack.slack.wait_for(
                lambda: f"<@{AGENT}>" in str(card_for(stack, "@dana").blocks)
            )

            # Reply through the modal: it goes out on the case's network, under the post.
            before = set(stack.slack.views)
            await sim.click(AGENT, channel=stack.channel, ts=dana.ts, action_id=ActionId.REPLY)
            await stack.slack.wait_for(lambda: bool(set(stack.slack.views) - before))
            (view_id,) = set(stack.slack.views) - before
            assert network.label in str(stack.slack.views[view_id].payload)
            submitted = await sim.submit_view(
                AGENT,
                view_id=view_id,
                values={
                    BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: "So sorry, Dana! Checking now."},
                    BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: []},
                },
            )
            assert submitted.body["response_action"] == "update", submitted.body
            (sent,) = network.sent(stack)
            assert network.in_reply_to(sent) == network.customer_post_id(first)
            assert stack.x.posted_replies == []
            await stack.slack.wait_for(
                lambda: f"replied on {network.label}" in thread_text(stack, dana)
            )
            await stack.slack.wait_for(lambda: "Replied" in str(card_for(stack, "@dana").blocks))

            # The customer answers in the thread: the same case, echoed in the card's thread.
            async with bot.runtime.sessions() as s:
                query = select(Case).where(Case.author_handle.contains("dana"))
                dana_case_id = (await s.scalars(query)).one().id
                (reply,) = (await s.scalars(select(Reply))).all()
            assert reply.external_id is not None
            network.follow_up(stack, reply.external_id, "dana", "it was the blue one")
            await stack.slack.wait_for(
                lambda: "it was the blue one" in thread_text(stack, dana), timeout=15
            )
            async with bot.runtime.sessions() as s:
                all_cases = (await s.scalars(select(Case))).all()
                again = await s.get(Case, dana_case_id)
            assert len(all_cases) == 2
            assert again is not None
            assert again.message_count == 2

            # Eve's mention stays untouched: the ladder warns in its thread.
            eve = card_for(stack, "@eve")
            await stack.slack.wait_for(
                lambda: any(
                    m.text.startswith(WARNING) for m in stack.slack.thread(stack.channel, eve.ts)
                ),
                timeout=25,
            )

            # The digest counts the cases by network.
            await sim.slash_command(LEAD, text="digest today", channel_id="C0LEADS")
            await stack.slack.wait_for(lambda: bool(stack.slack.ephemerals(LEAD)))
            shown = str(stack.slack.ephemerals(LEAD)[-1].blocks)
            assert f"{network.label} 2" in shown
            assert "*Replied*\\n1" in shown

            # The App Home counts the open cases by network too (Dana wrote again: both open).
            response = await sim.app_home_opened(AGENT)
            assert response.status == 200
            await stack.slack.wait_for(lambda: AGENT in stack.slack.home_views)
            home = str(stack.slack.home_views[AGENT].blocks)
            assert f"Open by network: {network.label} 2" in home
            assert stack.slack.violations == []


async def test_mastodon_mentions_arrive_through_the_stream_between_polls(tmp_path: Any) -> None:
    async with sandbox(networks=("mastodon",)) as stack:
        earlier = stack.mastodon.add_mention("@acme posted while the bot was down", author="kim")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            poll_interval="1h",
            x_bearer_token=None,
            x_api_key=None,
        )
        async with running_bot(settings, pacing_per_second=None):
            # The stream's first connection wakes one poll: the backfill finds the old mention.
            await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=20)
            assert f"/{earlier.id}" in str(cards(stack)[0].blocks)
            await stack.slack.wait_for(lambda: stack.mastodon.stream_count == 1, timeout=10)
            polls = sum(
                1 for _, path, _ in stack.mastodon.requests if path.endswith("/notifications")
            )
            streamed = stack.mastodon.add_mention("@acme is anyone there?", author="lee")
            # The next poll is an hour away: only the stream can bring this card.
            await stack.slack.wait_for(lambda: len(cards(stack)) == 2, timeout=20)
            assert f"/{streamed.id}" in str(cards(stack)[-1].blocks)
            after = sum(
                1 for _, path, _ in stack.mastodon.requests if path.endswith("/notifications")
            )
            assert after == polls
