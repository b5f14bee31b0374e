"""The sandbox stack: fake Slack, X, Bluesky and Mastodon on free loopback ports, settings that
point the bot at them, and the real bot running in this process over HTTP or Socket Mode. Used by
`carebot demo` and the end-to-end tests, so both exercise exactly what a real deployment runs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.runtime import Runtime
from bot.sandbox.bluesky import FakeBluesky
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import FakeSlack
from bot.sandbox.x import FakeX
from bot.serve import LISTEN_BACKLOG, health_app, healthz_app
from bot.settings import Settings
from bot.socket_mode import SocketModeLink

CHANNEL = "C0CARE"
# The folder holding `bot/`, so a bot process started from a source checkout imports this code.
SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox"
X_BEARER_TOKEN = "sandbox-bearer"
X_API_KEY = "sandbox-key"
X_API_SECRET = "sandbox-key-secret"
X_ACCESS_TOKEN = "sandbox-access"
X_ACCESS_TOKEN_SECRET = "sandbox-access-secret"


@dataclass(slots=True)
class Sandbox:
    """Running fakes and the settings that point a bot at them."""

    slack: FakeSlack
    x: FakeX
    bluesky: FakeBluesky = field(default_factory=FakeBluesky)
    mastodon: FakeMastodon = field(default_factory=FakeMastodon)
    channel: str = CHANNEL
    # The networks a bot using this sandbox has turned on (all fakes run either way).
    networks: tuple[str, ...] = ("x",)
    # FakeX checks only that an OAuth signature is present, so it never learns these two.
    x_api_secret: str = X_API_SECRET
    x_access_token_secret: str = X_ACCESS_TOKEN_SECRET

    def environment(self, database_url: str, **extra: str) -> dict[str, str]:
        """Return the environment variables for a bot (or another client) using this sandbox."""
        env = {
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_APP_TOKEN": self.slack.socket_mode.app_token,
            "SLACK_SIGNING_SECRET": self.slack.signing_secret,
            "CAREBOT_CHANNEL": self.channel,
            "CAREBOT_SLACK_API_URL": self.slack.api_url,
            "CAREBOT_X_API_URL": self.x.api_url,
            "X_BEARER_TOKEN": self.x.bearer_token,
            "X_API_KEY": self.x.api_key,
            "X_API_SECRET": self.x_api_secret,
            "X_ACCESS_TOKEN": self.x.access_token,
            "X_ACCESS_TOKEN_SECRET": self.x_access_token_secret,
            "DATABASE_URL": database_url,
        }
        if "bluesky" in self.networks:
            env["BLUESKY_HANDLE"] = self.bluesky.brand.handle
            env["BLUESKY_APP_PASSWORD"] = self.bluesky.app_password
            env["CAREBOT_BLUESKY_API_URL"] = self.bluesky.api_url
        if "mastodon" in self.networks:
            env["MASTODON_API_BASE_URL"] = self.mastodon.api_url
            env["MASTODON_ACCESS_TOKEN"] = self.mastodon.access_token
        env.update(extra)
        return env

    def settings(self, database_url: str, **overrides: Any) -> Settings:
        """Return Settings for a bot using this sandbox (ignoring the process environment)."""
        values: dict[str, Any] = dict(self.environment(database_url))
        values.update(overrides)
        return Settings(_env_file=None, **values)


@asynccontextmanager
async def sandbox(
    *,
    channel: str = CHANNEL,
    bot_token: str = BOT_TOKEN,
    signing_secret: str = SIGNING_SECRET,
    x_bearer_token: str = X_BEARER_TOKEN,
    x_api_key: str = X_API_KEY,
    x_api_secret: str = X_API_SECRET,
    x_access_token: str = X_ACCESS_TOKEN,
    x_access_token_secret: str = X_ACCESS_TOKEN_SECRET,
    networks: tuple[str, ...] = ("x",),
) -> AsyncIterator[Sandbox]:
    """Start fake Slack and fake X on free loopback ports; stop them on exit.

    The credentials default to fixed sandbox values; tests pass distinctive ones to prove that a
    secret never reaches the logs. Bluesky and Mastodon always run; `networks` says which of
    them the environment turns on for a bot.
    """
    slack = FakeSlack(bot_token=bot_token, signing_secret=signing_secret)
    slack.add_channel(channel, name="social-care")
    x = FakeX(bearer_token=x_bearer_token, api_key=x_api_key, access_token=x_access_token)
    bluesky, mastodon = FakeBluesky(), FakeMastodon()
    await slack.start()
    await x.start()
    await bluesky.start()
    await mastodon.start()
    try:
        yield Sandbox(
            slack=slack,
            x=x,
            bluesky=bluesky,
            mastodon=mastodon,
            channel=channel,
            x_api_secret=x_api_secret,
            x_access_token_secret=x_access_token_secret,
            networks=networks,
        )
    finally:
        await mastodon.stop()
        await bluesky.stop()
        await x.stop()
        await slack.stop()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(slots=True)
class RunningBot:
    """The real bot, started in this process and serving HTTP on loopback."""

    runtime: Runtime
    port: int
    runner: web.AppRunner = field(repr=False)
    # Set when the bot talks to Slack over Socket Mode; then `port` serves only /healthz.
    link: SocketModeLink | None = None

    @property
    def socket_mode(self) -> bool:
        """Tell whether the bot is connected over Socket Mode rather than serving HTTP."""
        return self.link is not None

    @property
    def events_url(self) -> str:
        """Return the URL Slack would POST events, actions and commands to (HTTP mode)."""
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def health_url(self) -> str:
        """Return the /healthz URL."""
        return f"http://127.0.0.1:{self.port}/healthz"

    def simulator(self, fake: FakeSlack) -> SlackSimulator:
        """Return a Slack simulator that reaches this bot the way Slack would in its mode."""
        if self.link is not None:
            return SlackSimulator(fake, socket_mode=True)
        return SlackSimulator(fake, events_url=self.events_url, signing_secret=fake.signing_secret)


# How long `running_bot` waits for a Socket Mode bot's first connection.
CONNECT_SECONDS = 15.0


@asynccontextmanager
async def running_bot(
    settings: Settings, *, socket_mode: bool = False, **runtime_args: Any
) -> AsyncIterator[RunningBot]:
    """Start the bot with `settings`, over HTTP or Socket Mode; shut it down cleanly on exit.

    In Socket Mode the bot connects with `settings.slack_app_token` to the sandbox Slack's
    WebSocket (as `carebot run` does) and serves only /healthz on its port; the block starts
    once Slack has said hello.
    """
    runtime = Runtime(settings, **runtime_args)
    await runtime.start()
    assert runtime.app is not None
    link: SocketModeLink | None = None
    connecting: asyncio.Task[None] | None = None
    if socket_mode:
        assert settings.slack_app_token is not None, "Socket Mode needs SLACK_APP_TOKEN"
        link = SocketModeLink(
            runtime.app, settings.slack_app_token.get_secret_value(), api_url=settings.slack_api_url
        )
        runtime.socket_mode = link
        app = healthz_app(runtime)
    else:
        app = health_app(runtime)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=LISTEN_BACKLOG).start()
    try:
        if link is not None:
            connecting = asyncio.ensure_future(link.run())
            await _wait_connected(link, connecting)
        yield RunningBot(runtime=runtime, port=port, runner=runner, link=link)
    finally:
        if connecting is not None and not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
        if link is not None:
            await link.close()
        await runner.cleanup()
        await runtime.stop()


async def _wait_connected(link: SocketModeLink, connecting: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + CONNECT_SECONDS
    while not link.status().connected:
        if connecting.done():
            connecting.result()  # what stopped it
        if time.monotonic() >= deadline:
            raise BotProcessFailed(
                f"the bot did not connect over Socket Mode in {CONNECT_SECONDS:.0f}s: "
                f"{link.status().detail}"
            )
        await asyncio.sleep(0.01)


class BotProcessFailed(RuntimeError):
    """The bot process exited or never became healthy; the message ends with its output."""
