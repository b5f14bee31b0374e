"""The sandbox's Socket Mode, checked with slack_sdk's own Socket Mode client (the one Bolt's
AsyncSocketModeHandler uses): apps.connections.open and its errors, hello, envelopes and acks
with response payloads, Events API retries, disconnect reasons and dropped connections."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.simulator import NOT_ACKED, SlackSimulator
from bot.sandbox.slack import FakeSlack
from bot.sandbox.socket_mode import APP_TOKEN, SocketModeUnavailable

Ack = dict[str, Any] | None


async def connect(client: SocketModeClient) -> None:
    """Connect slack_sdk's own Socket Mode client (its methods are not annotated)."""
    await client.connect()  # type: ignore[no-untyped-call]


async def close(client: SocketModeClient) -> None:
    """Close slack_sdk's own Socket Mode client."""
    await client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


def web_client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(base_url=fake.api_url)


class App:
    """A slack_sdk Socket Mode client that records what it hears and acks with `answer`."""

    def __init__(self, fake: FakeSlack, answer: Ack = None, *, ack: bool = True) -> None:
        self.client = SocketModeClient(
            app_token=APP_TOKEN, web_client=web_client(fake), ping_interval=0.2
        )
        self.messages: list[dict[str, Any]] = []
        self.requests: list[SocketModeRequest] = []
        self.answer = answer
        self.ack = ack
        self.client.message_listeners.append(self._on_message)
        self.client.socket_mode_request_listeners.append(self._on_request)

    async def _on_message(self, _client: Any, message: dict[str, Any], _raw: str | None) -> None:
        self.messages.append(message)

    async def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        self.requests.append(request)
        if self.ack:
            await client.send_socket_mode_response(
                SocketModeResponse(envelope_id=request.envelope_id, payload=self.answer)
            )


@pytest.fixture
async def app(fake: FakeSlack) -> AsyncIterator[App]:
    connected = App(fake)
    await connect(connected.client)
    await fake.socket_mode.wait_connected()
    yield connected
    await close(connected.client)


async def test_connections_open_gives_a_loopback_websocket_url(fake: FakeSlack) -> None:
    response = await web_client(fake).apps_connections_open(app_token=APP_TOKEN)
    assert response["ok"] is True
    assert response["url"].startswith(f"ws://127.0.0.1:{fake.base_url.rsplit(':', 1)[1]}/link/?")
    assert "ticket=" in response["url"]
    assert "app_id=A0CAREBOT" in response["url"]


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("xoxb-sandbox", "not_allowed_token_type"),
        ("xapp-1-A0CAREBOT-1-wrong", "invalid_auth"),
    ],
)
async def test_connections_open_refuses_tokens_slack_refuses(
    fake: FakeSlack, token: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        await web_client(fake).apps_connections_open(app_token=token)
    assert refused.value.response["error"] == error


async def test_connections_open_wants_the_token_in_the_header(fake: FakeSlack) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{fake.api_url}apps.connections.open", data={"token": APP_TOKEN}
        ) as response:
            assert (await response.json())["error"] == "not_authed"
        async with http.post(f"{fake.api_url}apps.connections.open") as response:
            assert (await response.json())["error"] == "not_authed"


async def test_a_revoked_app_token_is_invalid_auth(fake: FakeSlack) -> None:
    fake.socket_mode.revoke_app_token()
    with pytest.raises(SlackApiError) as refused:
        await web_client(fake).apps_connections_open(app_token=APP_TOKEN)
    assert refused.value.response["error"] == "invalid_auth"


