"""`python -m bot.sandbox` runs the fakes in a process of their own, driven by a control API."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from urllib.parse import parse_qs

from aiohttp import ClientSession
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.server import remote_sandbox


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


async def test_control_api_builds_click_payloads_for_a_card_and_refuses_unknown_ones() -> None:
    async with remote_sandbox() as box:
        env = box.environment
        slack = AsyncWebClient(token=env["SLACK_BOT_TOKEN"], base_url=box.slack_api_url)
        posted = await slack.chat_postMessage(
            channel=box.channel,
            text="card",
            blocks=[
                {
                    "type": "actions",
                    "block_id": "card_actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "case_claim",
                            "text": {"type": "plain_text", "text": "Claim"},
                            "value": "7",
                        }
                    ],
                }
            ],
        )
        bodies = await box.click_bodies(
            ts=posted["ts"], action_id="case_claim", users=["U0ANA", "U0BEN"]
        )
        payloads = [json.loads(parse_qs(body.decode())["payload"][0]) for body in bodies]
        assert [p["user"]["id"] for p in payloads] == ["U0ANA", "U0BEN"]
        assert {p["type"] for p in payloads} == {"block_actions"}
        assert {p["actions"][0]["value"] for p in payloads} == {"7"}
        assert {p["container"]["message_ts"] for p in payloads} == {posted["ts"]}
        assert len({p["trigger_id"] for p in payloads}) == 2  # each press has its own
        await slack.chat_postEphemeral(channel=box.channel, user="U0BEN", text="Ana owns it")
        stats = await box.slack_stats()
        assert stats["ephemerals"] == [{"user": "U0BEN", "text": "Ana owns it"}]
        for wrong in ({"ts": "1.000000", "action_id": "case_claim"}, {"ts": posted["ts"]}):
            request = {"channel": box.channel, "users": ["U0ANA"], **wrong}
            async with box.http.post(f"{box.control_url}/slack/clicks", json=request) as r:
                assert r.status == 400
                assert (await r.json())["error"]


async def test_control_api_drives_the_bluesky_and_mastodon_fakes() -> None:
    from atproto import AsyncClient, models
    from mastodon import Mastodon

    async with remote_sandbox() as box:
        assert await box.add_network_mentions("bluesky", 2) == 2
        assert await box.add_network_mentions("mastodon", 3) == 3
        env = box.environment
        bsky = AsyncClient(base_url=box.bluesky_api_url)
        await bsky.login(env["BLUESKY_HANDLE"], env["BLUESKY_APP_PASSWORD"])
        listed = await bsky.app.bsky.notification.list_notifications(
            models.AppBskyNotificationListNotifications.Params(limit=10)
        )
        assert [n.reason for n in listed.notifications] == ["mention", "mention"]
        await bsky.request.close()
        masto = Mastodon(
            access_token=env["MASTODON_ACCESS_TOKEN"], api_base_url=box.mastodon_api_url
        )
        notes = await asyncio.to_thread(masto.notifications, types=["mention"])
        assert len(notes) == 3
        assert all(n["type"] == "mention" for n in notes)
        async with box.http.post(
            f"{box.control_url}/mastodon/mentions", json={"text": "hi", "visibility": "secret"}
        ) as r:
            assert r.status == 400
