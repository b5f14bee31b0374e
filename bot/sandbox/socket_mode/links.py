"""Socket Mode in the sandbox Slack: app tokens, one-time links and the WebSockets behind them.

`apps.connections.open` takes an app-level token (`xapp-…`) in the Authorization header and
answers `{ok, url}` with a one-time WebSocket URL on loopback; a new connection gets `hello`
(`num_connections`, `debug_info`, `connection_info.app_id`); acks (`{"envelope_id",
"payload"?}`) are matched to the envelopes waiting for them. Knobs send `disconnect` (`warning`,
`refresh_requested`, `link_disabled`), drop connections without a close frame as a network does,
refuse the handshake, or hand out links to a host the app cannot reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from bot.sandbox.slack.records import SlackApiFailure

if TYPE_CHECKING:
    from bot.sandbox.slack import FakeSlack

JSON = dict[str, Any]

APP_TOKEN = "xapp-1-A0CAREBOT-1-sandbox"
LINK_PATH = "/link/"
# Slack expects an ack within 3 s; after that the user sees an error (interactivity, commands)
# or the event is sent again (Events API, up to three retries).
ACK_TIMEOUT_SECONDS = 3.0
EVENT_RETRIES = 3
# An app may hold up to 10 connections at once; Slack spreads envelopes over them.
MAX_CONNECTIONS = 10
# How long Slack keeps a connection open after telling it `warning` or `refresh_requested`.
DISCONNECT_GRACE_SECONDS = 10.0
TICKET_TTL_SECONDS = 60.0
# Envelope types and, for `interactive`, the payload types whose ack may carry a response.
ENVELOPE_TYPES = frozenset({"events_api", "interactive", "slash_commands"})
_RESPONSE_PAYLOAD_TYPES = frozenset({"view_submission", "block_suggestion"})
# apps.connections.open answers these for tokens it cannot use.
_BOT_TOKEN_PREFIXES = ("xoxb-", "xoxp-")


class SocketModeUnavailable(Exception):
    """No Socket Mode connection is open to deliver an envelope on."""


@dataclass
class SocketConnection:
    """One WebSocket an app opened with a ticket from apps.connections.open."""

    id: int
    ws: web.WebSocketResponse = field(repr=False)
    transport: asyncio.BaseTransport | None = field(repr=False)
    opened_at: float
    closed_at: float | None = None
    close_code: int | None = None
    envelopes: int = 0
    acks: int = 0
    told: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        """Tell whether the connection is still up."""
        return self.closed_at is None and not self.ws.closed


@dataclass
class SocketAck:
    """How the app answered one request sent over Socket Mode."""

    envelope_id: str
    type: str
    acked: bool
    payload: JSON | None
    elapsed: float
    attempts: int
    connection: int | None


@dataclass
class _Ticket:
    issued_at: float
    used: bool = False


class SocketLinks:
    """Socket Mode's connection side for one app: tokens, tickets, links and acks."""

    def __init__(
        self,
        slack: FakeSlack,
        *,
        app_token: str = APP_TOKEN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slack = slack
        self.app_token = app_token
        self.valid_app_tokens: set[str] = {app_token}
        self.clock = clock
        self.connections: list[SocketConnection] = []
        self.acks: list[SocketAck] = []
        # Acks the fake could not match to an envelope, or that broke the protocol.
        self.protocol_errors: list[str] = []
        self.grace_seconds = DISCONNECT_GRACE_SECONDS
        # How long Slack waits for an ack (3 s); tests of a silent app shorten it.
        self.ack_seconds = ACK_TIMEOUT_SECONDS
        # When set, the WebSocket handshake is refused with this HTTP status (a link that is
        # down while apps.connections.open still answers).
        self.refuse_handshake: int | None = None
        # When set, apps.connections.open hands out URLs on this base (`ws://host:port`) instead
        # of the fake's own: a WebSocket host the app cannot reach.
        self.link_base: str | None = None
        self._tickets: dict[str, _Ticket] = {}
        self._pending: dict[str, asyncio.Future[JSON | None]] = {}
        self._acked_at: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._next_connection = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- apps.connections.open ---------------------------------------------------------------

    def connections_open(self, token: str | None, *, from_header: bool) -> JSON:
        """Answer apps.connections.open: a one-time WebSocket URL for a valid app token."""

        if token is None or not from_header:
            # Slack takes this token only in the Authorization header.
            raise SlackApiFailure("not_authed")
        if token.startswith(_BOT_TOKEN_PREFIXES) or token in self.slack.valid_tokens:
            raise SlackApiFailure("not_allowed_token_type")
        if token not in self.valid_app_tokens:
            raise SlackApiFailure("invalid_auth")
        ticket = secrets.token_hex(16)
        self._tickets[ticket] = _Ticket(issued_at=self.clock())
        ws_base = self.link_base or self.slack.base_url.replace("http://", "ws://", 1)
        return {"url": f"{ws_base}{LINK_PATH}?ticket={ticket}&app_id={self.slack.app_id}"}

    # -- knobs -------------------------------------------------------------------------------

    def revoke_app_token(self, token: str | None = None) -> None:
        """Revoke an app token: apps.connections.open then answers `invalid_auth`."""
        self.valid_app_tokens.discard(token if token is not None else self.app_token)

    async def disconnect(
        self, reason: str, *, grace: float | None = None, connection: int | None = None
    ) -> list[SocketConnection]:
        """Send `disconnect` with `reason` to every open connection (or one), as Slack does.

        `warning` and `refresh_requested` leave the connection open for `grace` seconds (Slack's
        notice) and then close it; `link_disabled` (Socket Mode turned off in the app's settings)
        closes it at once. Return the connections told.
        """
        told = [c for c in self.connections if c.open and connection in (None, c.id)]
        message = json.dumps(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": _HOST}}
        )
        wait = (
            0.0
            if reason == "link_disabled"
            else (grace if grace is not None else self.grace_seconds)
        )
        for conn in told:
            conn.told.append(reason)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_str(message)
            self._spawn(self._close_later(conn, wait))
        return told

    def drop(self, connection: int | None = None) -> list[SocketConnection]:
        """Cut open connections (or one) without a close frame, as a network failure does."""
        dropped = [c for c in self.connections if c.open and connection in (None, c.id)]
        for conn in dropped:
            if conn.transport is not None:
                conn.transport.abort()  # type: ignore[attr-defined]
            conn.closed_at = self.clock()
        return dropped

    async def close_all(self) -> None:
        """Close every connection with a normal close frame (the fake is shutting down)."""
        for conn in list(self.connections):
            if conn.open:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.close()
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.cancel()

    # -- inspection --------------------------------------------------------------------------

    def open_connections(self) -> list[SocketConnection]:
        """Return the connections open right now, oldest first."""
        return [c for c in self.connections if c.open]

    async def wait_connected(
        self, count: int = 1, seconds: float = 10.0, *, opened: int = 0
    ) -> None:
        """Wait until `count` connections are open and at least `opened` were ever opened."""
        deadline = time.monotonic() + seconds
        while len(self.open_connections()) < count or len(self.connections) < opened:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"FakeSocketMode: {len(self.open_connections())} connection(s) open and "
                    f"{len(self.connections)} ever opened after {seconds}s; wanted {count} open "
                    f"and {opened} opened"
                )
            await asyncio.sleep(0.01)

    # -- the WebSocket -----------------------------------------------------------------------

    async def handle_link(self, request: web.Request) -> web.StreamResponse:
        """Serve one Socket Mode WebSocket opened with a ticket from apps.connections.open."""
        ticket = self._tickets.get(request.query.get("ticket", ""))
        if ticket is None or ticket.used or self.clock() - ticket.issued_at > TICKET_TTL_SECONDS:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        if request.query.get("app_id") != self.slack.app_id:
            return web.json_response({"ok": False, "error": "invalid_app_id"}, status=401)
        if self.refuse_handshake is not None:
            return web.json_response(
                {"ok": False, "error": "service_unavailable"}, status=self.refuse_handshake
            )
        if len(self.open_connections()) >= MAX_CONNECTIONS:
            return web.json_response({"ok": False, "error": "too_many_websockets"}, status=429)
        ticket.used = True
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = SocketConnection(
            id=next(self._ids), ws=ws, transport=request.transport, opened_at=self.clock()
        )
        self.connections.append(conn)
        hello = {
            "type": "hello",
            "num_connections": len(self.open_connections()),
            "debug_info": {
                "host": _HOST,
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.slack.app_id},
        }
        try:
            await ws.send_str(json.dumps(hello))
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._ack(conn, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        except (ConnectionError, RuntimeError):
            pass  # dropped: the loop below records it
        finally:
            if conn.closed_at is None:
                conn.closed_at = self.clock()
            conn.close_code = ws.close_code
        return ws

    def _ack(self, conn: SocketConnection, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            self.protocol_errors.append(
                f"connection {conn.id} sent text that is not JSON: {data!r}"
            )
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not isinstance(envelope_id, str) or envelope_id not in self._pending:
            self.protocol_errors.append(
                f"connection {conn.id} acked an unknown or already answered envelope: {data!r}"
            )
            return
        future = self._pending[envelope_id]
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            self.protocol_errors.append(f"ack payload is not an object: {data!r}")
            payload = None
        if not future.done():
            self._acked_at[envelope_id] = time.perf_counter()
            future.set_result(payload)

    async def _close_later(self, conn: SocketConnection, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
        if conn.open:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.close()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_HOST = "applink-sandbox-1"
