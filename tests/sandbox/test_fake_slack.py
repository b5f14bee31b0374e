"""FakeSlack through a real slack_sdk AsyncWebClient over loopback: auth, messages, views, the
failure knobs, response_url and waiting, and the methods it refuses as unknown. Block Kit
validation is in test_fake_slack_blockkit.py."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack import FakeSlack
from tests.sandbox.slack_helpers import CHANNEL, ManualClock, card, modal, slack_error

# -- auth -------------------------------------------------------------------------------------


async def test_auth_test_describes_the_bot(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == "U0CAREBOT"
    assert response["team_id"] == "T0SANDBOX"
    assert fake.api_url.startswith("http://127.0.0.1:")
    assert fake.api_url.endswith("/api/")


async def test_revoked_and_unknown_tokens_get_invalid_auth(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    stranger = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert (await slack_error(stranger.auth_test())).response["error"] == "invalid_auth"
    fake.revoke_token()
    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="hi"))
    assert error.response.status_code == 200
    assert error.response["error"] == "invalid_auth"
    assert fake.calls[-1].error == "invalid_auth"


async def test_unknown_method(client: AsyncWebClient) -> None:
    error = await slack_error(client.api_call("chat.teleport", json={"channel": CHANNEL}))
    assert error.response["error"] == "unknown_method"


# -- messages ---------------------------------------------------------------------------------


async def test_post_update_and_thread(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(
        channel=CHANNEL,
        text="New mention",
        blocks=card(),
        metadata={"event_type": "carebot_case", "event_payload": {"case_id": 1}},
    )
    ts = posted["ts"]
    assert posted["channel"] == CHANNEL
    assert posted["message"]["metadata"]["event_payload"] == {"case_id": 1}
    second = await client.chat_postMessage(channel=CHANNEL, text="another")
    assert float(second["ts"]) > float(ts)

    updated = await client.chat_update(channel=CHANNEL, ts=ts, text="Claimed", blocks=card(("x",)))
    assert updated["message"]["text"] == "Claimed"
    assert fake.message(CHANNEL, ts).blocks[-1]["elements"][0]["action_id"] == "x"
    await client.chat_update(channel=CHANNEL, ts=ts, text="text only")
    assert fake.message(CHANNEL, ts).blocks, "blocks are kept when chat.update omits them"

    reply = await client.chat_postMessage(channel=CHANNEL, text="replied", thread_ts=ts)
    assert [m.text for m in fake.thread(CHANNEL, ts)] == ["replied"]
    assert [m.ts for m in fake.channel_messages(CHANNEL)] == [ts, second["ts"]]

    parent = fake.message(CHANNEL, ts).as_dict()
    assert [parent["thread_ts"], parent["latest_reply"]] == [ts, reply["ts"]]
    assert parent["reply_count"] == 1

    missing = await slack_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"
    fake.delete_message(CHANNEL, second["ts"])
    assert [m.ts for m in fake.channel_messages(CHANNEL)] == [ts]


async def test_post_message_argument_errors(client: AsyncWebClient) -> None:
    no_text = await slack_error(client.api_call("chat.postMessage", json={"channel": CHANNEL}))
    assert no_text.response["error"] == "no_text"
    no_channel = await slack_error(client.api_call("chat.postMessage", json={"text": "x"}))
    assert no_channel.response["error"] == "channel_not_found"
    bad_thread = await slack_error(
        client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1.000001")
    )
    assert bad_thread.response["error"] == "thread_not_found"


async def test_history_newest_first_with_metadata_and_cursor(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    stamps = []
    for i in range(5):
        posted = await client.chat_postMessage(
            channel=CHANNEL,
            text=f"card {i}",
            metadata={"event_type": "carebot_case", "event_payload": {"case_id": i}},
        )
        stamps.append(posted["ts"])
    first = await client.conversations_history(channel=CHANNEL, limit=2, include_all_metadata=True)
    assert [m["text"] for m in first["messages"]] == ["card 4", "card 3"]
    assert first["messages"][0]["metadata"]["event_payload"] == {"case_id": 4}
    assert first["messages"][0]["bot_id"] == "B0CAREBOT"
    assert first["has_more"] is True
    seen = [m["ts"] for m in first["messages"]]
    cursor = first["response_metadata"]["next_cursor"]
    while cursor:
        page = await client.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
    assert seen == stamps[::-1]
    window = await client.conversations_history(
        channel=CHANNEL, oldest=stamps[1], latest=stamps[3], inclusive=True
    )
    assert [m["text"] for m in window["messages"]] == ["card 3", "card 2", "card 1"]


async def test_ephemeral_shown_to_one_user(fake: FakeSlack, client: AsyncWebClient) -> None:
    answer = await client.chat_postEphemeral(channel=CHANNEL, user="U0AGENT", text="Owned by <@U1>")
    assert answer["message_ts"]
    assert [e.text for e in fake.ephemerals("U0AGENT")] == ["Owned by <@U1>"]
    assert fake.ephemerals("U0OTHER") == []


async def test_channels_and_usergroups(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel(CHANNEL, name="care", members=["U0CAREBOT", "U0ALICE"])
    info = await client.conversations_info(channel=CHANNEL)
    assert info["channel"]["name"] == "care"
    assert info["channel"]["is_member"] is True

    fake.set_usergroup("S0LEADS", ["U0ALICE", "U0BOB"])
    group = await client.usergroups_users_list(usergroup="S0LEADS")
    assert group["users"] == ["U0ALICE", "U0BOB"]
    unknown = await slack_error(client.usergroups_users_list(usergroup="S0NONE"))
    assert unknown.response["error"] == "no_such_subteam"


# -- views ------------------------------------------------------------------------------------


async def test_views_open_checks_trigger_ids(
    fake: FakeSlack, client: AsyncWebClient, mono: ManualClock
) -> None:
    trigger = fake.issue_trigger_id("U0ALICE")
    opened = await client.views_open(trigger_id=trigger, view=modal())
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["callback_id"] == "reply_modal"
    assert view["private_metadata"] == "case-1"
    assert view["state"] == {"values": {}}
    assert view["hash"]
    assert fake.views[view["id"]].user_id == "U0ALICE"

    reused = await slack_error(client.views_open(trigger_id=trigger, view=modal()))
    assert reused.response["error"] == "exchanged_trigger_id"
    unknown = await slack_error(client.views_open(trigger_id="123.456.abc", view=modal()))
    assert unknown.response["error"] == "invalid_trigger_id"
    late = fake.issue_trigger_id("U0ALICE")
    mono.advance(3.5)
    expired = await slack_error(client.views_open(trigger_id=late, view=modal()))
    assert expired.response["error"] == "expired_trigger_id"


async def test_views_update_push_and_hash_conflict(fake: FakeSlack, client: AsyncWebClient) -> None:
    opened = (await client.views_open(trigger_id=fake.issue_trigger_id("U1"), view=modal()))["view"]
    changed = dict(modal(), private_metadata="case-2")
    updated = await client.views_update(view_id=opened["id"], hash=opened["hash"], view=changed)
    assert updated["view"]["id"] == opened["id"]
    assert updated["view"]["hash"] != opened["hash"]
    assert fake.views[opened["id"]].private_metadata == "case-2"
    stale = await slack_error(
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=changed)
    )
    assert stale.response["error"] == "hash_conflict"
    # A view_submission answered with `push` stacks the new modal on the submitted one.
    fake.view_submitted(opened["id"], {"response_action": "push", "view": modal()})
    pushed = fake.views[max(fake.views)].payload
    assert pushed["root_view_id"] == opened["id"]
    assert pushed["previous_view_id"] == opened["id"]


async def test_views_publish_home(fake: FakeSlack, client: AsyncWebClient) -> None:
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Your queue"}}],
    }
    first = await client.views_publish(user_id="U0ALICE", view=home)
    again = await client.views_publish(user_id="U0ALICE", view=home)
    assert first["view"]["id"] == again["view"]["id"]
    assert fake.home_views["U0ALICE"].blocks[0]["text"]["text"] == "Your queue"
    modal_as_home = await slack_error(client.views_publish(user_id="U0ALICE", view=modal()))
    assert modal_as_home.response["error"] == "invalid_arguments"


# -- failure knobs ----------------------------------------------------------------------------


async def test_rate_limit_gives_429_with_retry_after(
    fake: FakeSlack, client: AsyncWebClient, mono: ManualClock
) -> None:
    fake.rate_limit_channel(CHANNEL, per_second=1.0, burst=3)
    for i in range(3):
        await client.chat_postMessage(channel=CHANNEL, text=f"ok {i}")
    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="too fast"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "1"
    assert error.response["error"] == "ratelimited"
    assert fake.ratelimited_count == 1
    await client.chat_postMessage(channel="C0OTHER", text="other channels are not limited")
    mono.advance(1.0)
    await client.chat_postMessage(channel=CHANNEL, text="after waiting")
    assert len(fake.channel_messages(CHANNEL)) == 4


async def test_slow_refill_gives_longer_retry_after(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.rate_limit_channel(CHANNEL, per_second=0.25, burst=1)
    await client.chat_postMessage(channel=CHANNEL, text="one")
    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="two"))
    assert error.response.headers["Retry-After"] == "4"


async def test_outage_gives_503_and_recovers(
    fake: FakeSlack, client: AsyncWebClient, mono: ManualClock
) -> None:
    fake.outage(30.0)
    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    assert error.response.status_code == 503
    assert error.response["error"] == "service_unavailable"
    mono.advance(31.0)
    await client.chat_postMessage(channel=CHANNEL, text="back")
    fake.start_outage()
    assert (await slack_error(client.auth_test())).response.status_code == 503
    fake.end_outage()
    assert (await client.auth_test())["ok"] is True


async def test_fail_next_fails_only_the_next_calls(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.update", status=500, error="fatal_error", count=2)
    posted = await client.chat_postMessage(channel=CHANNEL, text="card")
    for _ in range(2):
        error = await slack_error(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))
        assert error.response.status_code == 500
        assert error.response["error"] == "fatal_error"
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x")
    assert [c.status for c in fake.calls_to("chat.update")] == [500, 500, 200]


# -- response_url and waiting -----------------------------------------------------------------


async def test_response_url_records_and_applies_posts(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="card", blocks=card())
    url = fake.new_response_url(channel=CHANNEL, message_ts=posted["ts"], user_id="U0ALICE")
    assert url.startswith(fake.base_url + "/response/")
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"text": "Only you can see this"}) as resp:
            assert resp.status == 200
            assert await resp.json() == {"ok": True}
        async with session.post(url, json={"replace_original": True, "text": "done"}) as resp:
            assert resp.status == 200
        bad = {"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]}
        async with session.post(url, json=bad) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "invalid_blocks"
    assert [r.payload.get("text") for r in fake.responses] == [
        "Only you can see this",
        "done",
        None,
    ]
    assert fake.ephemerals("U0ALICE")[0].source == "response_url"
    assert fake.message(CHANNEL, posted["ts"]).text == "done"
    assert fake.violations[-1].method == "response_url"


async def test_wait_for_passes_and_times_out_clearly(fake: FakeSlack) -> None:
    await fake.wait_for(lambda: True, timeout=0.1)
    with pytest.raises(AssertionError, match=r"still false after 0\.05s"):
        await fake.wait_for(lambda: bool(fake.channel_messages(CHANNEL)), timeout=0.05)


async def test_message_lookup_fails_clearly(fake: FakeSlack) -> None:
    with pytest.raises(AssertionError, match=r"no message ts=1\.0 "):
        fake.message(CHANNEL, "1.0")


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("chat.delete", {"channel": CHANNEL, "ts": "1.000001"}),
        ("chat.getPermalink", {"channel": CHANNEL, "message_ts": "1.000001"}),
        ("views.push", {"trigger_id": "1.2.3", "view": {"type": "modal"}}),
        ("users.info", {"user": "U0ALICE"}),
        ("conversations.members", {"channel": CHANNEL}),
        ("conversations.replies", {"channel": CHANNEL, "ts": "1.000001"}),
        ("reactions.add", {"channel": CHANNEL, "timestamp": "1.000001", "name": "eyes"}),
    ],
)
async def test_methods_carebot_does_not_call_are_unknown(
    client: AsyncWebClient, method: str, args: dict[str, Any]
) -> None:
    # The fake serves only what production code calls; a new call must add its method here.
    refused = await slack_error(client.api_call(method, json=args))
    assert refused.response["error"] == "unknown_method"
