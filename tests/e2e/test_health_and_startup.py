"""/healthz as INTERFACE.md says (ok or degraded, a check per part saying why) and a start-up that
never pretends: the real bot against the sandbox Slack and X over loopback."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.errors import ConfigError, SlackUnreachable
from bot.runtime import Runtime
from bot.sandbox.stack import RunningBot, Sandbox, running_bot
from storage.migrate import head_revision


def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'carebot.db'}"


async def healthz(bot: RunningBot) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(bot.health_url) as response:
        return response.status, await response.json()


async def refreshed(bot: RunningBot) -> dict[str, Any]:
    """Run the health job now (it runs every 15 s) and return what /healthz then answers."""
    assert bot.runtime.monitor is not None
    await bot.runtime.monitor.refresh()
    status, body = await healthz(bot)
    assert status == 200
    return body


async def test_a_healthy_bot_reports_ok_with_a_check_per_part(
    stack: Sandbox, tmp_path: Path
) -> None:
    async with running_bot(stack.settings(db(tmp_path))) as bot:
        status, body = await healthz(bot)
    assert status == 200
    assert body["status"] == "ok"
    checks = body["checks"]
    assert set(checks) == {"database", "slack", "x"}
    assert all(check["status"] == "ok" for check in checks.values()), checks
    assert f"revision {head_revision()}" in checks["database"]["detail"]
    assert "connected as @carebot" in checks["slack"]["detail"]
    assert "#social-care" in checks["slack"]["detail"]


async def test_degraded_while_slack_rejects_the_token_and_ok_again_after(
    stack: Sandbox, tmp_path: Path
) -> None:
    async with running_bot(stack.settings(db(tmp_path))) as bot:
        stack.slack.revoke_token()
        body = await refreshed(bot)
        assert body["status"] == "degraded"
        assert body["checks"]["slack"]["status"] == "failing"
        assert "token is not valid" in body["checks"]["slack"]["detail"]
        assert body["checks"]["database"]["status"] == "ok"
        stack.slack.valid_tokens.add(stack.slack.bot_token)
        assert (await refreshed(bot))["status"] == "ok"


async def test_degraded_when_the_bot_is_removed_from_its_channel(
    stack: Sandbox, tmp_path: Path
) -> None:
    async with running_bot(stack.settings(db(tmp_path))) as bot:
        stack.slack.add_channel(stack.channel, name="social-care", members=["U0SOMEONE"])
        body = await refreshed(bot)
    assert body["status"] == "degraded"
    assert "not a member of #social-care" in body["checks"]["slack"]["detail"]


async def test_degraded_while_x_rejects_the_credentials(stack: Sandbox, tmp_path: Path) -> None:
    settings = stack.settings(db(tmp_path), poll_interval="1s")
    async with running_bot(settings, auth_retry=timedelta(seconds=1)) as bot:
        stack.x.revoke_credentials()
        body = await refreshed(bot)
        for _ in range(100):  # the poller records the failure at its next poll (every second)
            if body["checks"]["x"]["status"] == "failing":
                break
            await asyncio.sleep(0.1)
            body = await refreshed(bot)
    assert body["status"] == "degraded"
    assert "X is failing" in body["checks"]["x"]["detail"]
    assert "credentials" in body["checks"]["x"]["detail"]
    assert body["checks"]["slack"]["status"] == "ok"


async def test_before_it_is_ready_the_bot_says_it_is_starting(
    stack: Sandbox, tmp_path: Path
) -> None:
    runtime = Runtime(stack.settings(db(tmp_path)))
    assert not runtime.ready
    assert runtime.health()["status"] == "starting"


async def test_start_up_with_a_rejected_token_names_it_and_is_never_ready(
    stack: Sandbox, tmp_path: Path
) -> None:
    stack.slack.revoke_token()
    runtime = Runtime(stack.settings(db(tmp_path)))
    with pytest.raises(ConfigError) as info:
        await runtime.start()
    await runtime.stop()
    assert info.value.variable == "SLACK_BOT_TOKEN"
    assert not runtime.ready


@pytest.mark.parametrize("setup", ["deleted", "not-a-member"])
async def test_start_up_with_a_channel_it_cannot_post_to_names_it(
    stack: Sandbox, tmp_path: Path, setup: str
) -> None:
    if setup == "deleted":
        stack.slack.delete_channel(stack.channel)
    else:
        stack.slack.add_channel(stack.channel, name="social-care", members=["U0SOMEONE"])
    runtime = Runtime(stack.settings(db(tmp_path)))
    with pytest.raises(ConfigError) as info:
        await runtime.start()
    await runtime.stop()
    assert info.value.variable == "CAREBOT_CHANNEL"
    assert not runtime.ready
    assert stack.slack.calls_to("chat.postMessage") == []


async def test_start_up_with_a_missing_digest_channel_names_it(
    stack: Sandbox, tmp_path: Path
) -> None:
    stack.slack.delete_channel("C0DIGESTS")
    runtime = Runtime(stack.settings(db(tmp_path), digest_channel="C0DIGESTS"))
    with pytest.raises(ConfigError) as info:
        await runtime.start()
    await runtime.stop()
    assert [variable for variable, _ in info.value.problems] == ["CAREBOT_DIGEST_CHANNEL"]


async def test_start_up_while_slack_does_not_answer_is_not_ready(
    stack: Sandbox, tmp_path: Path
) -> None:
    stack.slack.start_outage()
    runtime = Runtime(stack.settings(db(tmp_path)))
    with pytest.raises(SlackUnreachable):
        await runtime.start()
    await runtime.stop()
    assert not runtime.ready
