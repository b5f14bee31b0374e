"""The sandbox in a process of its own: `python -m bot.sandbox` starts fake Slack and fake X and a
small control API beside them, so a benchmark (or a person) can run the bot in another process
and drive the sandbox over loopback — the bot then spends none of its CPU on the fakes, as with
the real Slack and X.

Control API (JSON): `POST /x/mentions` {"count": n} or {"text", "author_handle", …};
`POST /bluesky/mentions` {"count": n} or {"text", "author_handle", "followers", "reply_to"};
`POST /mastodon/mentions` {"count": n} or {"text", "author", "visibility", "in_reply_to"};
`POST /slack/rate_limit` {"channel", "per_second", "burst"}; `GET /slack/stats?channel=C`;
`GET /slack/messages?channel=C` (top-level posts with their metadata); `POST /slack/clicks`
{"channel", "ts", "action_id", "users"} (the unsigned form bodies of those users pressing that
button on the message as it is now, for a client to sign and send at a moment of its choosing);
`POST /slack/socket/clicks` (the same body: those presses sent at once as Socket Mode envelopes to
the connected bot, answered with each one's ack latency as the fake Slack measured it; with
`"one_at_a_time": true` each is sent when the previous one was acked);
`GET /slack/socket` (the bot's connections).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession, web

from bot.sandbox.simulator import SlackSimulator, form_body
from bot.sandbox.socket_mode import SocketModeUnavailable
from bot.sandbox.stack import Sandbox, free_port, sandbox


def control_app(stack: Sandbox) -> web.Application:
    """Return the control API for a running sandbox."""

    async def add_mentions(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if "count" in body:
            tweets = stack.x.add_mentions(int(body["count"]))
        else:
            tweets = [
                stack.x.add_mention(
                    body.get("text"),
                    author_handle=str(body.get("author_handle", "customer")),
                    followers=int(body.get("followers", 120)),
                    conversation_id=body.get("conversation_id"),
                    in_reply_to=body.get("in_reply_to"),
                )
            ]
        return web.json_response({"ids": [t.id for t in tweets]})

    async def add_bluesky_mentions(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if "count" in body:
            posts = stack.bluesky.add_mentions(int(body["count"]))
        else:
            reply_to = body.get("reply_to")
            if reply_to is not None and reply_to not in stack.bluesky.posts:
                return web.json_response({"error": f"no post {reply_to}"}, status=400)
            posts = [
                stack.bluesky.add_mention(
                    body.get("text"),
                    author_handle=str(body.get("author_handle", "customer")),
                    followers=int(body.get("followers", 120)),
                    reply_to=reply_to,
                )
            ]
        return web.json_response({"uris": [p.uri for p in posts]})

    async def add_mastodon_mentions(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if "count" in body:
            statuses = stack.mastodon.add_mentions(int(body["count"]))
        else:
            visibility = str(body.get("visibility", "public"))
            if visibility not in {"public", "unlisted", "private", "direct"}:
                return web.json_response({"error": f"bad visibility {visibility}"}, status=400)
            statuses = [
                stack.mastodon.add_mention(
                    body.get("text"),
                    author=str(body.get("author", "customer@social.example")),
                    visibility=visibility,
                    in_reply_to=body.get("in_reply_to"),
                )
            ]
        return web.json_response({"ids": [s.id for s in statuses]})

    async def rate_limit(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        stack.slack.rate_limit_channel(
            str(body["channel"]),
            per_second=float(body.get("per_second", 1.0)),
            burst=int(body.get("burst", 3)),
        )
        return web.json_response({"ok": True})

    async def stats(request: web.Request) -> web.Response:
        channel = request.query.get("channel", stack.channel)
        messages = stack.slack.channel_messages(channel)
        return web.json_response(
            {
                "top_level_posts": len(messages),
                "cards": sum(1 for m in messages if m.metadata),
                "post_calls": len(stack.slack.calls_to("chat.postMessage")),
                "ratelimited": stack.slack.ratelimited_count,
                "violations": [f"{v.method}: {v.detail}" for v in stack.slack.violations],
                "ephemerals": [
                    {"user": e.user, "text": e.text}
                    for e in stack.slack.ephemerals()
                    if e.channel == channel
                ],
            }
        )

    async def messages(request: web.Request) -> web.Response:
        channel = request.query.get("channel", stack.channel)
        return web.json_response(
            [
                {"ts": m.ts, "text": m.text, "metadata": m.metadata}
                for m in stack.slack.channel_messages(channel)
            ]
        )

    # Builds payloads only; nothing is sent from here, so its events URL is never used.
    builder = SlackSimulator(stack.slack, events_url="", signing_secret=stack.slack.signing_secret)

    async def clicks(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        channel = str(body.get("channel", stack.channel))
        try:
            ts, action_id = str(body["ts"]), str(body["action_id"])
            seen = stack.slack.message(channel, ts)  # every user's client shows the same card
            bodies = [
                form_body(
                    builder.click_payload(
                        str(user), channel=channel, ts=ts, action_id=action_id, seen=seen
                    )
                ).decode()
                for user in body["users"]
            ]
        except (KeyError, AssertionError) as exc:  # a missing field, message or button
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"bodies": bodies})

    async def socket_clicks(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        channel = str(body.get("channel", stack.channel))
        try:
            ts, action_id = str(body["ts"]), str(body["action_id"])
            seen = stack.slack.message(channel, ts)
            payloads = [
                builder.click_payload(
                    str(user), channel=channel, ts=ts, action_id=action_id, seen=seen
                )
                for user in body["users"]
            ]
            socket = stack.slack.socket_mode
            if body.get("one_at_a_time"):  # each sent once the previous one was acked
                acks = [(await socket.deliver_burst("interactive", [p]))[0] for p in payloads]
            else:
                acks = await socket.deliver_burst("interactive", payloads)
        except (KeyError, AssertionError, SocketModeUnavailable) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(
            {
                "acked": [a.acked for a in acks],
                "latencies_ms": [a.elapsed * 1000 for a in acks],
            }
        )

    async def socket_state(_request: web.Request) -> web.Response:
        socket = stack.slack.socket_mode
        return web.json_response(
            {
                "open": len(socket.open_connections()),
                "opened": len(socket.connections),
                "protocol_errors": socket.protocol_errors,
            }
        )

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/slack/clicks", clicks)
    app.router.add_post("/slack/socket/clicks", socket_clicks)
    app.router.add_get("/slack/socket", socket_state)
    app.router.add_post("/x/mentions", add_mentions)
    app.router.add_post("/bluesky/mentions", add_bluesky_mentions)
    app.router.add_post("/mastodon/mentions", add_mastodon_mentions)
    app.router.add_post("/slack/rate_limit", rate_limit)
    app.router.add_get("/slack/stats", stats)
    app.router.add_get("/slack/messages", messages)
    return app


async def serve(port: int | None = None) -> None:
    """Run the sandbox and its control API until SIGTERM/SIGINT; print the URLs as one JSON line."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with sandbox(networks=("x", "bluesky", "mastodon")) as stack:
        runner = web.AppRunner(control_app(stack), access_log=None)
        await runner.setup()
        control_port = port or free_port()
        await web.TCPSite(runner, "127.0.0.1", control_port).start()
        ready = {
            "control_url": f"http://127.0.0.1:{control_port}",
            "slack_api_url": stack.slack.api_url,
            "x_api_url": stack.x.api_url,
            "channel": stack.channel,
            "x_brand_id": stack.x.brand.id,
            "bluesky_api_url": stack.bluesky.api_url,
            "mastodon_api_url": stack.mastodon.api_url,
            "environment": stack.environment("sqlite+aiosqlite:///carebot.db"),
        }
        print(json.dumps(ready), flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def main() -> None:
    """Entry point of `python -m bot.sandbox [--port N]`."""
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else None
    asyncio.run(serve(port))


@dataclass(frozen=True, slots=True)
class RemoteSandbox:
    """A sandbox running in another process, and a client for its control API."""

    control_url: str
    slack_api_url: str
    x_api_url: str
    channel: str
    x_brand_id: str
    environment: dict[str, str]
    http: ClientSession
    bluesky_api_url: str = ""
    mastodon_api_url: str = ""

    async def add_mentions(self, count: int) -> list[str]:
        """Have the fake X store `count` mentions; return their ids."""
        async with self.http.post(f"{self.control_url}/x/mentions", json={"count": count}) as r:
            r.raise_for_status()
            ids: list[str] = (await r.json())["ids"]
            return ids

    async def add_network_mentions(self, network: str, count: int) -> int:
        """Have the fake `network` (x, bluesky or mastodon) store `count` mentions."""
        async with self.http.post(
            f"{self.control_url}/{network}/mentions", json={"count": count}
        ) as r:
            r.raise_for_status()
            body: dict[str, list[str]] = await r.json()
            return len(body.get("ids") or body.get("uris") or [])

    async def slack_stats(self) -> dict[str, Any]:
        """Return the fake Slack's counters for the channel."""
        async with self.http.get(f"{self.control_url}/slack/stats") as r:
            r.raise_for_status()
            stats: dict[str, Any] = await r.json()
            return stats

    async def click_bodies(self, *, ts: str, action_id: str, users: list[str]) -> list[bytes]:
        """Return the form bodies of `users` pressing `action_id` on the card at `ts` (unsigned)."""
        request = {"channel": self.channel, "ts": ts, "action_id": action_id, "users": users}
        async with self.http.post(f"{self.control_url}/slack/clicks", json=request) as r:
            r.raise_for_status()
            return [body.encode() for body in (await r.json())["bodies"]]

    async def socket_clicks(
        self, *, ts: str, action_id: str, users: list[str], one_at_a_time: bool = False
    ) -> list[tuple[bool, float]]:
        """Have Slack send `users` pressing `action_id` at once (or one after another) over
        Socket Mode; return each press's (acked, seconds to its ack) as Slack measured it."""
        request = {
            "channel": self.channel,
            "ts": ts,
            "action_id": action_id,
            "users": users,
            "one_at_a_time": one_at_a_time,
        }
        async with self.http.post(f"{self.control_url}/slack/socket/clicks", json=request) as r:
            answer = await r.json()
            if r.status != 200:
                raise RuntimeError(f"the sandbox could not send the presses: {answer['error']}")
        return [
            (acked, ms / 1000)
            for acked, ms in zip(answer["acked"], answer["latencies_ms"], strict=True)
        ]

    async def socket_state(self) -> dict[str, Any]:
        """Return how many Socket Mode connections are open and were ever opened."""
        async with self.http.get(f"{self.control_url}/slack/socket") as r:
            r.raise_for_status()
            state: dict[str, Any] = await r.json()
            return state

    async def slack_messages(self) -> list[dict[str, Any]]:
        """Return the channel's top-level messages (ts, text, metadata)."""
        async with self.http.get(f"{self.control_url}/slack/messages") as r:
            r.raise_for_status()
            messages: list[dict[str, Any]] = await r.json()
            return messages


@asynccontextmanager
async def remote_sandbox() -> AsyncIterator[RemoteSandbox]:
    """Run `python -m bot.sandbox` in a child process for the duration of the block."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.sandbox", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        if not line:
            raise RuntimeError("the sandbox process exited before it was ready")
        ready = json.loads(line)
        async with ClientSession() as http:
            yield RemoteSandbox(
                control_url=ready["control_url"],
                slack_api_url=ready["slack_api_url"],
                x_api_url=ready["x_api_url"],
                channel=ready["channel"],
                x_brand_id=ready["x_brand_id"],
                environment=ready["environment"],
                http=http,
                bluesky_api_url=ready["bluesky_api_url"],
                mastodon_api_url=ready["mastodon_api_url"],
            )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await proc.wait()
