"""The edge never answers 500: malformed headers and bodies, signed or not, get 400 or 401 with a
JSON error. Named cases from the hardening issue, then a hypothesis fuzz of headers and bodies
against the real handler over loopback HTTP (a Bolt app behind `slack_events_handler`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.edge import EVENTS_PATH, FORM, MAX_NESTING, nests_deeper_than, slack_events_handler
from bot.sandbox.simulator import form_body, sign_request
from bot.sandbox.slack import FakeSlack
from bot.sandbox.stack import free_port

SECRET = "fuzz-secret"


@dataclass
class Edge:
    url: str
    http: aiohttp.ClientSession
    pressed: list[str]
    fake: FakeSlack

    async def post(
        self, body: bytes, headers: dict[str, str], content_type: str = FORM
    ) -> tuple[int, Any]:
        async with self.http.post(
            self.url, data=body, headers={"Content-Type": content_type, **headers}
        ) as response:
            text = await response.text()
            return response.status, text


async def _start() -> tuple[Edge, web.AppRunner]:
    fake = FakeSlack(signing_secret=SECRET)
    await fake.start()
    bolt = AsyncApp(
        client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
        request_verification_enabled=False,
        process_before_response=True,
        logger=logging.getLogger("test.fuzz.bolt"),
    )
    pressed: list[str] = []

    async def on_press(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        pressed.append(str(body.get("user", {}).get("id")))

    bolt.action("press")(on_press)
    app = web.Application()
    app.router.add_post(EVENTS_PATH, slack_events_handler(bolt, SECRET))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
    edge = Edge(url, aiohttp.ClientSession(), pressed, fake)
    return edge, runner


async def _stop(edge: Edge, runner: web.AppRunner) -> None:
    await edge.http.close()
    await runner.cleanup()
    await edge.fake.stop()


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    running, runner = await _start()
    try:
        yield running
    finally:
        await _stop(running, runner)


def signed(body: bytes, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or str(int(time.time()))
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign_request(SECRET, stamp, body),
    }


def press_body() -> bytes:
    return form_body(
        {
            "type": "block_actions",
            "user": {"id": "U0FUZZ"},
            "team": {"id": "T0FUZZ"},
            "actions": [{"action_id": "press", "block_id": "b", "type": "button", "value": "1"}],
        }
    )


@pytest.mark.parametrize("stamp", ["abc", "", "1e9", "9" * 5000, " 1", "+1700000000", "١٢٣", "-5"])
async def test_malformed_timestamps_are_unsigned_requests(edge: Edge, stamp: str) -> None:
    body = press_body()
    status, text = await edge.post(
        body,
        {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign_request(SECRET, "1", body)},
    )
    assert status == 401
    assert json.loads(text) == {"error": "invalid request"}
    assert edge.pressed == []


@pytest.mark.parametrize("signature", ["", "v0=", "v0=é" * 20, "v1=" + "0" * 64, "x" * 5000])
async def test_malformed_signatures_are_unsigned_requests(edge: Edge, signature: str) -> None:
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": signature}
    status, _ = await edge.post(press_body(), headers)
    assert status == 401


async def test_missing_headers_are_unsigned_requests(edge: Edge) -> None:
    status, _ = await edge.post(press_body(), {})
    assert status == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "application/json"),
        (form_body({"x": json.loads("[" * 500 + "]" * 500)}), FORM),
        (b"[1, 2]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"null", "application/json"),
        (b"payload=%5B%5D", FORM),
        (b"payload=42", FORM),
        (b'{"type": "block_actions", "actions": 5, "user": 7}', "application/json"),
    ],
)
async def test_signed_bodies_bolt_cannot_read_get_400(
    edge: Edge, body: bytes, content_type: str
) -> None:
    status, text = await edge.post(body, signed(body), content_type)
    assert status == 400, text
    assert "error" in json.loads(text)


async def test_a_well_formed_press_still_works(edge: Edge) -> None:
    body = press_body()
    status, _ = await edge.post(body, signed(body))
    assert status == 200
    assert edge.pressed == ["U0FUZZ"]


def test_nesting_is_measured_outside_strings() -> None:
    assert not nests_deeper_than('{"a": "' + "[" * 500 + '"}', MAX_NESTING)
    assert not nests_deeper_than('{"a": "\\"' + "[" * 500 + '"}', MAX_NESTING)
    assert nests_deeper_than("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1), MAX_NESTING)
    assert not nests_deeper_than("[" * MAX_NESTING + "]" * MAX_NESTING, MAX_NESTING)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
header_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\r\n"),
    max_size=80,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    # Interactivity-shaped: `payload=<any JSON>`, form-encoded.
    json_values.map(lambda v: urlencode({"payload": json.dumps(v)}).encode()),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "surrogatepass")
    ),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
)


@pytest.fixture(scope="module")
def running_edge() -> Iterator[tuple[asyncio.Runner, Edge]]:
    with asyncio.Runner() as runner:
        edge, app_runner = runner.run(_start())
        try:
            yield runner, edge
        finally:
            runner.run(_stop(edge, app_runner))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    sign=st.booleans(),
    stamp=st.one_of(st.none(), header_text, st.integers().map(str)),
    signature=st.one_of(st.none(), header_text),
    content_type=st.sampled_from([FORM, "application/json", "text/plain", "multipart/form-data"]),
)
def test_fuzz_the_edge_never_answers_500(
    running_edge: tuple[asyncio.Runner, Edge],
    body: bytes,
    sign: bool,
    stamp: str | None,
    signature: str | None,
    content_type: str,
) -> None:
    runner, edge = running_edge
    if sign:
        headers = signed(body)
    else:
        headers = {}
        if stamp is not None:
            headers["X-Slack-Request-Timestamp"] = stamp
        if signature is not None:
            headers["X-Slack-Signature"] = signature
    status, text = runner.run(edge.post(body, headers, content_type))
    assert status < 500, text
    if not sign:
        assert status in {400, 401}
