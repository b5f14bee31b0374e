"""Socket Mode for the running bot: slack_bolt's AsyncSocketModeHandler, kept connected.

Bolt's handler dispatches each envelope to the app and acks it (with the listener's response
payload); slack_sdk's aiohttp client underneath receives, pings and sends. What this module owns is
*when* to connect. slack_sdk's own loop retries a failed connect forever, logging a traceback
every ping interval, and a process awaiting it cannot stop; here every connect is one attempt,
and `SocketModeLink.run` keeps one connection open: it waits for Slack's `hello`, reconnects at
once when Slack asks (`disconnect` with `refresh_requested` or `warning`: the new connection opens
before the old one closes), reconnects with exponential backoff when the connection drops or
Slack is unreachable, waits longest after `link_disabled`, and is cancelled at any point, so
SIGTERM and SIGINT stop the bot in every state. An app token Slack refuses at the first connect
is a configuration error naming SLACK_APP_TOKEN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError

log = logging.getLogger(__name__)

# Errors of apps.connections.open that no retry fixes: the app token itself is wrong.
TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
    }
)
# Bolt's default ping interval; aiohttp's heartbeat closes a connection whose pong is half that
# late, so a connection the network silently lost is noticed within ~15 s.
PING_INTERVAL = 10.0
HELLO_SECONDS = 10.0
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
# A connection that lived this long was fine: losing it starts the backoff afresh.
STABLE_SECONDS = 30.0
# How long closing a connection may wait for Slack's close frame (aiohttp's default is 10 s).
CLOSE_SECONDS = 2.0
CHECK_SECONDS = 0.1


def backoff(failures: int, *, first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX) -> float:
    """Return the wait before the next connect after `failures` failed ones (0: at once)."""
    if failures <= 0:
        return 0.0
    # Full jitter above half the step, so replicas cut off together do not reconnect together.
    step: float = min(cap, first * 2.0 ** (failures - 1))
    return step / 2 + random.random() * step / 2


class _Client(SocketModeClient):
    """slack_sdk's aiohttp Socket Mode client, making one connection attempt per `connect()`.

    Reconnecting is left to `SocketModeLink`: slack_sdk calls `connect_to_new_endpoint` when Slack
    sends `disconnect`, and that only reports it here. Acks and pings are slack_sdk's own.
    """

    def __init__(self, *, link: SocketModeLink, **kwargs: Any) -> None:
        super().__init__(auto_reconnect_enabled=False, **kwargs)
        self._link = link

    async def connect(self) -> None:
        """Open a new connection with a fresh URL, then retire the previous one."""
        url: str = await self.issue_new_wss_url()
        session = await self.aiohttp_client_session.ws_connect(
            url,
            autoping=False,
            heartbeat=self.ping_interval,
            proxy=self.proxy,
            timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_SECONDS),
        )
        old = self.current_session
        self.wss_uri = url
        self.current_session = session
        self.stale = False
        self.last_ping_pong_time = None
        for task in (self.message_receiver, self.current_session_monitor):
            if task is not None:
                task.cancel()
        self.message_receiver = asyncio.ensure_future(self.receive_messages())
        self.current_session_monitor = asyncio.ensure_future(self.monitor_current_session())
        if old is not None and not old.closed:
            with contextlib.suppress(Exception):
                await old.close()

    async def connect_to_new_endpoint(self, force: bool = False) -> None:
        """Leave reconnecting to the link (slack_sdk calls this on `disconnect`)."""

    async def run_message_listeners(self, message: dict[str, Any], raw_message: str) -> None:
        """Tell the link about `hello` and `disconnect`; hand everything else to slack_sdk."""
        kind = message.get("type")
        if kind == "hello":
            self._link.hello(message)
        elif kind == "disconnect":
            self._link.asked_to_disconnect(str(message.get("reason") or "unknown"))
            return
        await super().run_message_listeners(message, raw_message)


class _Handler(AsyncSocketModeHandler):
    """Bolt's AsyncSocketModeHandler (its dispatch and acks) on a `_Client`."""

    def __init__(self, app: AsyncApp, client: _Client) -> None:
        # Not super().__init__: that builds a stock client, with its own session and task.
        self.app = app
        self.app_token = client.app_token
        self.client = client
        client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """Whether the bot is connected to Slack over Socket Mode, and why not if it is not."""

    connected: bool
    detail: str
    connections: int


