"""Ownership and replies, end to end: Slack requests from the simulator to the real bot, which
talks to the sandbox Slack and X over loopback. Every test runs twice: over HTTP (signed requests)
and over Socket Mode (envelopes on the sandbox Slack's WebSocket, answered by acks)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.blocks.ids import ActionId, BlockId
from bot.sandbox.simulator import SimResponse, SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, running_bot, sandbox
from storage.models import Case, CaseStatus, Reply, ReplyState
from tests.e2e.helpers import only_case

AGENTS = ["U0AGENT1", "U0AGENT2", "U0LEAD1"] + [f"U0CROWD{i:02d}" for i in range(50)]


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator
    card: StoredMessage
    tweet_id: str

    async def click(self, user: str, action: ActionId, *, stale: bool = False) -> SimResponse:
        return await self.sim.click(
            user,
            channel=self.stack.channel,
            ts=self.card.ts,
            action_id=action,
            seen=self.card if stale else None,
        )

    def current_card(self) -> StoredMessage:
        return self.stack.slack.message(self.stack.channel, self.card.ts)

    def thread_text(self) -> str:
        return "\n".join(m.text for m in self.stack.slack.thread(self.stack.channel, self.card.ts))

    async def case(self) -> Case:
        return await only_case(self.bot)

    async def wait(self, predicate: Any, seconds: float = 10) -> None:
        await self.stack.slack.wait_for(predicate, timeout=seconds)


@pytest.fixture(params=["http", "socket"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with sandbox() as stack:
        tweet = stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            poll_interval="1s",
            agents=",".join(AGENTS),
            leads="U0LEAD1",
        )
        socket_mode = request.param == "socket"
        async with running_bot(settings, socket_mode=socket_mode, pacing_per_second=None) as bot:
            await stack.slack.wait_for(
                lambda: any(m.metadata for m in stack.slack.channel_messages(stack.channel))
            )
            live = next(m for m in stack.slack.channel_messages(stack.channel) if m.metadata)
            card = copy.deepcopy(live)  # the card as every client first drew it
            async with bot.simulator(stack.slack) as sim:
                yield World(stack, bot, sim, card, tweet.id)


def ephemeral_texts(world: World, user: str) -> list[str]:
    return [e.text or "" for e in world.stack.slack.ephemerals(user)]


async def test_first_claim_wins_and_the_second_is_told(world: World) -> None:
    first = await world.click("U0AGENT1", ActionId.CLAIM)
    assert first.status == 200
    await world.wait(lambda: "<@U0AGENT1>" in str(world.current_card().blocks))
    await world.wait(lambda: "claimed" in world.thread_text())
    second = await world.click("U0AGENT2", ActionId.CLAIM, stale=True)
    assert second.status == 200
    await world.wait(lambda: bool(ephemeral_texts(world, "U0AGENT2")))
    assert "<@U0AGENT1>" in ephemeral_texts(world, "U0AGENT2")[0]
    case = await world.case()
    assert case.owner == "U0AGENT1"
    assert "<@U0AGENT1>" in str(world.current_card().blocks)


async def test_fifty_concurrent_claims_make_exactly_one_owner(world: World) -> None:
    crowd = [f"U0CROWD{i:02d}" for i in range(50)]
    responses = await asyncio.gather(
        *(world.click(user, ActionId.CLAIM, stale=True) for user in crowd)
    )
    assert all(r.status == 200 for r in responses)
    # The answers come at ack(); the claims finish just after, and the winner's line shows it.
    await world.wait(lambda: "claimed" in world.thread_text(), seconds=20)
    case = await world.case()
    assert case.owner in crowd
    losers = [u for u in crowd if u != case.owner]
    await world.wait(lambda: all(ephemeral_texts(world, u) for u in losers), seconds=20)
    for user in losers:
        assert f"<@{case.owner}>" in ephemeral_texts(world, user)[0]
    claimed_lines = [line for line in world.thread_text().splitlines() if "claimed" in line]
    assert len(claimed_lines) == 1


async def open_reply_modal(world: World, user: str = "U0AGENT1") -> str:
    before = set(world.stack.slack.views)
    response = await world.click(user, ActionId.REPLY)
    assert response.status == 200
    await world.wait(lambda: set(world.stack.slack.views) - before)
    (view_id,) = set(world.stack.slack.views) - before
    return view_id


async def submit_reply(
    world: World, view_id: str, text: str, user: str = "U0AGENT1"
) -> SimResponse:
    return await world.sim.submit_view(
        user,
        view_id=view_id,
        values={
            BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: text},
            BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: []},
        },
    )


async def test_reply_goes_out_once_and_shows_on_the_card(world: World) -> None:
    view_id = await open_reply_modal(world)
    text = "Sorry about that, Dana! We've sent you a DM to sort it out."
    # A double click: two submissions of the same modal, in flight together.
    first, second = await asyncio.gather(
        submit_reply(world, view_id, text), submit_reply(world, view_id, text)
    )
    assert first.status == second.status == 200
    answers = [first.body, second.body]
    assert any(a["response_action"] == "update" and "Reply sent" in str(a["view"]) for a in answers)
    posted = world.stack.x.posted_replies
    assert len(posted) == 1
    assert posted[0]["text"] == text
    assert posted[0]["in_reply_to_tweet_id"] == world.tweet_id
    await world.wait(lambda: "sent you a DM" in world.thread_text())
    await world.wait(lambda: "Replied" in str(world.current_card().blocks))
    case = await world.case()
    assert case.status == CaseStatus.REPLIED
    assert case.owner == "U0AGENT1"  # replying to an unclaimed case claims it
    assert case.first_response_at is not None
    assert world.thread_text().count("sent you a DM") == 1


@pytest.mark.parametrize(
    ("text", "x_failure", "message"),
    [
        ("x" * 300, None, "limit is 280"),
        ("   ", None, "empty"),
        ("We're on it!", 403, "X refused"),
        # A 5xx may come after X stored the post: tests/e2e/test_reply_faults.py covers it.
        ("We're on it!", 429, "rate-limiting"),
    ],
)
async def test_failed_reply_keeps_the_text_and_the_case_unreplied(
    world: World, text: str, x_failure: int | None, message: str
) -> None:
    if x_failure:
        # X's window resets at once, so the resend below is not held back by the rate-limit
        # headroom (bot/sources/x_meter.py), which waits for the reset X names.
        # Only the reply's POST fails: the compliance job's GET /2/tweets?ids= may run meanwhile.
        world.stack.x.fail_next("/2/tweets", x_failure, reset_in=0, method="POST")
    view_id = await open_reply_modal(world)
    response = await submit_reply(world, view_id, text)
    assert response.status == 200
    assert response.body["response_action"] == "errors"
    error = response.body["errors"][BlockId.REPLY_TEXT]
    assert message in error
    assert not world.stack.slack.views[view_id].closed  # the modal, and the text in it, stay
    assert world.stack.x.posted_replies == []
    case = await world.case()
    assert case.status == CaseStatus.OPEN
    assert case.first_response_at is None
    if x_failure:
        async with world.bot.runtime.sessions() as s:
            reply = (await s.scalars(select(Reply))).one()
        assert reply.state == ReplyState.FAILED
        assert reply.text == text
        # The agent fixes nothing and presses Send again: it goes out this time.
        retry = await submit_reply(world, view_id, text)
        assert retry.body["response_action"] == "update"
        assert len(world.stack.x.posted_replies) == 1


async def test_outsiders_cannot_claim_reply_or_resolve(world: World) -> None:
    for action in (ActionId.CLAIM, ActionId.REPLY, ActionId.RESOLVE):
        response = await world.click("U0OUTSIDER", action)
        assert response.status == 200
    await world.wait(lambda: len(ephemeral_texts(world, "U0OUTSIDER")) == 3)
    assert world.stack.slack.views == {}
    case = await world.case()
    assert case.owner is None
    assert case.status == CaseStatus.OPEN


async def test_release_resolve_and_reopen(world: World) -> None:
    await world.click("U0AGENT1", ActionId.CLAIM)
    await world.wait(lambda: ActionId.RELEASE in str(world.current_card().blocks))
    await world.click("U0AGENT2", ActionId.RELEASE)  # not the owner, not a lead
    await world.wait(lambda: bool(ephemeral_texts(world, "U0AGENT2")))
    assert (await world.case()).owner == "U0AGENT1"
    await world.click("U0LEAD1", ActionId.RELEASE)  # a lead may
    await world.wait(lambda: "Unclaimed" in str(world.current_card().blocks))
    assert (await world.case()).owner is None

    before = set(world.stack.slack.views)
    await world.click("U0AGENT2", ActionId.RESOLVE)  # unclaimed: any agent may resolve
    await world.wait(lambda: set(world.stack.slack.views) - before)
    (view_id,) = set(world.stack.slack.views) - before
    done = await world.sim.submit_view(
        "U0AGENT2",
        view_id=view_id,
        values={BlockId.RESOLVE_REASON: {ActionId.RESOLVE_REASON: "spam"}},
    )
    assert done.status == 200
    await world.wait(lambda: ActionId.REOPEN in str(world.current_card().blocks))
    case = await world.case()
    assert case.status == CaseStatus.RESOLVED
    assert case.resolved_by == "U0AGENT2"
    await world.wait(lambda: "resolved" in world.thread_text() and "Spam" in world.thread_text())

    await world.click("U0AGENT1", ActionId.REOPEN)
    await world.wait(lambda: ActionId.CLAIM in str(world.current_card().blocks))
    assert (await world.case()).status == CaseStatus.OPEN


async def test_unsigned_requests_are_rejected(world: World) -> None:
    if world.bot.socket_mode:
        pytest.skip("Socket Mode has no signatures: the app token opened the WebSocket")
    response = await world.sim.click(
        "U0AGENT1",
        channel=world.stack.channel,
        ts=world.card.ts,
        action_id=ActionId.CLAIM,
        sign=False,
    )
    assert response.status == 401
    assert (await world.case()).owner is None


async def test_an_unexpected_error_gets_a_reference_and_changes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(**_: object) -> None:
        raise RuntimeError("database on fire")

    deps = world.bot.runtime.deps
    assert deps is not None
    # The thing under test is the error path, so the service is made to fail on purpose.
    monkeypatch.setattr(deps.ownership, "claim", broken)
    response = await world.click("U0AGENT1", ActionId.CLAIM)
    assert response.status == 200  # acknowledged: the button does not spin
    await world.wait(lambda: bool(ephemeral_texts(world, "U0AGENT1")))
    text = ephemeral_texts(world, "U0AGENT1")[0]
    assert "reference" in text
    reference = text.split("reference ")[1].split(")")[0]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)
    assert "database on fire" not in text
    assert (await world.case()).owner is None
