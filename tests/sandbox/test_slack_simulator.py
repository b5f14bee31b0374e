"""SlackSimulator against a tiny signature-checking aiohttp server standing in for the bot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import FakeSlack

SECRET = "test-signing-secret"
CHANNEL = "C0CARE"


@dataclass
class Bot:
    """A stand-in bot: verifies Slack signatures, records bodies, answers with `reply`."""

    verifier: SignatureVerifier
    bodies: list[str] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    rejected: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one request the way a Bolt app would."""
        raw = await request.text()
        if not self.verifier.is_valid_request(raw, dict(request.headers)):
            self.rejected += 1
            return web.json_response({"error": "invalid request"}, status=401)
        self.bodies.append(raw)
        if self.reply is None:
            return web.Response(status=200)
        return web.json_response(self.reply)

    def payload(self) -> dict[str, Any]:
        """Decode the last interactivity body (`payload=<json>`)."""
        parsed: dict[str, Any] = json.loads(parse_qs(self.bodies[-1])["payload"][0])
        return parsed


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


@pytest.fixture
async def bot() -> AsyncIterator[tuple[Bot, str]]:
    handler = Bot(verifier=SignatureVerifier(SECRET))
    app = web.Application()
    app.router.add_post("/slack/events", handler.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield handler, f"http://{host}:{port}/slack/events"
    await runner.cleanup()


@pytest.fixture
async def sim(fake: FakeSlack, bot: tuple[Bot, str]) -> AsyncIterator[SlackSimulator]:
    async with SlackSimulator(fake, events_url=bot[1], signing_secret=SECRET) as simulator:
        yield simulator


def card_blocks() -> list[dict[str, Any]]:
    """Return a card with Claim and Reply buttons."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*@alice* where is my order?"}},
        {
            "type": "actions",
            "block_id": "case_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "case_claim",
                    "text": {"type": "plain_text", "text": "Claim"},
                    "value": "case-1",
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "case_reply",
                    "text": {"type": "plain_text", "text": "Reply"},
                    "value": "case-1",
                },
            ],
        },
    ]


async def post_card(fake: FakeSlack) -> str:
    """Post a card through the Web API and return its ts."""
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    posted = await client.chat_postMessage(
        channel=CHANNEL, text="New mention", blocks=card_blocks()
    )
    return str(posted["ts"])


def option(value: str) -> dict[str, Any]:
    """Return an option whose label is its value."""
    return {"text": {"type": "plain_text", "text": value}, "value": value}


def reply_modal() -> dict[str, Any]:
    """Return a modal with a text input, checkboxes and a static select."""
    return {
        "type": "modal",
        "callback_id": "reply_modal",
        "private_metadata": "case-1",
        "title": {"type": "plain_text", "text": "Reply"},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reply",
                "label": {"type": "plain_text", "text": "Reply"},
                "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
            },
            {
                "type": "input",
                "block_id": "flags",
                "optional": True,
                "label": {"type": "plain_text", "text": "Flags"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "pick",
                    "options": [option("resolve"), option("urgent")],
                },
            },
            {
                "type": "input",
                "block_id": "tone",
                "optional": True,
                "label": {"type": "plain_text", "text": "Tone"},
                "element": {
                    "type": "static_select",
                    "action_id": "choose",
                    "options": [option("friendly"), option("formal")],
                },
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Internal note"},
                "element": {"type": "plain_text_input", "action_id": "note"},
            },
        ],
    }


async def open_modal(fake: FakeSlack, user_id: str) -> str:
    """Open the reply modal for `user_id` and return its view id."""
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    opened = await client.views_open(trigger_id=fake.issue_trigger_id(user_id), view=reply_modal())
    return str(opened["view"]["id"])


async def test_click_sends_a_signed_block_actions_payload(
    fake: FakeSlack, bot: tuple[Bot, str], sim: SlackSimulator
) -> None:
    handler, _ = bot
    ts = await post_card(fake)
    response = await sim.click("U0ALICE", channel=CHANNEL, ts=ts, action_id="case_claim")
    assert response.status == 200
    assert response.body == ""
    assert response.elapsed > 0
    assert "Content-Length" in response.headers
    payload = handler.payload()
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0ALICE"
    assert payload["team"]["id"] == fake.team_id
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert payload["channel"]["id"] == CHANNEL
    assert payload["message"]["ts"] == ts
    assert payload["message"]["blocks"] == card_blocks()
    action = payload["actions"][0]
    assert action["action_id"] == "case_claim"
    assert action["block_id"] == "case_actions"
    assert action["value"] == "case-1"
    assert action["type"] == "button"
    assert payload["response_url"].startswith(fake.base_url + "/response/")

    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    opened = await client.views_open(trigger_id=payload["trigger_id"], view=reply_modal())
    assert fake.views[opened["view"]["id"]].user_id == "U0ALICE"


async def test_click_uses_the_current_card(fake: FakeSlack, sim: SlackSimulator) -> None:
    ts = await post_card(fake)
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    claimed = card_blocks()
    claimed[1]["elements"] = claimed[1]["elements"][1:]
    await client.chat_update(channel=CHANNEL, ts=ts, text="Claimed", blocks=claimed)
    with pytest.raises(AssertionError, match=r"no button with action_id 'case_claim'.*case_reply"):
        await sim.click("U0ALICE", channel=CHANNEL, ts=ts, action_id="case_claim")
    with pytest.raises(AssertionError, match="no message"):
        await sim.click("U0ALICE", channel=CHANNEL, ts="1.000001", action_id="case_claim")


async def test_submit_view_types_state_values(
    fake: FakeSlack, bot: tuple[Bot, str], sim: SlackSimulator
) -> None:
    handler, _ = bot
    view_id = await open_modal(fake, "U0ALICE")
    response = await sim.submit_view(
        "U0ALICE",
        view_id=view_id,
        values={
            "reply": {"text": "Sorry! DM us your order number."},
            "flags": {"pick": ["urgent"]},
            "tone": {"choose": "formal"},
        },
    )
    assert response.status == 200
    payload = handler.payload()
    assert payload["type"] == "view_submission"
    view = payload["view"]
    assert view["id"] == view_id
    assert view["callback_id"] == "reply_modal"
    assert view["private_metadata"] == "case-1"
    assert view["hash"] == fake.views[view_id].hash
    values = view["state"]["values"]
    assert values["reply"]["text"] == {
        "type": "plain_text_input",
        "value": "Sorry! DM us your order number.",
    }
    assert values["flags"]["pick"] == {
        "type": "checkboxes",
        "selected_options": [{"text": {"type": "plain_text", "text": "urgent"}, "value": "urgent"}],
    }
    assert values["tone"]["choose"]["selected_option"]["value"] == "formal"
    assert values["note"]["note"] == {"type": "plain_text_input", "value": None}
    assert fake.views[view_id].closed, "an empty 200 closes the modal"


async def test_untouched_inputs_submit_their_initial_values_as_slack_does(
    fake: FakeSlack, bot: tuple[Bot, str], sim: SlackSimulator
) -> None:
    handler, _ = bot
    modal = reply_modal()
    reply, flags, tone, _note = modal["blocks"]
    reply["element"]["initial_value"] = "Hi Dana,"
    flags["element"]["initial_options"] = [option("resolve")]
    tone["element"]["initial_option"] = option("friendly")
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    submissions: tuple[tuple[dict[str, dict[str, Any]], tuple[str, list[str], str]], ...] = (
        ({}, ("Hi Dana,", ["resolve"], "friendly")),  # submitted as shown
        (
            {"reply": {"text": "Hi!"}, "flags": {"pick": []}, "tone": {"choose": "formal"}},
            ("Hi!", [], "formal"),  # typed over, unticked, changed
        ),
    )
    for values, expected in submissions:
        opened = await client.views_open(trigger_id=fake.issue_trigger_id("U0ALICE"), view=modal)
        await sim.submit_view("U0ALICE", view_id=str(opened["view"]["id"]), values=values)
        state = handler.payload()["view"]["state"]["values"]
        assert (
            state["reply"]["text"]["value"],
            [o["value"] for o in state["flags"]["pick"]["selected_options"]],
            state["tone"]["choose"]["selected_option"]["value"],
        ) == expected


async def test_submit_view_keeps_modal_open_on_errors(
    fake: FakeSlack, bot: tuple[Bot, str], sim: SlackSimulator
) -> None:
    handler, _ = bot
    handler.reply = {"response_action": "errors", "errors": {"reply": "Too long for X"}}
    view_id = await open_modal(fake, "U0ALICE")
    response = await sim.submit_view("U0ALICE", view_id=view_id, values={"reply": {"text": "x"}})
    assert response.body == handler.reply
    assert not fake.views[view_id].closed


async def test_submit_view_rejects_unknown_inputs_and_options(
    fake: FakeSlack, sim: SlackSimulator
) -> None:
    view_id = await open_modal(fake, "U0ALICE")
    with pytest.raises(AssertionError, match="no input reply/body"):
        await sim.submit_view("U0ALICE", view_id=view_id, values={"reply": {"body": "x"}})
    with pytest.raises(AssertionError, match="no option 'casual'"):
        await sim.submit_view("U0ALICE", view_id=view_id, values={"tone": {"choose": "casual"}})
    with pytest.raises(AssertionError, match="no view V404"):
        await sim.submit_view("U0ALICE", view_id="V404", values={})


async def test_slash_command_is_form_encoded(
    fake: FakeSlack, bot: tuple[Bot, str], sim: SlackSimulator
) -> None:
    handler, _ = bot
    handler.reply = {"response_type": "ephemeral", "text": "usage"}
    response = await sim.slash_command("U0LEAD", text="digest 7d", channel_id=CHANNEL)
    assert response.status == 200
    assert response.body == {"response_type": "ephemeral", "text": "usage"}
    fields = {k: v[0] for k, v in parse_qs(handler.bodies[-1]).items()}
    assert fields["command"] == "/care"
    assert fields["text"] == "digest 7d"
    assert fields["user_id"] == "U0LEAD"
    assert fields["channel_id"] == CHANNEL
    assert fields["team_id"] == fake.team_id
    assert fields["response_url"].startswith(fake.base_url + "/response/")
    assert fields["trigger_id"]


async def test_events_are_wrapped_in_event_callback(
    fake: FakeSlack, bot: tuple[Bot, str], sim: SlackSimulator
) -> None:
    handler, _ = bot
    await sim.app_home_opened("U0ALICE")
    envelope = json.loads(handler.bodies[-1])
    assert envelope["type"] == "event_callback"
    assert envelope["team_id"] == fake.team_id
    assert envelope["api_app_id"] == "A0CAREBOT"
    assert envelope["event"]["type"] == "app_home_opened"
    assert envelope["event"]["user"] == "U0ALICE"
    assert envelope["event"]["tab"] == "home"
    assert envelope["authorizations"][0]["user_id"] == fake.bot_user_id
    await sim.event({"type": "app_mention", "user": "U0ALICE", "text": "hi", "channel": CHANNEL})
    second = json.loads(handler.bodies[-1])
    assert second["event_id"] != envelope["event_id"]
    assert second["event"]["event_ts"]


async def test_unsigned_or_wrongly_signed_requests_are_rejected(
    fake: FakeSlack, bot: tuple[Bot, str], sim: SlackSimulator
) -> None:
    handler, _ = bot
    ts = await post_card(fake)
    unsigned = await sim.click(
        "U0ALICE", channel=CHANNEL, ts=ts, action_id="case_claim", sign=False
    )
    wrong = await sim.slash_command("U0ALICE", secret="not-the-secret")
    stale = await sim.send(b"{}", content_type="application/json", timestamp=1)
    assert (unsigned.status, wrong.status, stale.status) == (401, 401, 401)
    assert handler.rejected == 3
    assert handler.bodies == []