async def test_a_ticket_opens_one_connection(fake: FakeSlack) -> None:
    url = (await web_client(fake).apps_connections_open(app_token=APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        hello = json.loads((await ws.receive()).data)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url)
        assert refused.value.status == 401
    assert hello["type"] == "hello"
    assert hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": "A0CAREBOT"}
    assert set(hello["debug_info"]) == {"host", "build_number", "approximate_connection_time"}


async def test_hello_counts_the_apps_connections(fake: FakeSlack, app: App) -> None:
    second = App(fake)
    await connect(second.client)
    await fake.socket_mode.wait_connected(2)
    try:
        await fake.wait_for(lambda: any(m.get("type") == "hello" for m in second.messages))
        hello = next(m for m in second.messages if m.get("type") == "hello")
        assert hello["num_connections"] == 2
    finally:
        await close(second.client)


async def test_an_interactive_envelope_and_its_ack_payload(fake: FakeSlack) -> None:
    errors = {"response_action": "errors", "errors": {"reply": "Too long"}}
    listener = App(fake, answer=errors)
    await connect(listener.client)
    await fake.socket_mode.wait_connected()
    try:
        payload = {"type": "view_submission", "view": {"id": "V1"}}
        ack = await fake.socket_mode.deliver("interactive", payload)
    finally:
        await close(listener.client)
    assert ack.acked
    assert ack.attempts == 1
    assert ack.payload == errors
    (request,) = listener.requests
    assert request.type == "interactive"
    assert request.payload == payload
    assert request.accepts_response_payload is True
    assert request.envelope_id == ack.envelope_id
    assert fake.socket_mode.protocol_errors == []


async def test_block_actions_and_events_accept_no_response_payload(
    fake: FakeSlack, app: App
) -> None:
    await fake.socket_mode.deliver("interactive", {"type": "block_actions", "actions": []})
    await fake.socket_mode.deliver("events_api", {"type": "event_callback", "event": {}})
    await fake.socket_mode.deliver("slash_commands", {"command": "/care", "text": ""})
    accepts = [r.accepts_response_payload for r in app.requests]
    assert accepts == [False, False, True]
    assert app.requests[1].retry_attempt == 0


async def test_an_unacked_event_is_sent_again_with_its_retry_reason(fake: FakeSlack) -> None:
    silent = App(fake, ack=False)
    await connect(silent.client)
    await fake.socket_mode.wait_connected()
    try:
        ack = await fake.socket_mode.deliver(
            "events_api", {"type": "event_callback"}, ack_seconds=0.1
        )
    finally:
        await close(silent.client)
    assert not ack.acked
    assert ack.attempts == 4
    assert [(r.retry_attempt, r.retry_reason) for r in silent.requests] == [
        (0, ""),
        (1, "timeout"),
        (2, "timeout"),
        (3, "timeout"),
    ]


async def test_an_unacked_interaction_is_not_retried(fake: FakeSlack) -> None:
    silent = App(fake, ack=False)
    await connect(silent.client)
    await fake.socket_mode.wait_connected()
    try:
        ack = await fake.socket_mode.deliver(
            "interactive", {"type": "block_actions"}, ack_seconds=0.1
        )
    finally:
        await close(silent.client)
    assert not ack.acked
    assert ack.attempts == 1
    assert len(silent.requests) == 1


async def test_nothing_to_deliver_on_without_a_connection(fake: FakeSlack) -> None:
    with pytest.raises(SocketModeUnavailable):
        await fake.socket_mode.deliver("interactive", {"type": "block_actions"})
    with pytest.raises(ValueError, match="unknown envelope type"):
        await fake.socket_mode.deliver("hello", {})


async def test_refresh_requested_makes_slack_sdk_reconnect(fake: FakeSlack, app: App) -> None:
    (first,) = await fake.socket_mode.disconnect("refresh_requested", grace=5)
    await fake.socket_mode.wait_connected(opened=2)
    await fake.wait_for(lambda: not first.open)
    assert first.told == ["refresh_requested"]
    ack = await fake.socket_mode.deliver("interactive", {"type": "block_actions"})
    assert ack.acked
    assert ack.connection == fake.socket_mode.connections[-1].id


async def test_warning_closes_the_connection_after_the_grace(fake: FakeSlack, app: App) -> None:
    (first,) = await fake.socket_mode.disconnect("warning", grace=0.05)
    await fake.wait_for(lambda: not first.open)
    assert first.close_code is not None


async def test_link_disabled_closes_at_once(fake: FakeSlack) -> None:
    url = (await web_client(fake).apps_connections_open(app_token=APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.receive()  # hello
        await fake.socket_mode.wait_connected()
        await fake.socket_mode.disconnect("link_disabled")
        told = json.loads((await ws.receive()).data)
        closing = await ws.receive()
    assert told == {
        "type": "disconnect",
        "reason": "link_disabled",
        "debug_info": told["debug_info"],
    }
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_a_dropped_connection_is_noticed_and_slack_sdk_reconnects(
    fake: FakeSlack, app: App
) -> None:
    (dropped,) = fake.socket_mode.drop()
    assert not dropped.open
    await fake.socket_mode.wait_connected(opened=2, seconds=15)
    ack = await fake.socket_mode.deliver("interactive", {"type": "block_actions"})
    assert ack.acked


async def test_an_outage_refuses_connections_open_too(fake: FakeSlack) -> None:
    fake.start_outage()
    with pytest.raises(SlackApiError) as refused:
        await web_client(fake).apps_connections_open(app_token=APP_TOKEN)
    assert refused.value.response.status_code == 503


async def test_the_simulator_sends_a_slash_command_and_shows_its_ack_answer(
    fake: FakeSlack,
) -> None:
    answering = App(fake, answer={"text": "Only you see this"})
    await connect(answering.client)
    await fake.socket_mode.wait_connected()
    try:
        async with SlackSimulator(fake, socket_mode=True) as sim:
            response = await sim.slash_command("U0ANA", text="help", channel_id="C0CARE")
    finally:
        await close(answering.client)
    assert response.status == 200
    assert response.body == {"text": "Only you see this"}
    (request,) = answering.requests
    assert request.type == "slash_commands"
    assert request.payload["command"] == "/care"
    assert request.payload["text"] == "help"
    assert [(e.user, e.text) for e in fake.ephemerals()] == [("U0ANA", "Only you see this")]


async def test_the_simulator_reports_an_envelope_nobody_acked(fake: FakeSlack) -> None:
    silent = App(fake, ack=False)
    await connect(silent.client)
    await fake.socket_mode.wait_connected()
    fake.add_channel("C0CARE")
    message = fake.post_as_user("C0CARE", "U0ANA", "hi")
    message.blocks = [
        {
            "type": "actions",
            "block_id": "b",
            "elements": [
                {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
            ],
        }
    ]
    try:
        async with SlackSimulator(fake, socket_mode=True) as sim:
            fake.socket_mode.ack_seconds = 0.1  # rather than Slack's 3 s
            response = await sim.click("U0ANA", channel="C0CARE", ts=message.ts, action_id="go")
    finally:
        await close(silent.client)
    assert response.status == NOT_ACKED
    assert response.body == ""