class SocketModeLink:
    """Keeps one Socket Mode connection to Slack open for a Bolt app until cancelled."""

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        *,
        api_url: str,
        ping_interval: float = PING_INTERVAL,
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self._client = _Client(
            link=self,
            app_token=app_token,
            # Its own client, without retry handlers: the backoff here is the retry policy.
            web_client=AsyncWebClient(base_url=api_url, timeout=10),
            ping_interval=ping_interval,
            logger=logging.getLogger("carebot.socket_mode.sdk"),
        )
        self.handler = _Handler(app, self._client)
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.connections = 0
        self._detail = "not connected yet"
        self._connected = False
        self._hello = asyncio.Event()
        self._disconnect_reason: str | None = None

    # -- what slack_sdk's client reports --------------------------------------------------------

    def hello(self, message: dict[str, Any]) -> None:
        """Note Slack's `hello` on a new connection."""
        self._hello.set()

    def asked_to_disconnect(self, reason: str) -> None:
        """Note Slack's `disconnect` message and its reason."""
        self._disconnect_reason = reason

    # -- state -----------------------------------------------------------------------------------

    def status(self) -> LinkStatus:
        """Return whether the bot is connected now and, if not, why."""
        return LinkStatus(
            connected=self._connected, detail=self._detail, connections=self.connections
        )

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and stay connected until cancelled.

        Raise ConfigError (SLACK_APP_TOKEN) when Slack refuses the app token before the first
        connection; later refusals are retried slowly, since a token may be fixed while we run.
        """
        failures = 0
        while True:
            why = await self._connect_once()
            if why is None:
                lived, reason = await self._until_lost()
                self._connected = False
                if lived >= STABLE_SECONDS:
                    failures = 0
                failures, wait = self._after_loss(reason, failures)
            else:
                failures += 1
                wait = backoff(failures, first=self.backoff_first, cap=self.backoff_max)
                self._detail = f"cannot connect: {why}"
                log.warning(
                    "Socket Mode: cannot connect to Slack (%s); trying again in %.1fs", why, wait
                )
            if wait > 0:
                await asyncio.sleep(wait)

    async def _connect_once(self) -> str | None:
        """Make one connection and wait for its hello; return None, or why it failed."""
        self._hello.clear()
        self._disconnect_reason = None
        try:
            await self._client.connect()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
            if error in TOKEN_ERRORS:
                if self.connections == 0:
                    raise ConfigError(
                        "SLACK_APP_TOKEN",
                        f"was refused by Slack ({error} from apps.connections.open): use the "
                        "app-level token (xapp-…) with the connections:write scope, from Basic "
                        "Information → App-Level Tokens",
                    ) from None
                log.error("Socket Mode: Slack refuses the app token now (%s)", error)
            return f"apps.connections.open answered {error}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return _describe(exc)
        deadline = time.monotonic() + HELLO_SECONDS
        while not self._hello.is_set():
            if time.monotonic() >= deadline:
                await self._close_session()
                return f"no hello from Slack within {HELLO_SECONDS:.0f}s of connecting"
            await asyncio.sleep(0.01)
        self.connections += 1
        self._connected = True
        self._detail = "connected"
        if self.connections == 1:
            log.info("connected to Slack over Socket Mode")
        else:
            log.info("Socket Mode: connected again (connection %d)", self.connections)
        return None

    async def _until_lost(self) -> tuple[float, str]:
        """Wait until Slack asks us to go or the connection drops; return its age and why."""
        started = time.monotonic()
        # A plain poll: cheap at this rate, and a cancellation can never be lost in it (a
        # wait_for that times out just as the task is cancelled can swallow the cancel on 3.11).
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            if self._disconnect_reason is not None:
                return time.monotonic() - started, self._disconnect_reason
            if not await self._client.is_connected():
                return time.monotonic() - started, "dropped"

    def _after_loss(self, reason: str, failures: int) -> tuple[int, float]:
        """Log why the connection ended; return the failure count and the wait before the next."""
        if reason in ("refresh_requested", "warning", "too_many_websockets"):
            # Slack's notice: the old connection stays up until the new one replaces it.
            log.info("Socket Mode: Slack asked for a new connection (%s); reconnecting", reason)
            self._detail = f"reconnecting: Slack sent disconnect ({reason})"
            return failures, 0.0
        if reason == "link_disabled":
            log.error(
                "Socket Mode: Slack turned Socket Mode off for this app (link_disabled); turn it "
                "on again under Settings → Socket Mode, or run with --http. Trying again in %.1fs",
                self.backoff_max,
            )
            self._detail = "Slack turned Socket Mode off for this app (link_disabled)"
            return failures + 1, self.backoff_max
        failures += 1
        wait = backoff(failures - 1, first=self.backoff_first, cap=self.backoff_max)
        log.warning("Socket Mode: the connection to Slack was lost (%s); reconnecting", reason)
        self._detail = f"reconnecting: the connection was lost ({reason})"
        return failures, wait

    async def _close_session(self) -> None:
        session = self._client.current_session
        if session is not None and not session.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.close(), CLOSE_SECONDS)

    async def close(self) -> None:
        """Close the connection and the client's resources, in bounded time."""
        self._connected = False
        self._detail = "stopped"
        try:
            await asyncio.wait_for(self._client.close(), CLOSE_SECONDS + 1)  # type: ignore[no-untyped-call]
        except TimeoutError:
            log.warning("Socket Mode: Slack did not answer the close in time; leaving it")
            await self._client.aiohttp_client_session.close()


def _describe(exc: BaseException) -> str:
    """Say in a few words why a connection attempt failed."""
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"the WebSocket handshake was refused (HTTP {exc.status})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot reach {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
