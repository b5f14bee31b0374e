"""The sandbox Slack: a fake Slack Web API served by aiohttp on 127.0.0.1.

`FakeSlack` answers the Web API methods Carebot uses with the response shapes Slack documents,
keeps messages, threads, ephemerals, views and response_url posts in memory, validates every Block
Kit payload (see `bot.sandbox.blockkit`), and has knobs for the failures real Slack produces:
per-channel rate limits with `Retry-After`, outages, revoked tokens and one-off errors. It serves
`carebot demo`, the end-to-end tests and the ingest benchmark, so the per-call path is O(1).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import itertools
import json
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.sandbox import blockkit
from bot.sandbox.slack_files import FakeFiles
from bot.sandbox.socket_mode import APP_TOKEN, LINK_PATH, FakeSocketMode

JSON = dict[str, Any]
ApiHandler = Callable[[JSON], JSON]

TRIGGER_TTL_SECONDS = 3.0
RESPONSE_URL_MAX_USES = 5
MAX_VIEW_STACK = 3
_FIRST_TS_MICROS = 1_700_000_000_000_000
_TS_STEP_MICROS = 100
# Fields slack_sdk sends as JSON strings in form bodies, and the error Slack gives when one is bad.
_JSON_FIELDS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
    "view": "invalid_arguments",
}
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")


@dataclass
class SlackCall:
    """One Web API call as the fake received and answered it."""

    method: str
    args: JSON
    status: int
    ok: bool
    error: str | None
    at: float


@dataclass
class Violation:
    """One Block Kit rule a payload broke, and the method that carried it."""

    method: str
    detail: str


@dataclass
class StoredMessage:
    """A message in a channel (top-level post or thread reply) with its current content."""

    channel: str
    ts: str
    text: str
    blocks: list[JSON]
    user: str
    bot_id: str | None = None
    app_id: str | None = None
    team: str = ""
    thread_ts: str | None = None
    parent_user_id: str | None = None
    metadata: JSON | None = None
    reply_broadcast: bool = False
    edited: JSON | None = None
    replies: list[str] = field(default_factory=list)
    reply_users: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    # Files shared with the message (files.completeUploadExternal), as Slack's file objects.
    files: list[JSON] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        """Tell whether this message lives in another message's thread."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    def as_dict(self) -> JSON:
        """Render the message as Slack's APIs and event payloads show it."""
        out: JSON = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.bot_id is not None:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id
        if self.team:
            out["team"] = self.team
        if self.blocks:
            out["blocks"] = self.blocks
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.edited is not None:
            out["edited"] = self.edited
        if self.files:
            out["files"] = self.files
            out["upload"] = True
        if self.reply_broadcast:
            out["subtype"] = "thread_broadcast"
        if self.is_reply:
            out["thread_ts"] = self.thread_ts
            out["parent_user_id"] = self.parent_user_id
        elif self.replies:
            out["thread_ts"] = self.ts
            out["reply_count"] = len(self.replies)
            out["reply_users_count"] = len(self.reply_users)
            out["reply_users"] = list(self.reply_users)
            out["latest_reply"] = self.replies[-1]
        if self.reactions:
            out["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in self.reactions.items()
            ]
        return out


@dataclass
class Ephemeral:
    """An ephemeral message shown to one user (chat.postEphemeral or a response_url)."""

    channel: str | None
    user: str | None
    text: str
    blocks: list[JSON]
    message_ts: str
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"


@dataclass
class StoredView:
    """A modal or App Home view as Slack currently holds it."""

    id: str
    user_id: str | None
    payload: JSON
    closed: bool = False

    @property
    def type(self) -> str:
        """Return the view type (`modal` or `home`)."""
        return str(self.payload["type"])

    @property
    def callback_id(self) -> str:
        """Return the view's callback_id."""
        return str(self.payload.get("callback_id") or "")

    @property
    def private_metadata(self) -> str:
        """Return the view's private_metadata."""
        return str(self.payload.get("private_metadata") or "")

    @property
    def hash(self) -> str:
        """Return the view's current hash."""
        return str(self.payload["hash"])

    @property
    def blocks(self) -> list[JSON]:
        """Return the view's blocks."""
        blocks: list[JSON] = self.payload.get("blocks") or []
        return blocks


@dataclass
class ResponsePost:
    """One POST to a response_url and how the fake answered it."""

    response_id: str
    url: str
    payload: JSON
    status: int
    at: float


@dataclass
class FakeUser:
    """A workspace member that users.info can describe."""

    id: str
    name: str
    real_name: str
    display_name: str
    tz: str = "UTC"
    is_bot: bool = False


@dataclass
class FakeChannel:
    """A conversation; `members=None` means everyone known to the fake is a member."""

    id: str
    name: str
    is_private: bool = False
    members: list[str] | None = None


@dataclass
class _Trigger:
    issued_at: float
    user_id: str | None
    used: bool = False


