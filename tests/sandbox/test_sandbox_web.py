"""The sandbox page's server without a browser: what it serves, the state it reports for each
person, and the clear 400s it gives for requests it cannot act on. (The page itself, clicking
through the whole loop against the real bot, is tested in tests/browser.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.stack import Sandbox, sandbox
from bot.sandbox.web import Person, SandboxWeb, x_sink

ANA = Person("U0ANA", "Ana")
PRIYA = Person("U0PRIYA", "Priya", "lead")


@pytest.fixture
async def page() -> AsyncIterator[tuple[Sandbox, SandboxWeb, aiohttp.ClientSession]]:
    async with sandbox() as stack:
        stack.slack.add_user(ANA.user_id, name="ana", display_name="Ana")
        # No bot here: these requests are refused before anything would be sent to one.
        async with (
            SlackSimulator(
                stack.slack, events_url="http://127.0.0.1:9/", signing_secret="unused"
            ) as sim,
            aiohttp.ClientSession() as http,
        ):
            web = SandboxWeb(
                slack=stack.slack,
                sim=sim,
                channel=stack.channel,
                people=[ANA, PRIYA],
                networks={"x": x_sink(stack.x)},
            )
            await web.start()
            try:
                yield stack, web, http
            finally:
                await web.stop()


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_serves_the_page_and_its_scripts(
    page: tuple[Sandbox, SandboxWeb, aiohttp.ClientSession],
) -> None:
    _, web, http = page
    assert web.url.startswith("http://127.0.0.1:")
    async with http.get(web.url) as response:
        assert response.status == 200
        assert "text/html" in response.headers["Content-Type"]
        html = await response.text()
    for asset in ("/static/app.js", "/static/mrkdwn.js", "/static/style.css"):
        assert asset in html
        async with http.get(web.url.rstrip("/") + asset) as response:
            assert response.status == 200, asset


async def test_state_is_per_person_and_shows_only_their_ephemerals(
    page: tuple[Sandbox, SandboxWeb, aiohttp.ClientSession],
) -> None:
    stack, web, http = page
    stack.slack.post_as_user(stack.channel, ANA.user_id, "hello <b>team</b>")
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer xoxb-sandbox"}) as api,
        api.post(
            stack.slack.api_url + "chat.postEphemeral",
            json={"channel": stack.channel, "user": PRIYA.user_id, "text": "just for Priya"},
        ) as response,
    ):
        assert (await response.json())["ok"] is True
    async with http.get(f"{web.url}api/state?user={ANA.user_id}") as response:
        ana = await response.json()
    async with http.get(f"{web.url}api/state?user={PRIYA.user_id}") as response:
        priya = await response.json()
    async with http.get(f"{web.url}api/state?user=U0NOBODY") as response:
        fallback = await response.json()
    assert ana["user"] == ANA.user_id
    assert fallback["user"] == ANA.user_id  # someone unknown sees the first person's view
    assert [m["text"] for m in ana["messages"]] == ["hello <b>team</b>"]
    assert ana["ephemerals"] == []
    assert [e["text"] for e in priya["ephemerals"]] == ["just for Priya"]
    assert ana["people"] == [
        {"id": "U0ANA", "name": "Ana", "role": "agent"},
        {"id": "U0PRIYA", "name": "Priya", "role": "lead"},
    ]
    assert ana["networks"] == [{"id": "x", "label": "X"}]
    assert ana["modal"] is None
    assert priya["version"] > 0


async def test_a_mention_from_the_form_reaches_the_sandbox_x(
    page: tuple[Sandbox, SandboxWeb, aiohttp.ClientSession],
) -> None:
    stack, web, http = page
    status, body = await post(
        http,
        f"{web.url}api/mentions",
        {"network": "x", "handle": "@dana_k", "name": "Dana", "followers": "310", "text": "hi"},
    )
    assert status == 200
    tweet = stack.x.tweets[body["id"]]
    assert tweet.text == "@acmehelp hi"  # only posts naming the brand reach its mentions
    assert stack.x.users[tweet.author_id].username == "dana_k"
    assert stack.x.users[tweet.author_id].followers == 310


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("api/mentions", {"network": "tiktok", "text": "hi"}, "unknown network 'tiktok'"),
        ("api/mentions", {"network": "x", "handle": "a b", "text": "hi"}, "An X handle is"),
        ("api/mentions", {"network": "x", "handle": "acmehelp", "text": "hi"}, "the brand"),
        ("api/mentions", {"network": "x", "handle": "dana", "text": "  "}, "Write the post"),
        ("api/mentions", {"network": "x", "handle": "d", "text": "x", "followers": "?"}, "whole"),
        ("api/click", {"user": "U0ANA", "ts": "1.0", "action_id": "case_claim"}, "no message"),
        ("api/click", {"user": "U0ANA", "action_id": "case_claim"}, "ts is required"),
        ("api/click", {"user": "U0NOBODY", "ts": "1", "action_id": "x"}, "unknown user"),
        ("api/command", {"user": "U0ANA", "text": "care digest"}, "starts with /"),
        ("api/views/V0NONE/submit", {"user": "U0ANA", "values": {}}, "not open for you"),
        ("api/views/V0NONE/submit", {"user": "U0ANA", "values": []}, "values must be"),
        ("api/views/V0NONE/close", {"user": "U0ANA"}, "not yours"),
    ],
)
async def test_requests_it_cannot_act_on_get_a_400_that_says_why(
    page: tuple[Sandbox, SandboxWeb, aiohttp.ClientSession], path: str, body: Any, error: str
) -> None:
    stack, web, http = page
    before = len(stack.x.tweets)
    status, answer = await post(http, web.url + path, body)
    assert status == 400
    assert error in answer["error"]
    assert len(stack.x.tweets) == before


async def test_a_body_that_is_not_json_is_refused(
    page: tuple[Sandbox, SandboxWeb, aiohttp.ClientSession],
) -> None:
    _, web, http = page
    async with http.post(f"{web.url}api/command", data=b"{nope") as response:
        assert response.status == 400
        assert (await response.json())["error"] == "the body must be JSON"


async def test_the_event_stream_says_change_when_slack_records_something(
    page: tuple[Sandbox, SandboxWeb, aiohttp.ClientSession],
) -> None:
    stack, web, http = page
    async with http.get(f"{web.url}api/events") as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        first = await response.content.readuntil(b"\n\n")
        assert first.startswith(b"event: change\ndata: ")
        stack.slack.post_as_user(stack.channel, ANA.user_id, "news")
        # post_as_user records no API call; a Web API call is what the stream watches.
        async with (
            aiohttp.ClientSession(headers={"Authorization": "Bearer xoxb-sandbox"}) as api,
            api.post(stack.slack.api_url + "auth.test") as answer,
        ):
            assert answer.status == 200
        second = await response.content.readuntil(b"\n\n")
        assert second.startswith(b"event: change\ndata: ")
        assert int(second.split(b"data: ")[1]) > int(first.split(b"data: ")[1])
