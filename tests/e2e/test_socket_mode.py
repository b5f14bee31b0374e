"""Socket Mode end to end: the real bot (Bolt's AsyncSocketModeHandler on `bot.socket_mode`)
connected to the sandbox Slack's WebSocket. In this process: reconnecting after a dropped socket
and after each `disconnect` reason, a refused app token, /healthz. As a user runs it, `carebot run`
in a subprocess: SIGTERM and SIGINT end it within 10 s, exit 0, while every connect fails and while
it is connected and busy."""

from __future__ import annotations

import asyncio
import copy
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.blocks.ids import ActionId
from bot.errors import ConfigError
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, free_port, running_bot, sandbox
from tests.processes import BotProcess, bot_process

AGENTS = [f"U0AGENT{i:02d}" for i in range(60)]
# The contract: SIGTERM or SIGINT ends `carebot run` within 10 s in any state.
STOP_BOUND = 10.0
# Bounds on waiting for the bot to get somewhere, so a broken build fails instead of hanging.
WAIT = 20.0


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator
    card: StoredMessage

    async def claim(self, user: str) -> int:
        response = await self.sim.click(
            user,
            channel=self.stack.channel,
            ts=self.card.ts,
            action_id=ActionId.CLAIM,
            seen=self.card,
        )
        return response.status

    def thread_text(self) -> str:
        return "\n".join(m.text for m in self.stack.slack.thread(self.stack.channel, self.card.ts))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with sandbox() as stack:
        stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", poll_interval="1s", agents=",".join(AGENTS)
        )
        async with running_bot(settings, socket_mode=True, pacing_per_second=None) as bot:
            assert bot.link is not None
            # Short waits, so a test of the backoff does not sit through 30 s.
            bot.link.backoff_first, bot.link.backoff_max = 0.1, 0.5
            slack = stack.slack
            await slack.wait_for(
                lambda: any(m.metadata for m in slack.channel_messages(stack.channel))
            )
            card = copy.deepcopy(
                next(m for m in slack.channel_messages(stack.channel) if m.metadata)
            )
            async with bot.simulator(slack) as sim:
                yield World(stack, bot, sim, card)


async def test_the_bot_connects_once_and_says_so_in_healthz(world: World) -> None:
    socket = world.stack.slack.socket_mode
    assert len(socket.connections) == 1
    assert world.stack.slack.calls_to("apps.connections.open")[0].ok
    async with aiohttp.ClientSession() as http, http.get(world.bot.health_url) as response:
        body = await response.json()
    assert response.status == 200
    assert body["socket_mode"] == {"connected": True, "detail": "connected"}


async def test_a_dropped_socket_is_reconnected_and_work_goes_on(world: World) -> None:
    socket = world.stack.slack.socket_mode
    (dropped,) = socket.drop()
    await socket.wait_connected(opened=2, seconds=WAIT)
    assert socket.connections[-1].id != dropped.id
    assert await world.claim(AGENTS[0]) == 200
    await world.stack.slack.wait_for(lambda: "claimed" in world.thread_text())
    assert socket.protocol_errors == []


async def test_refresh_requested_opens_the_new_connection_before_the_old_one_closes(
    world: World,
) -> None:
    socket = world.stack.slack.socket_mode
    (old,) = await socket.disconnect("refresh_requested", grace=WAIT)
    # Both open at once: the bot replaced the connection without a gap.
    await socket.wait_connected(count=1, opened=2, seconds=WAIT)
    await world.stack.slack.wait_for(lambda: not old.open, timeout=WAIT)
    assert old.close_code is not None  # the bot closed it, with a close frame
    assert [c.open for c in socket.connections] == [False, True]
    assert await world.claim(AGENTS[1]) == 200
    await world.stack.slack.wait_for(lambda: "claimed" in world.thread_text())


async def test_warning_is_a_refresh_too(world: World) -> None:
    socket = world.stack.slack.socket_mode
    await socket.disconnect("warning", grace=WAIT)
    await socket.wait_connected(opened=2, seconds=WAIT)
    await world.stack.slack.wait_for(lambda: len(socket.open_connections()) == 1, timeout=WAIT)


