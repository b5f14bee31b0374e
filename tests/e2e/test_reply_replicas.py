"""One submission, two replicas: the same signed view submission reaches two real bots sharing one
PostgreSQL database at once (a load balancer retrying on the other replica), and also once more
after a stall on X. The sandbox X holds one post, the thread says it once."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.blocks.ids import ActionId, BlockId
from bot.sandbox.simulator import SlackSimulator, form_body, signed_headers
from bot.sandbox.stack import SIGNING_SECRET, Sandbox, running_bot
from storage.models import Reply, ReplyState
from tests.conftest import POSTGRES_URL

AGENT = "U0AGENT1"
TEXT = "Thanks for waiting, Dana: your refund is on its way."

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="CAREBOT_TEST_POSTGRES_URL is not set (CI sets it)"
)


def submission(stack: Sandbox, view_id: str) -> bytes:
    view = dict(stack.slack.views[view_id].payload)
    view["state"] = {
        "values": {
            BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: {"type": "plain_text_input", "value": TEXT}},
            BlockId.RESOLVE_AFTER: {
                ActionId.RESOLVE_AFTER: {"type": "checkboxes", "selected_options": []}
            },
        }
    }
    return form_body(
        {
            "type": "view_submission",
            "team": {"id": "T0SANDBOX", "domain": "sandbox"},
            "user": {"id": AGENT, "username": "agent", "name": "agent", "team_id": "T0SANDBOX"},
            "api_app_id": "A0SANDBOX",
            "token": "verification",
            "trigger_id": stack.slack.issue_trigger_id(AGENT),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
    )


async def test_one_submission_to_two_replicas_posts_once(stack: Sandbox, pg_url: str) -> None:
    stack.x.add_mention("@acmehelp where is my refund?", author_handle="dana")
    settings = stack.settings(pg_url, poll_interval="1s")
    async with (
        running_bot(settings, pacing_per_second=None) as one,
        running_bot(settings, pacing_per_second=None) as two,
    ):
        await stack.slack.wait_for(
            lambda: any(m.metadata for m in stack.slack.channel_messages(stack.channel)), 15
        )
        card = next(m for m in stack.slack.channel_messages(stack.channel) if m.metadata)
        async with SlackSimulator(
            stack.slack, events_url=one.events_url, signing_secret=SIGNING_SECRET
        ) as sim:
            await sim.click(AGENT, channel=stack.channel, ts=card.ts, action_id=ActionId.REPLY)
            await stack.slack.wait_for(lambda: bool(stack.slack.views))
        (view_id,) = stack.slack.views
        body = submission(stack, view_id)
        headers = signed_headers(SIGNING_SECRET, body)
        async with aiohttp.ClientSession() as http:

            async def post(url: str) -> dict[str, Any]:
                async with http.post(url, data=body, headers=headers) as response:
                    assert response.status == 200
                    answer: dict[str, Any] = await response.json()
                    return answer

            answers = list(await asyncio.gather(post(one.events_url), post(two.events_url)))
            answers.append(await post(two.events_url))
        assert [p["text"] for p in stack.x.posted_replies] == [TEXT]
        assert any("Reply sent" in str(a.get("view")) for a in answers)

        def thread() -> str:
            return "\n".join(m.text for m in stack.slack.thread(stack.channel, card.ts))

        await stack.slack.wait_for(lambda: "replied on X" in thread(), 10)
        await asyncio.sleep(1.0)  # both replicas' settlers have run by now
        assert thread().count("replied on X") == 1
        assert one.runtime.deps is not None
        async with one.runtime.sessions() as s:
            replies = list(await s.scalars(select(Reply)))
        assert [r.state for r in replies] == [ReplyState.SENT]
        assert not replies[0].thread_due