@dataclass
class _ResponseTarget:
    channel: str | None
    message_ts: str | None
    user_id: str | None
    uses: int = 0


@dataclass
class _Bucket:
    per_second: float
    burst: int
    tokens: float
    updated: float


@dataclass
class _Failure:
    status: int
    error: str
    remaining: int
    retry_after: float | None = None


class SlackApiFailure(Exception):
    """An error answer from a fake API method: Slack's error code plus extra response fields."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        extra: JSON | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}


class FakeSlack:
    """A fake Slack Web API server with recording, inspection and failure knobs."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",
        signing_secret: str = "sandbox-signing-secret",
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0CAREBOT",
        clock: Callable[[], float] = time.monotonic,
        app_token: str = APP_TOKEN,
    ) -> None:
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.team_domain = "sandbox"
        self.bot_user_id = bot_user_id
        self.bot_id = "B0CAREBOT"
        self.app_id = "A0CAREBOT"
        self.clock = clock
        self.valid_tokens: set[str] = {bot_token}
        self.calls: list[SlackCall] = []
        self.violations: list[Violation] = []
        self.views: dict[str, StoredView] = {}
        self.home_views: dict[str, StoredView] = {}
        self.responses: list[ResponsePost] = []
        self.ratelimited_count = 0
        self.users: dict[str, FakeUser] = {}
        self.channels: dict[str, FakeChannel] = {}
        self._deleted_channels: set[str] = set()
        self.usergroups: dict[str, list[str]] = {}
        self._calls_by_method: dict[str, list[SlackCall]] = {}
        self._messages: dict[tuple[str, str], StoredMessage] = {}
        self._top_level: dict[str, list[str]] = {}
        self._ephemerals: list[Ephemeral] = []
        self._channel_names: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_targets: dict[str, _ResponseTarget] = {}
        self._external_ids: dict[str, str] = {}
        self._view_stacks: dict[str, list[str]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._outage_until: float | None = None
        self._ts_micros = _FIRST_TS_MICROS
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._methods: dict[str, ApiHandler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "usergroups.users.list": self._usergroups_users_list,
            "reactions.add": self._reactions_add,
        }
        self.uploads = FakeFiles(self)
        self._methods.update(self.uploads.methods())
        self.add_user(bot_user_id, name="carebot", real_name="Carebot", is_bot=True)
        # apps.connections.open and the WebSocket behind it (bot.sandbox.socket_mode).
        self.socket_mode = FakeSocketMode(self, app_token=app_token, clock=clock)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the fake on host:port (0 picks a free port) and return the API base URL."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        self.uploads.routes(app)
        app.router.add_get(LINK_PATH, self.socket_mode.handle_link)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        self._runner = runner
        self._base_url = f"http://{bound_host}:{bound_port}"
        return self.api_url

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            await self.socket_mode.close_all()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Return `http://127.0.0.1:<port>` of the running server."""
        if self._base_url is None:
            raise RuntimeError("FakeSlack is not started; call `await fake.start()` first")
        return self._base_url

    @property
    def api_url(self) -> str:
        """Return the Web API base URL a bot puts in CAREBOT_SLACK_API_URL."""
        return f"{self.base_url}/api/"

    # -- workspace setup ---------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
    ) -> FakeUser:
        """Add (or replace) a workspace member that users.info will describe."""
        handle = name or user_id.lower()
        user = FakeUser(
            id=user_id,
            name=handle,
            real_name=real_name or handle,
            display_name=display_name if display_name is not None else handle,
            tz=tz,
            is_bot=is_bot,
        )
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        members: list[str] | None = None,
        is_private: bool = False,
    ) -> FakeChannel:
        """Add (or replace) a channel; `members=None` lets everyone in."""
        channel = FakeChannel(
            id=channel_id,
            name=name or channel_id.lower(),
            is_private=is_private,
            members=list(members) if members is not None else None,
        )
        self.channels[channel_id] = channel
        self._channel_names[channel.name] = channel_id
        self._deleted_channels.discard(channel_id)
        return channel

    def delete_channel(self, channel_id: str) -> None:
        """Make `channel_id` unknown: every method naming it answers `channel_not_found`."""
        channel = self.channels.pop(channel_id, None)
        if channel is not None:
            self._channel_names.pop(channel.name, None)
        self._deleted_channels.add(channel_id)

    def set_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """Set the members of a user group (`S…`) for usergroups.users.list."""
        self.usergroups[usergroup_id] = list(users)

    def post_as_user(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> StoredMessage:
        """Add a message written by a human, as if they typed it in Slack."""
        return self._store_message(
            self._resolve_channel(channel), text=text, blocks=[], user=user, thread_ts=thread_ts
        )

    # -- knobs -------------------------------------------------------------------------------

    def revoke_token(self, token: str | None = None) -> None:
        """Revoke a token (the bot token by default): later calls get `invalid_auth`."""
        self.valid_tokens.discard(token if token is not None else self.bot_token)

    def rate_limit_channel(self, channel: str, per_second: float = 1.0, burst: int = 3) -> None:
        """Rate-limit chat.postMessage in one channel with a token bucket on the fake's clock."""
        self._buckets[channel] = _Bucket(
            per_second=per_second, burst=burst, tokens=float(burst), updated=self.clock()
        )

    def outage(self, seconds: float) -> None:
        """Answer every API method with HTTP 503 for the next `seconds` of the fake's clock."""
        self._outage_until = self.clock() + seconds

    def start_outage(self) -> None:
        """Answer every API method with HTTP 503 until `end_outage()`."""
        self._outage_until = math.inf

    def end_outage(self) -> None:
        """End an outage now."""
        self._outage_until = None

    def fail_next(
        self,
        method: str,
        *,
        status: int = 200,
        error: str = "internal_error",
        count: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Make the next `count` calls to `method` fail with this HTTP status and Slack error.

        A 429 carries `Retry-After` (1 s unless `retry_after` says otherwise). Slack's other
        rate-limit answer, `rate_limited` ("Application has posted too many messages"), comes
        with HTTP 200 and no header: `fail_next(m, error="rate_limited")`.
        """
        self._failures.setdefault(method, deque()).append(
            _Failure(status=status, error=error, remaining=count, retry_after=retry_after)
        )

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message as a person would in Slack (its thread goes with it)."""
        message = self._find_message(channel, ts)
        for reply in list(message.replies):
            found = self._messages.get((channel, reply))
            if found is not None:
                self._delete_message(found)
        self._delete_message(message)

    def remove_bot(self, channel: str) -> None:
        """Take the bot out of `channel`: like Slack, posting and reading history there then
        answer `not_in_channel` (the app has no chat:write.public)."""
        found = self._resolve_channel(channel)
        found.members = [u for u in self._members(found) if u != self.bot_user_id]

    def invite_bot(self, channel: str) -> None:
        """Add the bot to `channel` again."""
        found = self._resolve_channel(channel)
        if found.members is not None and self.bot_user_id not in found.members:
            found.members.append(self.bot_user_id)

    def issue_trigger_id(self, user_id: str | None = None) -> str:
        """Issue a trigger_id as Slack does with an interaction; it expires 3 s later."""
        n = next(self._ids)
        trigger_id = f"{7_000_000_000_000 + n}.{7_000_000_000 + n}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(issued_at=self.clock(), user_id=user_id)
        return trigger_id

    def new_response_url(
        self,
        *,
        channel: str | None = None,
        message_ts: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """Issue a response_url tied to an optional source message and user."""
        response_id = secrets.token_hex(12)
        self._response_targets[response_id] = _ResponseTarget(
            channel=channel, message_ts=message_ts, user_id=user_id
        )
        return f"{self.base_url}/response/{response_id}"

    def close_view(self, view_id: str) -> None:
        """Close a modal as its user's close button does: the whole stack it belongs to goes."""
        view = self.views[view_id]
        stack = self._view_stacks.get(view.user_id or "", [])
        for stacked in [*stack, view_id]:
            self.views[stacked].closed = True
        if view_id in stack:
            stack.clear()

    def command_answered(self, *, channel: str | None, user_id: str | None, payload: JSON) -> None:
        """Show a slash command's immediate answer (HTTP body or Socket Mode ack payload).

        Slack shows it as it shows a response_url post: to the user alone unless
        `response_type` is `in_channel`. An answer without text or blocks shows nothing.
        """
        if not payload.get("text") and not payload.get("blocks"):
            return
        # Invalid blocks are recorded as violations there, as for a response_url post.
        self._apply_response_url(
            _ResponseTarget(channel=channel, message_ts=None, user_id=user_id), payload
        )

    def view_submitted(self, view_id: str, response: Any) -> None:
        """Apply a bot's answer to a view_submission to the stored modal, as Slack would."""
        action = response.get("response_action") if isinstance(response, dict) else None
        view = self.views[view_id]
        stack = self._view_stacks.get(view.user_id or "", [])
        if action == "errors":
            return
        if action == "update" and isinstance(response, dict):
            errors = blockkit.validate_view(response.get("view"))
            if errors:
                self._record_violations("view_submission", errors)
                return
            view.payload = self._render_view(
                view.id,
                response["view"],
                root_view_id=view.payload["root_view_id"],
                previous_view_id=view.payload["previous_view_id"],
            )
        elif action == "push" and isinstance(response, dict):
            errors = blockkit.validate_view(response.get("view"))
            if errors:
                self._record_violations("view_submission", errors)
                return
            self._push_view(view.user_id, response["view"])
        elif action == "clear":
            for stacked in stack:
                self.views[stacked].closed = True
            stack.clear()
        else:
            view.closed = True
            if view_id in stack:
                stack.remove(view_id)

    # -- inspection --------------------------------------------------------------------------

    def direct_messages(self, user_id: str) -> list[StoredMessage]:
        """Return what the app posted in its direct message with `user_id`, oldest first."""
        channel = _dm_channel(user_id)
        return self.channel_messages(channel) if channel in self.channels else []

    def calls_to(self, method: str) -> list[SlackCall]:
        """Return the recorded calls to one method, oldest first."""
        return list(self._calls_by_method.get(method, []))

    def channel_messages(self, channel: str) -> list[StoredMessage]:
        """Return a channel's top-level messages, oldest first, with their current content."""
        return [self._messages[(channel, ts)] for ts in self._top_level.get(channel, [])]

    def thread(self, channel: str, ts: str) -> list[StoredMessage]:
        """Return the replies in the thread under (channel, ts), oldest first, parent excluded."""
        parent = self._messages.get((channel, ts))
        if parent is None:
            return []
        return [self._messages[(channel, reply)] for reply in parent.replies]

    def message(self, channel: str, ts: str) -> StoredMessage:
        """Return the current message at (channel, ts); fail the test clearly if there is none."""
        found = self._messages.get((channel, ts))
        if found is None:
            raise AssertionError(f"FakeSlack has no message ts={ts} in channel {channel}")
        return found

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        """Return ephemeral messages, all or those shown to one user, oldest first."""
        return [e for e in self._ephemerals if user is None or e.user == user]

    # The `timeout` parameter is the documented test-facing API; it bounds polling, not one await.
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Poll `predicate` until it holds; raise AssertionError naming it after `timeout` s."""
        # Real time, not the injected clock: tests often freeze the clock while the bot works.
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__qualname__", repr(predicate))
                recent = (
                    ", ".join(f"{c.method}->{c.error or 'ok'}" for c in self.calls[-8:]) or "none"
                )
                raise AssertionError(
                    f"FakeSlack.wait_for: {name} still false after {timeout}s "
                    f"(last calls: {recent})"
                )
            await asyncio.sleep(0.01)

    # -- HTTP plumbing -----------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token, bad_field = await self._read_args(request)
        from_header = request.headers.get("Authorization", "").startswith("Bearer ")
        try:
            body = self._dispatch(method, args, token, bad_field, from_header=from_header)
            status, headers = 200, {}
        except SlackApiFailure as failure:
            body = {"ok": False, "error": failure.error, **failure.extra}
            status, headers = failure.status, failure.headers
        call = SlackCall(
            method=method,
            args=args,
            status=status,
            ok=bool(body.get("ok")),
            error=body.get("error"),
            at=self.clock(),
        )
        self.calls.append(call)
        self._calls_by_method.setdefault(method, []).append(call)
        return web.json_response(body, status=status, headers=headers)

    async def _read_args(self, request: web.Request) -> tuple[JSON, str | None, str | None]:
        """Merge query, JSON or form arguments; decode JSON-string fields; pull out the token."""
        args: JSON = dict(request.query)
        bad_field: str | None = None
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except json.JSONDecodeError:
                    body = None
                if isinstance(body, dict):
                    args.update(body)
                else:
                    bad_field = "invalid_json"
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for name, error in _JSON_FIELDS.items():
            if isinstance(args.get(name), str):
                try:
                    args[name] = json.loads(args[name])
                except json.JSONDecodeError:
                    bad_field = bad_field or error
        token = args.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ").strip()
        return args, token if isinstance(token, str) else None, bad_field

    def _dispatch(
        self,
        method: str,
        args: JSON,
        token: str | None,
        bad_field: str | None,
        *,
        from_header: bool = True,
    ) -> JSON:
        """Apply outages, injected failures, auth and rate limits, then run the method."""
        now = self.clock()
        if self._outage_until is not None:
            if now < self._outage_until:
                raise SlackApiFailure("service_unavailable", status=503)
            self._outage_until = None
        self._raise_injected_failure(method)
        if method == "apps.connections.open":
            # The one method that takes the app-level token, not the bot token.
            return {"ok": True, **self.socket_mode.connections_open(token, from_header=from_header)}
        handler = self._methods.get(method)
        if handler is None:
            raise SlackApiFailure("unknown_method")
        if token is None:
            raise SlackApiFailure("not_authed")
        if token not in self.valid_tokens:
            raise SlackApiFailure("invalid_auth")
        if bad_field is not None:
            raise SlackApiFailure(bad_field)
        return {"ok": True, **handler(args)}

    def _raise_injected_failure(self, method: str) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        headers = {}
        if failure.status == 429:
            wait = failure.retry_after if failure.retry_after is not None else 1
            headers["Retry-After"] = f"{wait:g}"
        raise SlackApiFailure(failure.error, status=failure.status, headers=headers)

    def _take_rate_token(self, channel: str) -> None:
        bucket = self._buckets.get(channel)
        if bucket is None:
            return
        now = self.clock()
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(bucket.burst), bucket.tokens + elapsed * bucket.per_second)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        self.ratelimited_count += 1
        wait = max(1, math.ceil((1.0 - bucket.tokens) / bucket.per_second))
        raise SlackApiFailure("ratelimited", status=429, headers={"Retry-After": str(wait)})

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        target = self._response_targets.get(response_id)
        try:
            payload = await request.json()
        except json.JSONDecodeError:
            payload = None
        status, body = self._apply_response_url(target, payload)
        self.responses.append(
            ResponsePost(
                response_id=response_id,
                url=str(request.url),
                payload=payload if isinstance(payload, dict) else {"raw": payload},
                status=status,
                at=self.clock(),
            )
        )
        return web.json_response(body, status=status)

    def _apply_response_url(self, target: _ResponseTarget | None, payload: Any) -> tuple[int, JSON]:
        """Validate a response_url post and apply it to the source message or user."""
        if target is None:
            return 404, {"ok": False, "error": "no_service"}
        target.uses += 1
        if target.uses > RESPONSE_URL_MAX_USES:
            return 404, {"ok": False, "error": "used_url"}
        if not isinstance(payload, dict):
            return 400, {"ok": False, "error": "invalid_payload"}
        errors = blockkit.validate_message_text(payload.get("text"))
        if "blocks" in payload:
            errors += blockkit.validate_message_blocks(payload["blocks"])
        if errors:
            self._record_violations("response_url", errors)
            return 400, {"ok": False, "error": "invalid_blocks", "errors": errors}
        text = str(payload.get("text") or "")
        blocks: list[JSON] = payload.get("blocks") or []
        source = (
            self._messages.get((target.channel, target.message_ts))
            if target.channel is not None and target.message_ts is not None
            else None
        )
        if payload.get("delete_original") and source is not None:
            self._delete_message(source)
        elif payload.get("replace_original") and source is not None:
            source.text, source.blocks = text, blocks
            source.edited = {"user": self.bot_user_id, "ts": self._next_ts()}
        elif payload.get("response_type") == "in_channel" and target.channel is not None:
            self._store_message(
                self._resolve_channel(target.channel),
                text=text,
                blocks=blocks,
                user=self.bot_user_id,
                thread_ts=payload.get("thread_ts"),
                from_bot=True,
            )
        else:
            self._ephemerals.append(
                Ephemeral(
                    channel=target.channel,
                    user=target.user_id,
                    text=text,
                    blocks=blocks,
                    message_ts=self._next_ts(),
                    source="response_url",
                )
            )
        return 200, {"ok": True}

    # -- helpers -----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_micros += _TS_STEP_MICROS
        seconds, micros = divmod(self._ts_micros, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0SB{next(self._ids):07d}"

    def _record_violations(self, method: str, errors: list[str]) -> None:
        self.violations.extend(Violation(method=method, detail=e) for e in errors)

    def _resolve_channel(self, value: Any) -> FakeChannel:
        """Find a channel by id or name; unknown ids that look like Slack ids are created."""
        if not isinstance(value, str) or not value:
            raise SlackApiFailure("channel_not_found")
        channel = self.channels.get(value)
        if channel is not None:
            return channel
        by_name = self._channel_names.get(value.removeprefix("#"))
        if by_name is not None:
            return self.channels[by_name]
        if _CHANNEL_ID.match(value) and value not in self._deleted_channels:
            return self.add_channel(value)
        if _USER_ID.match(value):
            # Slack: a user ID as `channel` posts in the app's direct message with that user.
            return self.channels.get(_dm_channel(value)) or self.add_channel(
                _dm_channel(value),
                name=f"dm-{value.lower()}",
                members=[value, self.bot_user_id],
                is_private=True,
            )
        raise SlackApiFailure("channel_not_found")

    def _find_message(self, channel: str, ts: Any) -> StoredMessage:
        found = self._messages.get((channel, ts)) if isinstance(ts, str) else None
        if found is None:
            raise SlackApiFailure("message_not_found")
        return found

    def _check_blocks(self, method: str, args: JSON) -> None:
        errors = blockkit.validate_message_text(args.get("text"))
        if args.get("blocks") is not None:
            errors += blockkit.validate_message_blocks(args["blocks"])
        if errors:
            self._record_violations(method, errors)
            error = "msg_too_long" if not args.get("blocks") else "invalid_blocks"
            raise SlackApiFailure(error, extra={"errors": errors})

    def _check_view(self, method: str, view: Any) -> JSON:
        if view is None:
            raise SlackApiFailure("invalid_arguments")
        errors = blockkit.validate_view(view)
        if errors:
            self._record_violations(method, errors)
            raise SlackApiFailure(
                "invalid_arguments", extra={"response_metadata": {"messages": errors}}
            )
        checked: JSON = view
        return checked

    def _store_message(
        self,
        channel: FakeChannel,
        *,
        text: str,
        blocks: list[JSON],
        user: str,
        thread_ts: str | None = None,
        metadata: JSON | None = None,
        reply_broadcast: bool = False,
        from_bot: bool = False,
    ) -> StoredMessage:
        parent = None
        if thread_ts is not None:
            parent = self._messages.get((channel.id, thread_ts))
            if parent is None:
                raise SlackApiFailure("thread_not_found")
            if parent.is_reply:
                parent = self._messages[(channel.id, str(parent.thread_ts))]
        message = StoredMessage(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            user=user,
            bot_id=self.bot_id if from_bot else None,
            app_id=self.app_id if from_bot else None,
            team=self.team_id,
            thread_ts=parent.ts if parent is not None else None,
            parent_user_id=parent.user if parent is not None else None,
            metadata=metadata,
            reply_broadcast=reply_broadcast and parent is not None,
        )
        self._messages[(channel.id, message.ts)] = message
        if parent is not None:
            parent.replies.append(message.ts)
            if user not in parent.reply_users:
                parent.reply_users.append(user)
        if parent is None or message.reply_broadcast:
            self._top_level.setdefault(channel.id, []).append(message.ts)
        return message

    def _delete_message(self, message: StoredMessage) -> None:
        del self._messages[(message.channel, message.ts)]
        top = self._top_level.get(message.channel, [])
        if message.ts in top:
            top.remove(message.ts)
        if message.is_reply:
            parent = self._messages.get((message.channel, str(message.thread_ts)))
            if parent is not None and message.ts in parent.replies:
                parent.replies.remove(message.ts)

    def _permalink(self, message: StoredMessage) -> str:
        link = f"https://{self.team_domain}.slack.com/archives/{message.channel}/p"
        link += message.ts.replace(".", "")
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return link

    def _members(self, channel: FakeChannel) -> list[str]:
        if channel.members is not None:
            return list(channel.members)
        return list(self.users)

    # -- chat.* ------------------------------------------------------------------------------

    def _auth_test(self, args: JSON) -> JSON:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Sandbox",
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _require_bot_in(self, channel: FakeChannel) -> None:
        if channel.members is not None and self.bot_user_id not in channel.members:
            raise SlackApiFailure("not_in_channel")

    def _chat_post_message(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        self._require_bot_in(channel)
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackApiFailure("no_text")
        self._check_blocks("chat.postMessage", args)
        metadata = _metadata(args.get("metadata"))
        self._take_rate_token(channel.id)
        thread_ts = args.get("thread_ts") or None
        message = self._store_message(
            channel,
            text=str(args.get("text") or ""),
            blocks=args.get("blocks") or [],
            user=self.bot_user_id,
            thread_ts=str(thread_ts) if thread_ts is not None else None,
            metadata=metadata,
            reply_broadcast=_flag(args.get("reply_broadcast")),
            from_bot=True,
        )
        return {"channel": channel.id, "ts": message.ts, "message": message.as_dict()}

    def _chat_update(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        message = self._find_message(channel.id, args.get("ts"))
        if message.user != self.bot_user_id:
            raise SlackApiFailure("cant_update_message")
        self._check_blocks("chat.update", args)
        if "metadata" in args:
            message.metadata = _metadata(args["metadata"])
        if "text" in args:
            message.text = str(args["text"] or "")
        # Slack keeps the previous blocks when `blocks` is omitted; an empty list removes them.
        if args.get("blocks") is not None:
            message.blocks = args["blocks"]
        message.edited = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_dict(),
        }

    def _chat_post_ephemeral(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        user = args.get("user")
        if not isinstance(user, str) or not _USER_ID.match(user):
            raise SlackApiFailure("user_not_found")
        if channel.members is not None and user not in channel.members:
            raise SlackApiFailure("user_not_in_channel")
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackApiFailure("no_text")
        self._check_blocks("chat.postEphemeral", args)
        ephemeral = Ephemeral(
            channel=channel.id,
            user=user,
            text=str(args.get("text") or ""),
            blocks=args.get("blocks") or [],
            message_ts=self._next_ts(),
            thread_ts=args.get("thread_ts"),
        )
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.message_ts}

    def _chat_delete(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        message = self._find_message(channel.id, args.get("ts"))
        if message.user != self.bot_user_id:
            raise SlackApiFailure("cant_delete_message")
        self._delete_message(message)
        return {"channel": channel.id, "ts": message.ts}

    def _chat_get_permalink(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        message = self._find_message(channel.id, args.get("message_ts"))
        return {"channel": channel.id, "permalink": self._permalink(message)}

    def _reactions_add(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        name = args.get("name")
        if not isinstance(name, str) or not name:
            raise SlackApiFailure("invalid_name")
        message = self._find_message(channel.id, args.get("timestamp"))
        users = message.reactions.setdefault(name, [])
        if self.bot_user_id in users:
            raise SlackApiFailure("already_reacted")
        users.append(self.bot_user_id)
        return {}

    # -- views.* -----------------------------------------------------------------------------

    def _render_view(
        self,
        view_id: str,
        view: JSON,
        *,
        root_view_id: str | None,
        previous_view_id: str | None,
    ) -> JSON:
        """Build the view object Slack returns and stores, with a fresh hash."""
        n = next(self._ids)
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": view.get("blocks") or [],
            "private_metadata": view.get("private_metadata") or "",
            "callback_id": view.get("callback_id") or "",
            "state": {"values": {}},
            "hash": f"{1_700_000_000 + n}.sb{n:06d}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id") or "",
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _use_trigger(self, trigger_id: Any) -> _Trigger:
        trigger = self._triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise SlackApiFailure("invalid_trigger_id")
        if self.clock() - trigger.issued_at > TRIGGER_TTL_SECONDS:
            raise SlackApiFailure("expired_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        trigger.used = True
        return trigger

    def _store_view(self, view_id: str, user_id: str | None, payload: JSON) -> StoredView:
        stored = StoredView(id=view_id, user_id=user_id, payload=payload)
        self.views[view_id] = stored
        if payload["external_id"]:
            self._external_ids[payload["external_id"]] = view_id
        return stored

    def _push_view(self, user_id: str | None, view: JSON) -> StoredView:
        stack = self._view_stacks.get(user_id or "")
        if not stack:
            raise SlackApiFailure("invalid_arguments")
        if len(stack) >= MAX_VIEW_STACK:
            raise SlackApiFailure("push_limit_reached")
        view_id = self._next_id("V")
        payload = self._render_view(
            view_id, view, root_view_id=stack[0], previous_view_id=stack[-1]
        )
        stack.append(view_id)
        return self._store_view(view_id, user_id, payload)

    def _views_open(self, args: JSON) -> JSON:
        if not args.get("trigger_id"):
            raise SlackApiFailure("invalid_arguments")
        view = self._check_view("views.open", args.get("view"))
        if view["type"] != "modal":
            raise SlackApiFailure("invalid_arguments")
        trigger = self._use_trigger(args["trigger_id"])
        view_id = self._next_id("V")
        payload = self._render_view(view_id, view, root_view_id=None, previous_view_id=None)
        self._view_stacks[trigger.user_id or ""] = [view_id]
        stored = self._store_view(view_id, trigger.user_id, payload)
        return {"view": stored.payload}

    def _views_push(self, args: JSON) -> JSON:
        if not args.get("trigger_id"):
            raise SlackApiFailure("invalid_arguments")
        view = self._check_view("views.push", args.get("view"))
        trigger = self._use_trigger(args["trigger_id"])
        return {"view": self._push_view(trigger.user_id, view).payload}

    def _views_update(self, args: JSON) -> JSON:
        view_id = args.get("view_id") or self._external_ids.get(str(args.get("external_id")))
        if not args.get("view_id") and not args.get("external_id"):
            raise SlackApiFailure("invalid_arguments")
        stored = self.views.get(str(view_id))
        if stored is None or stored.closed:
            raise SlackApiFailure("not_found")  # Slack forgets a view once the user closes it
        view = self._check_view("views.update", args.get("view"))
        if args.get("hash") and args["hash"] != stored.hash:
            raise SlackApiFailure("hash_conflict")
        # An update that omits external_id keeps the one the view was opened with.
        view = {"external_id": stored.payload["external_id"], **view}
        stored.payload = self._render_view(
            stored.id,
            view,
            root_view_id=stored.payload["root_view_id"],
            previous_view_id=stored.payload["previous_view_id"],
        )
        return {"view": stored.payload}

    def _views_publish(self, args: JSON) -> JSON:
        user_id = args.get("user_id")
        if not isinstance(user_id, str) or not _USER_ID.match(user_id):
            raise SlackApiFailure("invalid_arguments")
        view = self._check_view("views.publish", args.get("view"))
        if view["type"] != "home":
            raise SlackApiFailure("invalid_arguments")
        current = self.home_views.get(user_id)
        if current is not None and args.get("hash") and args["hash"] != current.hash:
            raise SlackApiFailure("hash_conflict")
        view_id = current.id if current is not None else self._next_id("V")
        payload = self._render_view(view_id, view, root_view_id=None, previous_view_id=None)
        stored = self._store_view(view_id, user_id, payload)
        self.home_views[user_id] = stored
        return {"view": stored.payload}

    # -- users, conversations, usergroups ----------------------------------------------------

    def _users_info(self, args: JSON) -> JSON:
        user = self.users.get(str(args.get("user")))
        if user is None:
            raise SlackApiFailure("user_not_found")
        offset = datetime.now(UTC).astimezone(ZoneInfo(user.tz)).utcoffset()
        return {
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "deleted": False,
                "real_name": user.real_name,
                "tz": user.tz,
                "tz_label": user.tz,
                "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
                "is_admin": False,
                "is_owner": False,
                "is_bot": user.is_bot,
                "is_app_user": False,
                "profile": {
                    "display_name": user.display_name,
                    "display_name_normalized": user.display_name,
                    "real_name": user.real_name,
                    "real_name_normalized": user.real_name,
                    "team": self.team_id,
                },
            }
        }

    def _conversations_info(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": channel.id.startswith("C"),
                "is_group": channel.id.startswith("G"),
                "is_im": channel.id.startswith("D"),
                "is_private": channel.is_private,
                "is_archived": False,
                "is_member": self.bot_user_id in self._members(channel),
                "created": 1_700_000_000,
                "context_team_id": self.team_id,
            }
        }

    def _conversations_members(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        members = self._members(channel)
        start = _decode_offset_cursor(args.get("cursor"))
        limit = _limit(args.get("limit"), default=100)
        page = members[start : start + limit]
        more = start + limit < len(members)
        return {
            "members": page,
            "response_metadata": {"next_cursor": _offset_cursor(start + limit) if more else ""},
        }

    def _conversations_history(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        self._require_bot_in(channel)
        stamps = self._top_level.get(channel.id, [])
        inclusive = _flag(args.get("inclusive"))
        oldest = _ts_key(args.get("oldest"), default=0)
        latest = _ts_key(args.get("latest"), default=math.inf)
        lo = (bisect.bisect_left if inclusive else bisect.bisect_right)(
            stamps, oldest, key=_ts_key_of
        )
        hi = (bisect.bisect_right if inclusive else bisect.bisect_left)(
            stamps, latest, key=_ts_key_of
        )
        cursor = _decode_ts_cursor(args.get("cursor"))
        if cursor is not None:
            hi = min(hi, bisect.bisect_right(stamps, cursor, key=_ts_key_of))
        limit = _limit(args.get("limit"), default=100)
        first = max(lo, hi - limit)
        page = [self._messages[(channel.id, ts)].as_dict() for ts in reversed(stamps[first:hi])]
        has_more = first > lo
        next_cursor = _ts_cursor(stamps[first - 1]) if has_more else ""
        return {
            "messages": page,
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_replies(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        ts = args.get("ts")
        message = self._messages.get((channel.id, ts)) if isinstance(ts, str) else None
        if message is None:
            raise SlackApiFailure("thread_not_found")
        stamps = [message.ts] if message.is_reply else [message.ts, *message.replies]
        start = _decode_offset_cursor(args.get("cursor"))
        limit = _limit(args.get("limit"), default=1000)
        page = stamps[start : start + limit]
        more = start + limit < len(stamps)
        return {
            "messages": [self._messages[(channel.id, s)].as_dict() for s in page],
            "has_more": more,
            "response_metadata": {"next_cursor": _offset_cursor(start + limit) if more else ""},
        }

    def _usergroups_users_list(self, args: JSON) -> JSON:
        users = self.usergroups.get(str(args.get("usergroup")))
        if users is None:
            raise SlackApiFailure("no_such_subteam")
        return {"users": list(users)}


def _dm_channel(user_id: str) -> str:
    return f"D{user_id[1:]}"


def _metadata(value: Any) -> JSON | None:
    """Check message metadata has Slack's shape: event_type plus an event_payload object."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not isinstance(value.get("event_payload", {}), dict)
    ):
        raise SlackApiFailure("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": value.get("event_payload", {})}


def _flag(value: Any) -> bool:
    """Read a boolean argument sent as JSON, or as "true"/"1" in a form or query."""
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)


def _limit(value: Any, *, default: int) -> int:
    try:
        limit = int(value) if value is not None else default
    except (TypeError, ValueError) as exc:
        raise SlackApiFailure("invalid_limit") from exc
    return max(1, min(limit, 1000))


def _ts_key(value: Any, *, default: float) -> float:
    """Turn a Slack ts ("1700000000.000100", "0", float) into comparable microseconds."""
    if value is None or value == "":
        return default
    # Parsed exactly: a float cannot hold 16 significant digits of seconds.micros reliably.
    seconds, _, fraction = str(value).partition(".")
    try:
        return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])
    except ValueError as exc:
        raise SlackApiFailure("invalid_ts_oldest") from exc


def _ts_key_of(ts: str) -> float:
    return _ts_key(ts, default=0)


def _ts_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_ts_cursor(cursor: Any) -> float | None:
    if not cursor:
        return None
    try:
        raw = base64.b64decode(str(cursor)).decode()
    except ValueError as exc:
        raise SlackApiFailure("invalid_cursor") from exc
    if not raw.startswith("next_ts:"):
        raise SlackApiFailure("invalid_cursor")
    return _ts_key(raw.removeprefix("next_ts:"), default=math.inf)


def _offset_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_offset_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.b64decode(str(cursor)).decode()
        return int(raw.removeprefix("offset:"))
    except ValueError as exc:
        raise SlackApiFailure("invalid_cursor") from exc