async def test_link_disabled_is_said_plainly_and_retried_later(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    socket = world.stack.slack.socket_mode
    with caplog.at_level(logging.ERROR, logger="bot.socket_mode"):
        await socket.disconnect("link_disabled")
        await socket.wait_connected(opened=2, seconds=WAIT)
    assert any("link_disabled" in r.getMessage() for r in caplog.records)
    assert "Socket Mode" in caplog.text


async def test_every_connect_failing_is_retried_with_backoff_and_reported(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    slack, link = world.stack.slack, world.bot.link
    assert link is not None
    slack.fail_next("apps.connections.open", status=500, error="internal_error", count=10**6)
    with caplog.at_level(logging.WARNING, logger="bot.socket_mode"):
        slack.socket_mode.drop()
        await slack.wait_for(
            lambda: len(slack.calls_to("apps.connections.open")) >= 4, timeout=WAIT
        )
        status = link.status()
        assert not status.connected
        assert "apps.connections.open answered internal_error" in status.detail
        slack._failures.clear()  # Slack is back
        await slack.socket_mode.wait_connected(opened=2, seconds=WAIT)
    assert "cannot connect to Slack" in caplog.text
    assert "Traceback" not in caplog.text
    await slack.wait_for(lambda: link.status().connected)


async def test_healthz_says_why_while_the_bot_cannot_connect(world: World) -> None:
    slack = world.stack.slack
    slack.socket_mode.refuse_handshake = 503
    slack.socket_mode.drop()
    await slack.wait_for(lambda: len(slack.calls_to("apps.connections.open")) >= 3, timeout=WAIT)
    async with aiohttp.ClientSession() as http, http.get(world.bot.health_url) as response:
        body = await response.json()
    assert body["socket_mode"]["connected"] is False
    assert "WebSocket handshake was refused (HTTP 503)" in body["socket_mode"]["detail"]


async def test_an_app_token_revoked_while_running_is_retried_not_fatal(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    slack, link = world.stack.slack, world.bot.link
    assert link is not None
    with caplog.at_level(logging.ERROR, logger="bot.socket_mode"):
        slack.socket_mode.revoke_app_token()
        slack.socket_mode.drop()
        await slack.wait_for(lambda: "invalid_auth" in link.status().detail, timeout=WAIT)
    assert "Slack refuses the app token now (invalid_auth)" in caplog.text
    slack.socket_mode.valid_app_tokens.add(slack.socket_mode.app_token)  # fixed in the app config
    await slack.socket_mode.wait_connected(opened=2, seconds=WAIT)


async def test_an_app_token_slack_refuses_is_a_configuration_error(tmp_path: Path) -> None:
    async with sandbox() as stack:
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", SLACK_APP_TOKEN="xapp-1-A0CAREBOT-1-wrong"
        )
        with pytest.raises(ConfigError) as refused:
            async with running_bot(settings, socket_mode=True):
                pass
    assert refused.value.variable == "SLACK_APP_TOKEN"
    assert "invalid_auth" in refused.value.problem


# -- as a user runs it -------------------------------------------------------------------------


async def stop_with(running: BotProcess, sig: signal.Signals) -> int:
    """Send `sig` and return the exit code; fail if the bot outlives the contract's 10 s."""
    running.proc.send_signal(sig)
    try:
        return await asyncio.wait_for(running.proc.wait(), STOP_BOUND)
    except TimeoutError:
        pytest.fail(f"the bot ignored {sig.name} for {STOP_BOUND:.0f}s:\n{running.output()}")


async def until_logged(running: BotProcess, text: str, *, times: int = 1) -> None:
    """Wait until the bot's log holds `text` `times` times."""
    async with asyncio.timeout(WAIT):
        while running.output().count(text) < times:
            if running.proc.returncode is not None:
                pytest.fail(f"the bot exited {running.proc.returncode}:\n{running.output()}")
            await asyncio.sleep(0.05)


async def healthz_once_connected(running: BotProcess) -> dict[str, Any]:
    """Read /healthz until it reports the Socket Mode connection up; return that body."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(WAIT):
        while True:
            async with http.get(f"http://127.0.0.1:{running.port}/healthz") as response:
                assert response.status == 200
                body: dict[str, Any] = await response.json()
            if body["socket_mode"]["connected"]:
                return body
            await asyncio.sleep(0.05)


def assert_stopped_cleanly(code: int, running: BotProcess) -> None:
    log = running.output()
    assert code == 0, log
    assert "carebot stopped" in log, log
    assert "Traceback" not in log, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("failure", ["connections.open refused", "websocket unreachable"])
async def test_a_bot_whose_connections_keep_failing_stops_on_a_signal(
    stack: Sandbox, tmp_path: Path, sig: signal.Signals, failure: str
) -> None:
    if failure == "connections.open refused":
        stack.slack.fail_next(
            "apps.connections.open", status=503, error="service_unavailable", count=10**6
        )
    else:
        stack.slack.socket_mode.link_base = f"ws://127.0.0.1:{free_port()}"  # nothing listens
    env = stack.environment(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    async with bot_process(
        env, cwd=tmp_path, log=tmp_path / "bot.log", socket_mode=True
    ) as running:
        # Inside the retry loop, after more than one failure: the state the issue saw.
        await until_logged(running, "cannot connect to Slack", times=2)
        code = await stop_with(running, sig)
    assert_stopped_cleanly(code, running)
    assert stack.slack.socket_mode.connections == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_bot_stops_on_a_signal_during_start_up_against_a_slack_that_never_answers(
    stack: Sandbox, tmp_path: Path, sig: signal.Signals
) -> None:
    # A Slack that takes the connection and never answers: start-up waits on auth.test (a Slack
    # that refuses connections is exit 1 at once, tests/e2e/test_cli_setup.py).
    called = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def black_hole(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        called.set()

    server = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = stack.environment(
        f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
        CAREBOT_SLACK_API_URL=f"http://127.0.0.1:{port}/api/",
    )
    try:
        async with bot_process(
            env, cwd=tmp_path, log=tmp_path / "bot.log", socket_mode=True, wait_healthy=False
        ) as running:
            await asyncio.wait_for(called.wait(), timeout=WAIT)
            code = await stop_with(running, sig)
        assert_stopped_cleanly(code, running)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_connected_busy_bot_stops_on_a_signal(
    stack: Sandbox, tmp_path: Path, sig: signal.Signals
) -> None:
    env = stack.environment(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", CAREBOT_POLL_INTERVAL="1s")
    slack = stack.slack
    async with (
        bot_process(env, cwd=tmp_path, log=tmp_path / "bot.log", socket_mode=True) as running,
        SlackSimulator(slack, socket_mode=True) as sim,
    ):
        await slack.socket_mode.wait_connected(seconds=WAIT)
        # `--health-port` serves /healthz in Socket Mode, and it knows the connection is up.
        health = await healthz_once_connected(running)
        assert health["status"] == "ok"
        stack.x.add_mention("@acmehelp first", author_handle="dana")
        await slack.wait_for(
            lambda: any(m.metadata for m in slack.channel_messages(stack.channel)), timeout=WAIT
        )
        card = next(m for m in slack.channel_messages(stack.channel) if m.metadata)
        # Busy: mentions to card, and a crowd pressing Claim, while the signal arrives.
        stack.x.add_mentions(40)
        presses = [
            asyncio.ensure_future(
                sim.click(
                    user, channel=stack.channel, ts=card.ts, action_id=ActionId.CLAIM, seen=card
                )
            )
            for user in AGENTS
        ]
        await slack.wait_for(lambda: len(slack.socket_mode.acks) >= 5, timeout=WAIT)
        code = await stop_with(running, sig)
        answered = await asyncio.gather(*presses, return_exceptions=True)
    assert_stopped_cleanly(code, running)
    # What was acked was answered properly; nothing after the stop was half-answered.
    acked = [r for r in answered if not isinstance(r, BaseException) and r.status == 200]
    assert len(acked) >= 5
    assert slack.socket_mode.protocol_errors == []
    assert all(not c.open for c in slack.socket_mode.connections)


async def test_run_with_an_app_token_slack_refuses_exits_2_naming_it(
    stack: Sandbox, tmp_path: Path
) -> None:
    env = stack.environment(
        f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", SLACK_APP_TOKEN="xapp-1-A0CAREBOT-1-revoked"
    )
    async with bot_process(
        env, cwd=tmp_path, log=tmp_path / "bot.log", socket_mode=True, wait_healthy=False
    ) as running:
        async with asyncio.timeout(WAIT):
            code = await running.proc.wait()
    log = running.output()
    assert code == 2, log
    assert "configuration error: SLACK_APP_TOKEN was refused by Slack (invalid_auth" in log, log
    assert "xapp-1-A0CAREBOT-1-revoked" not in log  # the token itself is never printed
    assert "Traceback" not in log, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_bot_stops_on_a_signal_while_its_database_never_answers(
    stack: Sandbox, tmp_path: Path, sig: signal.Signals
) -> None:
    # A "PostgreSQL" that takes the connection and never says a word: start-up hangs in it.
    reached = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        reached.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = stack.environment(f"postgresql+asyncpg://carebot@127.0.0.1:{port}/carebot")
    try:
        async with bot_process(
            env, cwd=tmp_path, log=tmp_path / "bot.log", socket_mode=True, wait_healthy=False
        ) as running:
            async with asyncio.timeout(WAIT):
                await reached.wait()
            code = await stop_with(running, sig)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    log = running.output()
    assert code == 0, log
    assert "shutting down before start-up finished" in log, log
    assert "Traceback" not in log, log
