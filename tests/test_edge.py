"""The HTTP edge and `guarded`: signatures checked before decoding, bad bodies refused with a
clear status, form bodies decoded exactly as Bolt would, and Slack answered at `ack()` while the
listener's work goes on (and is waited for at shutdown)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.request.internals import parse_body
from slack_sdk.web.async_client import AsyncWebClient

from bot.edge import EVENTS_PATH, FORM, form_as_json, slack_events_handler
from bot.errors import CaseClosed
from bot.inflight import InFlight
from bot.sandbox.simulator import SimResponse, SlackSimulator, form_body
from bot.sandbox.slack import FakeSlack
from bot.sandbox.stack import free_port

SECRET = "edge-test-secret"
CHANNEL = "C0CARE"


def click_body(action_id: str, user: str = "U0AGENT1") -> bytes:
    """Return a minimal block_actions form body, as Slack sends it."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T0CARE"},
        "team": {"id": "T0CARE"},
        "api_app_id": "A0CAREBOT",
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "channel_id": CHANNEL, "message_ts": "1.000001"},
        "trigger_id": "1.2.abc",
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": "7"}],
    }
    return form_body(payload)


@dataclass
class Probe:
    """A listener that acks and then waits until the test lets it finish."""

    finish: asyncio.Event = field(default_factory=asyncio.Event)
    acked: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    async def on_probe(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        self.acked.append(body["user"]["id"])
        await self.finish.wait()
        self.finished.append(body["user"]["id"])


@dataclass
class Edge:
    sim: SlackSimulator
    fake: FakeSlack
    probe: Probe
    in_flight: InFlight

    async def post(self, body: bytes, **kwargs: Any) -> SimResponse:
        return await self.sim.send(body, content_type=FORM, **kwargs)


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    from handlers.listener import guarded

    async with FakeSlack(signing_secret=SECRET) as fake:
        fake.add_channel(CHANNEL, name="social-care")
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        bolt = AsyncApp(
            client=client,
            request_verification_enabled=False,
            process_before_response=True,
            logger=logging.getLogger("test.bolt"),
        )
        in_flight = InFlight()
        probe = Probe()

        async def inject(context: AsyncBoltContext, next: Any) -> None:
            context["deps"] = _Deps(in_flight)
            await next()

        async def on_closed(ack: AsyncAck) -> None:
            raise CaseClosed()

        bolt.middleware(inject)
        bolt.action("probe")(guarded(probe.on_probe))
        bolt.action("closed")(guarded(on_closed))
        app = web.Application()
        app.router.add_post(EVENTS_PATH, slack_events_handler(bolt, SECRET))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
        try:
            async with SlackSimulator(fake, events_url=url, signing_secret=SECRET) as sim:
                yield Edge(sim=sim, fake=fake, probe=probe, in_flight=in_flight)
        finally:
            probe.finish.set()
            await in_flight.drain(5)
            await runner.cleanup()


@dataclass(frozen=True)
class _Deps:
    in_flight: InFlight


def test_form_bodies_decode_exactly_as_bolt_decodes_them() -> None:
    interactivity = click_body("probe").decode()
    assert json.loads(form_as_json(interactivity)) == parse_body(interactivity, FORM)
    command = urlencode(
        {"command": "/care", "text": "digest 7d & more ✓", "user_id": "U1", "response_url": ""}
    )
    assert json.loads(form_as_json(command)) == parse_body(command, FORM)
    assert json.loads(form_as_json("text=a+b%2Bc&empty=")) == {"text": "a b+c", "empty": ""}


async def test_slack_gets_its_answer_at_ack_while_the_work_goes_on(edge: Edge) -> None:
    response = await edge.post(click_body("probe"))
    assert response.status == 200
    assert edge.probe.acked == ["U0AGENT1"]
    assert edge.probe.finished == []  # answered before the listener finished
    assert len(edge.in_flight) == 1
    edge.probe.finish.set()
    assert await edge.in_flight.drain(5) == 0
    assert edge.probe.finished == ["U0AGENT1"]


async def test_shutdown_cancels_listeners_that_outlive_the_drain(edge: Edge) -> None:
    assert (await edge.post(click_body("probe"))).status == 200
    assert await edge.in_flight.drain(0.05) == 1
    assert len(edge.in_flight) == 0
    assert edge.probe.finished == []


async def test_a_refusal_before_ack_still_answers_200_and_tells_the_user(edge: Edge) -> None:
    response = await edge.post(click_body("closed", user="U0AGENT2"))
    assert response.status == 200  # the button does not spin
    await edge.fake.wait_for(lambda: bool(edge.fake.ephemerals("U0AGENT2")))
    assert edge.fake.ephemerals("U0AGENT2")[0].text == CaseClosed().user_message


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"sign": False}, "unsigned"),
        ({"secret": "someone-else"}, "wrong secret"),
        ({"timestamp": int(time.time()) - 6 * 60}, "replayed after 6 minutes"),
    ],
)
async def test_requests_not_signed_by_slack_are_refused_before_anything_runs(
    edge: Edge, kwargs: dict[str, Any], why: str
) -> None:
    response = await edge.post(click_body("probe"), **kwargs)
    assert response.status == 401, why
    assert response.body == {"error": "invalid request"}
    assert edge.probe.acked == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"payload=%7Bnot+json", "body is not JSON"),
        (b"payload=\xff\xfe", "body is not UTF-8"),
    ],
)
async def test_signed_but_malformed_bodies_get_400_and_change_nothing(
    edge: Edge, body: bytes, error: str
) -> None:
    response = await edge.post(body)
    assert response.status == 400
    assert response.body == {"error": error}
    assert edge.probe.acked == []
    assert len(edge.in_flight) == 0
