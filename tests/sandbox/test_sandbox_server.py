"""`python -m bot.sandbox` runs the fakes in a process of their own, driven by a control API."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from aiohttp import ClientSession
from slack_sdk.web.async_client import AsyncWebClient


async def test_sandbox_process_serves_fakes_and_control_api() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.sandbox", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=20))
        control = ready["control_url"]
        async with ClientSession() as http:
            async with http.post(f"{control}/x/mentions", json={"count": 3}) as response:
                assert len((await response.json())["ids"]) == 3
            async with http.get(
                f"{ready['x_api_url']}/2/users/me",
            ) as response:
                assert response.status == 401  # the fake X still checks credentials
            env = ready["environment"]
            slack = AsyncWebClient(token=env["SLACK_BOT_TOKEN"], base_url=ready["slack_api_url"])
            await slack.chat_postMessage(channel=ready["channel"], text="hello")
            async with http.get(f"{control}/slack/stats") as response:
                stats = await response.json()
        assert stats["top_level_posts"] == 1
        assert stats["violations"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
