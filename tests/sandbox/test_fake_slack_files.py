"""The sandbox Slack's upload flow, checked with slack_sdk's own `files_upload_v2` (which calls
files.getUploadURLExternal, POSTs the bytes to the upload URL, then files.completeUploadExternal)
and with the documented refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack import FakeSlack

PNG = b"\x89PNG\r\n\x1a\n" + b"picture" * 100


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_channel("C0CARE", name="social-care")
        yield fake


def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


async def test_files_upload_v2_shares_the_file_in_a_channel_and_a_thread(slack: FakeSlack) -> None:
    web = client(slack)
    parent = await web.chat_postMessage(channel="C0CARE", text="the digest")
    response = await web.files_upload_v2(
        channel="C0CARE",
        content=PNG,
        filename="charts.png",
        title="Charts",
        alt_txt="bar charts",
        initial_comment="Charts for this digest",
        thread_ts=parent["ts"],
    )
    assert response["ok"] is True
    file_id = response["file"]["id"]
    assert response["files"] == [{"id": file_id, "title": "Charts"}]
    stored = slack.uploads.files[file_id]
    assert (stored.data, stored.alt_txt, stored.channel) == (PNG, "bar charts", "C0CARE")
    (shared,) = slack.thread("C0CARE", parent["ts"])
    assert shared.text == "Charts for this digest"
    (shown,) = shared.files
    assert shown["mimetype"] == "image/png"
    assert shown["size"] == len(PNG)
    async with aiohttp.ClientSession() as http, http.get(shown["url_private"]) as download:
        assert download.status == 200
        assert await download.read() == PNG
    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_without_a_channel_the_file_stays_private(slack: FakeSlack) -> None:
    response = await client(slack).files_upload_v2(content=PNG, filename="charts.png")
    assert slack.uploads.files[response["file"]["id"]].channel is None
    assert slack.channel_messages("C0CARE") == []


async def test_the_documented_refusals(slack: FakeSlack) -> None:
    web = client(slack)
    with pytest.raises(SlackApiError) as long_alt:
        await web.files_getUploadURLExternal(filename="a.png", length=10, alt_txt="x" * 1001)
    assert long_alt.value.response["error"] == "alt_txt_too_large"
    with pytest.raises(SlackApiError) as no_length:
        await web.api_call("files.getUploadURLExternal", params={"filename": "a.png"})
    assert no_length.value.response["error"] == "invalid_arguments"

    # Completing a file that was never uploaded, or twice, finds no file.
    issued = await web.files_getUploadURLExternal(filename="a.png", length=len(PNG))
    with pytest.raises(SlackApiError) as early:
        await web.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert early.value.response["error"] == "file_not_found"
    async with aiohttp.ClientSession() as http:
        async with http.post(issued["upload_url"], data=PNG[:-1]) as short:
            assert short.status == 400  # not the length promised
        async with http.post(issued["upload_url"], data=PNG) as upload:
            assert upload.status == 200
            assert await upload.text() == f"OK - {len(PNG)}"
    done = await web.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert done["files"] == [{"id": issued["file_id"], "title": "a.png"}]
    with pytest.raises(SlackApiError) as twice:
        await web.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert twice.value.response["error"] == "file_not_found"

    # A channel the bot is not in refuses the share, as Slack does.
    slack.add_channel("C0PRIVATE", name="leads", members=["U0LEAD"])
    with pytest.raises(SlackApiError) as outside:
        await web.files_upload_v2(channel="C0PRIVATE", content=PNG, filename="b.png")
    assert outside.value.response["error"] == "not_in_channel"


async def test_an_upload_the_fake_does_not_know_fails_the_client(slack: FakeSlack) -> None:
    issue = slack.uploads._get_upload_url

    def forgetful(args: dict[str, Any]) -> dict[str, Any]:
        answer = issue(args)
        slack.uploads.files.clear()  # the upload URL now leads nowhere: a 404
        return answer

    slack._methods["files.getUploadURLExternal"] = forgetful
    with pytest.raises(SlackRequestError, match="Failed to upload a file"):
        await client(slack).files_upload_v2(content=b"abc", filename="c.png")
    assert slack.calls_to("files.completeUploadExternal") == []
