"""`SandboxWeb`: the aiohttp site behind the sandbox page, and the JSON API its script uses.

Routes: `GET /` (the page), `GET /static/…`, `GET /api/state?user=U` (the channel, threads, this
user's ephemerals, open modal and App Home), `GET /api/events` (server-sent events: one `change`
whenever the fake recorded something new), and the actions, each as the chosen user:
`POST /api/click`, `POST /api/views/{id}/submit`, `POST /api/views/{id}/close`,
`POST /api/command`, `POST /api/home`, `POST /api/mentions`. A bad request gets a 400 with an
`error` that says what is wrong; a refusal from the bot is shown as the bot sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.domain.networks import network_label
from bot.sandbox.loopback import LoopbackServer
from bot.sandbox.simulator import SimResponse, SlackSimulator
from bot.sandbox.slack import JSON, Ephemeral, FakeSlack, StoredMessage
from bot.sandbox.web.networks import MentionRefused, MentionSink, NewMention

STATIC = Path(__file__).resolve().parent / "static"
# How often the event stream looks for news, and how often it says it is still there.
WATCH_SECONDS = 0.1
KEEPALIVE_SECONDS = 15.0
MAX_COMMAND_TEXT = 4000


@dataclass(frozen=True, slots=True)
class Person:
    """Someone the page can act as: an agent or a lead."""

    user_id: str
    name: str
    role: str = "agent"


class BadRequest(Exception):
    """The page sent something that cannot be acted on; the message says what."""


class SandboxWeb(LoopbackServer):
    """Serve the sandbox page for one channel of a `FakeSlack`, acting through a simulator."""

    # Long enough for the event streams, told to end, to finish their last write.
    shutdown_timeout = 2.0

    def __init__(
        self,
        *,
        slack: FakeSlack,
        sim: SlackSimulator,
        channel: str,
        people: Sequence[Person],
        networks: Mapping[str, MentionSink],
    ) -> None:
        if not people:
            raise ValueError("the sandbox page needs at least one person to act as")
        self.slack = slack
        self.sim = sim
        self.channel = channel
        self.people = list(people)
        self.networks = dict(networks)
        self._changes = 0
        # The fake's ts values count up from 2023, so the page shows when it first saw each one.
        self._seen_at: dict[str, float] = {}
        # Each message as last drawn for each user: a button pressed on a card that changed since
        # is pressed on that copy, as a Slack client that has not redrawn yet would send it.
        self._drawn: dict[tuple[str, str], StoredMessage] = {}
        self._closing = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        """Return the aiohttp application serving the page and its API."""
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_post("/api/click", self._click)
        app.router.add_post("/api/views/{view_id}/submit", self._submit)
        app.router.add_post("/api/views/{view_id}/close", self._close)
        app.router.add_post("/api/command", self._command)
        app.router.add_post("/api/home", self._home)
        app.router.add_post("/api/mentions", self._mention)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the page on host:port (0 picks a free port) and return its URL."""
        self._closing.clear()
        await super().start(host, port)
        return self.url

    async def stop(self) -> None:
        """End the event streams and stop serving."""
        self._closing.set()
        await super().stop()

    @property
    def url(self) -> str:
        """Return the page's address."""
        return f"{self.base_url}/"

    def version(self) -> int:
        """Return a number that grows whenever something the page shows may have changed."""
        return len(self.slack.calls) + len(self.slack.responses) + self._changes

    # -- reading -----------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def _state(self, request: web.Request) -> web.Response:
        # A page opened without (or with a stale) `as=` shows the first person's view.
        wanted = request.query.get("user")
        user = next((p for p in self.people if p.user_id == wanted), self.people[0])
        return web.json_response(self.state(user.user_id))

    def state(self, user: str) -> JSON:
        """Return what `user`'s Slack client shows: channel, threads, ephemerals, modal, home."""
        slack = self.slack
        channel = slack.channels.get(self.channel)
        return {
            "version": self.version(),
            "channel": {"id": self.channel, "name": channel.name if channel else self.channel},
            "user": user,
            "people": [{"id": p.user_id, "name": p.name, "role": p.role} for p in self.people],
            "users": {u.id: u.display_name or u.real_name for u in slack.users.values()},
            "bot_user": slack.bot_user_id,
            "networks": [{"id": name, "label": network_label(name)} for name in self.networks],
            "messages": [self._message(m, user) for m in slack.channel_messages(self.channel)],
            "ephemerals": [
                {**_ephemeral(e), "at": self._seen(e.message_ts)}
                for e in slack.ephemerals(user)
                if e.channel in (self.channel, None)
            ],
            "modal": self._modal(user),
            "home": _view(slack.home_views[user].payload) if user in slack.home_views else None,
        }

    def _message(self, message: StoredMessage, user: str) -> JSON:
        out = self._stored(message, user)
        if not message.is_reply:
            thread = self.slack.thread(message.channel, message.ts)
            out["replies"] = [self._stored(r, user) for r in thread]
        return out

    def _stored(self, message: StoredMessage, user: str) -> JSON:
        # A shallow copy is enough: the fake replaces a message's blocks, never edits them.
        self._drawn[(user, message.ts)] = dataclasses.replace(message)
        out = _stored(message)
        out["at"] = self._seen(message.ts)
        return out

    def _seen(self, ts: str) -> float:
        return self._seen_at.setdefault(ts, time.time())

    def _modal(self, user: str) -> JSON | None:
        for view in reversed(self.slack.views.values()):
            if view.user_id == user and view.type == "modal" and not view.closed:
                return _view(view.payload)
        return None

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        seen = -1
        quiet = 0.0
        with contextlib.suppress(ConnectionResetError):
            while not self._closing.is_set():
                now = self.version()
                if now != seen:
                    seen, quiet = now, 0.0
                    await response.write(f"event: change\ndata: {now}\n\n".encode())
                elif quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    await response.write(b": still here\n\n")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), WATCH_SECONDS)
                quiet += WATCH_SECONDS
        return response

    # -- acting ------------------------------------------------------------------------------

    async def _click(self, request: web.Request) -> web.Response:
        async def act(body: JSON) -> JSON:
            user = self._person(body.get("user")).user_id
            action_id = _text(body, "action_id")
            ts = _text(body, "ts")
            seen: StoredMessage | None
            if body.get("ephemeral"):
                seen = self._ephemeral_as_message(user, ts)
            else:
                seen = self._drawn.get((user, ts))
            try:
                answer = await self.sim.click(
                    user, channel=self.channel, ts=ts, action_id=action_id, seen=seen
                )
            except AssertionError as exc:  # no such message or button: the card changed
                raise BadRequest(str(exc)) from None
            return _answer(answer)

        return await self._acting(request, act)

    async def _submit(self, request: web.Request) -> web.Response:
        view_id = request.match_info["view_id"]

        async def act(body: JSON) -> JSON:
            user = self._person(body.get("user")).user_id
            values = body.get("values", {})
            if not isinstance(values, dict) or not all(
                isinstance(v, dict) for v in values.values()
            ):
                raise BadRequest("values must be {block_id: {action_id: value}}")
            stored = self.slack.views.get(view_id)
            if stored is None or stored.closed or stored.user_id != user:
                raise BadRequest("that modal is not open for you any more")
            try:
                answer = await self.sim.submit_view(user, view_id=view_id, values=values)
            except AssertionError as exc:  # an input or option the view does not have
                raise BadRequest(str(exc)) from None
            return _answer(answer)

        return await self._acting(request, act)

    async def _close(self, request: web.Request) -> web.Response:
        view_id = request.match_info["view_id"]

        async def act(body: JSON) -> JSON:
            user = self._person(body.get("user")).user_id
            stored = self.slack.views.get(view_id)
            if stored is None or stored.user_id != user:
                raise BadRequest("that modal is not yours")
            self.slack.close_view(view_id)
            return {"ok": True}

        return await self._acting(request, act)

    async def _command(self, request: web.Request) -> web.Response:
        async def act(body: JSON) -> JSON:
            user = self._person(body.get("user")).user_id
            raw = str(body.get("text") or "").strip()
            command, _, text = raw.partition(" ")
            if not command.startswith("/"):
                raise BadRequest("a slash command starts with /, like /care digest")
            if len(raw) > MAX_COMMAND_TEXT:
                raise BadRequest(f"a command is at most {MAX_COMMAND_TEXT} characters")
            answer = await self.sim.slash_command(
                user, text=text.strip(), command=command, channel_id=self.channel
            )
            return _answer(answer)

        return await self._acting(request, act)

    async def _home(self, request: web.Request) -> web.Response:
        async def act(body: JSON) -> JSON:
            user = self._person(body.get("user")).user_id
            return _answer(await self.sim.app_home_opened(user))

        return await self._acting(request, act)

    async def _mention(self, request: web.Request) -> web.Response:
        async def act(body: JSON) -> JSON:
            network = str(body.get("network") or "")
            sink = self.networks.get(network)
            if sink is None:
                known = ", ".join(self.networks) or "none"
                raise BadRequest(f"unknown network {network!r}; this sandbox has: {known}")
            try:
                followers = int(str(body.get("followers") or 0))
            except ValueError:
                raise BadRequest("Followers must be a whole number, 0 or more.") from None
            mention = NewMention(
                network=network,
                handle=str(body.get("handle") or ""),
                name=str(body.get("name") or ""),
                followers=followers,
                text=str(body.get("text") or ""),
            )
            try:
                post_id = sink(mention)
            except MentionRefused as exc:
                raise BadRequest(str(exc)) from None
            return {"ok": True, "id": post_id}

        return await self._acting(request, act)

    async def _acting(
        self, request: web.Request, act: Callable[[JSON], Awaitable[JSON]]
    ) -> web.Response:
        """Run one action from the page; a bad request is a 400 that says why."""
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        try:
            result: JSON = await act(body)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=400)
        finally:
            self._changes += 1
        return web.json_response(result)

    def _person(self, user: Any) -> Person:
        for person in self.people:
            if person.user_id == user:
                return person
        known = ", ".join(p.user_id for p in self.people)
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"unknown user {user!r}; act as one of {known}"}),
            content_type="application/json",
        )

    def _ephemeral_as_message(self, user: str, ts: str) -> StoredMessage:
        """Return an ephemeral shown to `user` as the message its buttons sit on."""
        for shown in self.slack.ephemerals(user):
            if shown.message_ts == ts:
                return StoredMessage(
                    channel=shown.channel or self.channel,
                    ts=shown.message_ts,
                    text=shown.text,
                    blocks=shown.blocks,
                    user=self.slack.bot_user_id,
                    thread_ts=shown.thread_ts,
                )
        raise BadRequest(f"no message only you see at {ts}")


def _text(body: JSON, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} is required")
    return value


def _answer(answer: SimResponse) -> JSON:
    """Return the bot's HTTP answer as the page needs it: status and body."""
    return {"status": answer.status, "body": answer.body}


def _stored(message: StoredMessage) -> JSON:
    return {
        "ts": message.ts,
        "user": message.user,
        "bot": message.bot_id is not None,
        "text": message.text,
        "blocks": message.blocks,
        "edited": message.edited is not None,
        "thread_ts": message.thread_ts,
        "is_reply": message.is_reply,
        "broadcast": message.reply_broadcast,
        "reply_count": len(message.replies),
        "reply_users": list(message.reply_users),
        "reactions": {name: len(users) for name, users in message.reactions.items()},
        "files": message.files,
    }


def _ephemeral(shown: Ephemeral) -> JSON:
    return {
        "ts": shown.message_ts,
        "text": shown.text,
        "blocks": shown.blocks,
        "thread_ts": shown.thread_ts,
        "source": shown.source,
    }


def _view(payload: JSON) -> JSON:
    keys = ("id", "type", "hash", "title", "submit", "close", "blocks", "callback_id")
    return {key: payload.get(key) for key in keys}
