"""Replies under fire, end to end: the sandbox X stores a post and then fails, stalls past the
client's timeout, fails before storing, or refuses; the agent closes the modal, a colleague takes
the case, Slack retries, a signed request is replayed. Every test counts the posts the sandbox X
holds and checks what the card, its thread and the agent's modal and direct messages say."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.blocks.ids import ActionId, BlockId
from bot.clock import Clock
from bot.sandbox.simulator import SimResponse, SlackSimulator, form_body, signed_headers
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import SIGNING_SECRET, RunningBot, Sandbox, running_bot, sandbox
from bot.settings import Settings
from bot.sources.registry import SourceRegistry
from bot.sources.x import XSource
from storage.engine import SessionFactory
from storage.models import Case, CaseStatus, Reply, ReplyState
from tests.e2e.helpers import only_case

AGENT, COLLEAGUE, LEAD = "U0AGENT1", "U0AGENT2", "U0LEAD1"
TEXT = "Sorry about that, Dana! A new parcel is on its way."
# Short stand-ins for X's 15 s client timeout and 20 s visibility delay, so a test takes seconds.
CLIENT_TIMEOUT = 1.0
VISIBLE_AFTER = timedelta(seconds=3)
PENDING_GRACE = timedelta(seconds=2)


def x_with_timeout(
    timeout: float,
) -> Callable[[Settings, SessionFactory, Clock], SourceRegistry]:
    """Build the real X adapter with a client timeout short enough for a test."""

    def build(settings: Settings, _sessions: SessionFactory, _clock: Clock) -> SourceRegistry:
        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value is not None else None

        source = XSource(
            api_url=settings.x_api_url,
            bearer_token=secret(settings.x_bearer_token),
            api_key=secret(settings.x_api_key),
            api_secret=secret(settings.x_api_secret),
            access_token=secret(settings.x_access_token),
            access_token_secret=secret(settings.x_access_token_secret),
            timeout=timeout,
        )
        return SourceRegistry.of([source])

    return build


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator
    card: StoredMessage
    tweet_id: str

    @property
    def x_posts(self) -> list[str]:
        return [p["text"] for p in self.stack.x.posted_replies]

    def current_card(self) -> str:
        return str(self.stack.slack.message(self.stack.channel, self.card.ts).blocks)

    def thread_text(self) -> str:
        return "\n".join(m.text for m in self.stack.slack.thread(self.stack.channel, self.card.ts))

    def dms(self, user: str = AGENT) -> str:
        return "\n".join(m.text for m in self.stack.slack.direct_messages(user))

    def modal(self, view_id: str) -> str:
        return str(self.stack.slack.views[view_id].payload)

    async def wait(self, predicate: Any, seconds: float = 15) -> None:
        await self.stack.slack.wait_for(predicate, timeout=seconds)

    async def click(self, user: str, action: ActionId) -> SimResponse:
        return await self.sim.click(
            user, channel=self.stack.channel, ts=self.card.ts, action_id=action, seen=self.card
        )

    async def open_modal(self, user: str = AGENT) -> str:
        before = set(self.stack.slack.views)
        assert (await self.click(user, ActionId.REPLY)).status == 200
        await self.wait(lambda: set(self.stack.slack.views) - before)
        (view_id,) = set(self.stack.slack.views) - before
        return view_id

    async def submit(self, view_id: str, text: str = TEXT, user: str = AGENT) -> SimResponse:
        return await self.sim.submit_view(
            user,
            view_id=view_id,
            values={
                BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: text},
                BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: []},
            },
        )

    async def case(self) -> Case:
        return await only_case(self.bot)

    async def replies(self) -> list[Reply]:
        async with self.bot.runtime.sessions() as s:
            return list(await s.scalars(select(Reply).order_by(Reply.id)))


@pytest.fixture
def client_timeout() -> float:
    return CLIENT_TIMEOUT


@pytest.fixture
async def world(tmp_path: Path, client_timeout: float) -> AsyncIterator[World]:
    async with sandbox() as stack:
        tweet = stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            poll_interval="1s",
            agents=f"{AGENT},{COLLEAGUE},{LEAD}",
            leads=LEAD,
        )
        async with running_bot(
            settings,
            pacing_per_second=None,
            source_factory=x_with_timeout(client_timeout),
            reply_pending_grace=PENDING_GRACE,
            reply_visible_after=VISIBLE_AFTER,
        ) as bot:
            await stack.slack.wait_for(
                lambda: any(m.metadata for m in stack.slack.channel_messages(stack.channel))
            )
            live = next(m for m in stack.slack.channel_messages(stack.channel) if m.metadata)
            async with SlackSimulator(
                stack.slack, events_url=bot.events_url, signing_secret=SIGNING_SECRET
            ) as sim:
                yield World(stack, bot, sim, copy.deepcopy(live), tweet.id)


def is_checking(response: SimResponse) -> bool:
    """The modal stays open with the text, and says it may be posted and is being checked."""
    if response.body["response_action"] != "errors":
        return False
    error = str(response.body["errors"][BlockId.REPLY_TEXT])
    return "did not confirm" in error and "don't send it again" in error


async def test_stored_then_503_is_found_and_shown_as_sent(world: World) -> None:
    world.stack.x.fail_after_storing(503)
    view_id = await world.open_modal()
    response = await world.submit(view_id)
    assert is_checking(response)
    assert "try again" not in str(response.body).lower()
    # Pressing Send again while X is being checked is refused, not sent.
    again = await world.submit(view_id)
    assert "could post twice" in again.body["errors"][BlockId.REPLY_TEXT]
    await world.wait(lambda: "went out on X after all" in world.dms())
    assert world.x_posts == [TEXT]
    await world.wait(lambda: "replied on X" in world.thread_text())
    await world.wait(lambda: "Replied" in world.current_card())
    assert "Reply sent" in world.modal(view_id)  # the open modal learnt it too
    (reply,) = await world.replies()
    assert reply.state == ReplyState.SENT
    assert reply.external_id == world.stack.x.posted_replies[0]["id"]
    case = await world.case()
    assert case.status == CaseStatus.REPLIED
    assert case.first_response_at is not None
    assert world.thread_text().count(TEXT.split("!")[0]) == 1


async def test_while_in_doubt_no_modal_can_send_again(world: World) -> None:
    world.stack.x.fail_after_storing(503)
    world.stack.x.timeline_delay = 2.0  # X shows the post in the brand's timeline late
    view_id = await world.open_modal()
    assert is_checking(await world.submit(view_id))
    # The agent (or a colleague, a lead) opens a fresh modal and sends the same text again.
    again = await world.submit(await world.open_modal(LEAD), user=LEAD)
    assert again.body["response_action"] == "errors"
    assert "could post twice" in again.body["errors"][BlockId.REPLY_TEXT]
    await world.wait(lambda: "went out on X after all" in world.dms())
    assert world.x_posts == [TEXT]
    await world.wait(lambda: "replied on X" in world.thread_text())
    assert world.dms(LEAD) == ""


async def test_stored_then_stalled_past_the_timeout_is_found(world: World) -> None:
    world.stack.x.stall_after_storing(CLIENT_TIMEOUT + 2)
    view_id = await world.open_modal()
    response = await world.submit(view_id)
    assert is_checking(response)
    await world.wait(lambda: "went out on X after all" in world.dms())
    await world.wait(lambda: "replied on X" in world.thread_text())
    await world.wait(lambda: "Replied" in world.current_card())
    assert world.x_posts == [TEXT]
    assert (await world.case()).status == CaseStatus.REPLIED


@pytest.mark.parametrize("client_timeout", [3.0])
async def test_a_timeout_after_the_ack_updates_the_modal_then_settles(world: World) -> None:
    world.stack.x.stall_after_storing(6.0)  # X stored it; its answer comes after the timeout
    view_id = await world.open_modal()
    response = await world.submit(view_id)
    assert "Sending your reply" in str(response.body["view"])
    await world.wait(lambda: "do not send it again" in world.modal(view_id))
    assert "Send" not in str(world.stack.slack.views[view_id].payload.get("submit"))
    await world.wait(lambda: "went out on X after all" in world.dms())
    await world.wait(lambda: "Reply sent" in world.modal(view_id))
    await world.wait(lambda: "replied on X" in world.thread_text())
    assert world.x_posts == [TEXT]


async def test_503_before_storing_is_settled_as_not_posted_and_resent_once(world: World) -> None:
    world.stack.x.fail_next("/2/tweets", 503, method="POST")  # not the compliance GET
    view_id = await world.open_modal()
    assert is_checking(await world.submit(view_id))
    await world.wait(lambda: "did not go out" in world.dms())
    dm = world.dms()
    assert TEXT in dm.replace("&gt; ", "").replace("> ", "")  # the text is never lost
    assert "sending it again is safe" in dm
    await world.wait(lambda: "did not go out on X" in world.thread_text())
    assert world.x_posts == []
    case = await world.case()
    assert case.status == CaseStatus.OPEN
    assert "Replied" not in world.current_card()
    # The modal was still open: it now holds the text again, with Send, and says it is safe.
    await world.wait(lambda: "Sending it again is safe" in world.modal(view_id))
    assert TEXT in world.modal(view_id)
    resent = await world.submit(view_id)
    assert resent.body["response_action"] == "update"
    assert "Reply sent" in str(resent.body["view"])
    assert world.x_posts == [TEXT]
    await world.wait(lambda: "replied on X" in world.thread_text())
    (reply,) = await world.replies()
    assert reply.state == ReplyState.SENT


async def test_403_is_refused_on_the_input_and_nothing_else(world: World) -> None:
    world.stack.x.fail_next("/2/tweets", 403, method="POST")  # not the compliance GET
    view_id = await world.open_modal()
    response = await world.submit(view_id)
    assert response.body["response_action"] == "errors"
    error = response.body["errors"][BlockId.REPLY_TEXT]
    assert error.startswith("Not posted, so sending again is safe.")
    assert not world.stack.slack.views[view_id].closed
    await asyncio.sleep(0.5)  # give a wrong announcement the time to appear
    assert world.x_posts == []
    assert world.dms() == ""
    assert "replied" not in world.thread_text()
    assert (await world.case()).status == CaseStatus.OPEN


@pytest.mark.parametrize("client_timeout", [10.0])
async def test_modal_closed_before_x_answered_tells_thread_and_agent(world: World) -> None:
    world.stack.x.stall_after_storing(3.0)  # slower than the 2 s ack budget, inside the timeout
    view_id = await world.open_modal()
    response = await world.submit(view_id)
    assert "Sending your reply" in str(response.body["view"])
    world.stack.slack.close_view(view_id)
    await world.wait(lambda: "went out on X" in world.dms())
    assert "after all" not in world.dms()
    await world.wait(lambda: "replied on X" in world.thread_text())
    await world.wait(lambda: "Replied" in world.current_card())
    assert world.x_posts == [TEXT]
    assert "something went wrong" not in world.dms().lower()
    assert world.stack.slack.ephemerals(AGENT) == []


@pytest.mark.parametrize("colleague_action", ["claim", "resolve"])
async def test_case_taken_while_typing_keeps_the_text(world: World, colleague_action: str) -> None:
    view_id = await world.open_modal()
    if colleague_action == "claim":
        assert (await world.click(COLLEAGUE, ActionId.CLAIM)).status == 200
        await world.wait(lambda: f"<@{COLLEAGUE}>" in world.current_card())
    else:
        deps = world.bot.runtime.deps
        assert deps is not None
        await deps.ownership.resolve(case_id=(await world.case()).id, user=LEAD, reason=None)
    response = await world.submit(view_id)
    assert response.body["response_action"] == "errors"
    error = response.body["errors"][BlockId.REPLY_TEXT]
    assert ("owns this case" in error) if colleague_action == "claim" else ("resolved" in error)
    assert not world.stack.slack.views[view_id].closed  # the text stays in the open modal
    assert world.x_posts == []


async def test_slack_retries_and_replayed_requests_post_once(world: World) -> None:
    view_id = await world.open_modal()
    stored = world.stack.slack.views[view_id]
    view = dict(stored.payload)
    view["state"] = {
        "values": {
            BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: {"type": "plain_text_input", "value": TEXT}},
            BlockId.RESOLVE_AFTER: {
                ActionId.RESOLVE_AFTER: {"type": "checkboxes", "selected_options": []}
            },
        }
    }
    payload = {
        "type": "view_submission",
        "team": {"id": "T0SANDBOX", "domain": "sandbox"},
        "user": {"id": AGENT, "username": "agent", "name": "agent", "team_id": "T0SANDBOX"},
        "api_app_id": "A0SANDBOX",
        "token": "verification",
        "trigger_id": world.stack.slack.issue_trigger_id(AGENT),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    body = form_body(payload)
    headers = signed_headers(SIGNING_SECRET, body)
    async with aiohttp.ClientSession() as http:

        async def post(extra: dict[str, str]) -> dict[str, Any]:
            async with http.post(
                world.bot.events_url, data=body, headers={**headers, **extra}
            ) as response:
                assert response.status == 200
                answer: dict[str, Any] = await response.json()
                return answer

        # The original and Slack's retry in flight together, then the same bytes replayed.
        answers = list(
            await asyncio.gather(
                post({}), post({"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
            )
        )
        answers.append(await post({}))
    assert world.x_posts == [TEXT]
    assert any("Reply sent" in str(a.get("view")) for a in answers)
    assert all(a.get("response_action") in {"update", "errors"} for a in answers)
    await world.wait(lambda: "replied on X" in world.thread_text())
    await asyncio.sleep(0.5)
    assert world.thread_text().count("replied on X") == 1
    assert len(await world.replies()) == 1


@pytest.mark.parametrize("client_timeout", [10.0])
async def test_refused_after_the_modal_closed_sends_the_text_by_dm(world: World) -> None:
    world.stack.x.stall_before_storing(3.0, status=403)  # a slow "no", after the 2 s ack
    view_id = await world.open_modal()
    response = await world.submit(view_id)
    assert "Sending your reply" in str(response.body["view"])
    world.stack.slack.close_view(view_id)
    await world.wait(lambda: "did not go out" in world.dms())
    dm = world.dms()
    assert TEXT in dm.replace("&gt; ", "").replace("> ", "")
    assert "sending it again is safe" in dm
    assert world.x_posts == []
    (reply,) = await world.replies()
    assert reply.state == ReplyState.FAILED
    assert (await world.case()).status == CaseStatus.OPEN
    assert "replied on X" not in world.thread_text()
