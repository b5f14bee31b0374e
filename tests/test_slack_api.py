"""Slack's failures classified once (`bot.slack_api`), checked with the real slack_sdk client
against the sandbox Slack: the exception slack_sdk raises for each answer Slack documents maps to
retry, permanent-for-this-message or permanent-for-the-install."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack import FakeSlack
from bot.slack_api import (
    SlackInstallBroken,
    SlackMessageRefused,
    SlackRateLimited,
    SlackUnavailable,
    classify_slack_error,
    post_message,
    retry_after_seconds,
    update_message,
)

CHANNEL = "C0CARE"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as running:
        running.add_channel(CHANNEL, name="care")
        yield running


async def _error(fake: FakeSlack, method: str = "chat.postMessage") -> SlackApiError:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])
    calls = {
        "chat.update": lambda: client.chat_update(channel=CHANNEL, ts="1.000001", text="x"),
        "conversations.history": lambda: client.conversations_history(channel=CHANNEL),
        "chat.postMessage": lambda: client.chat_postMessage(channel=CHANNEL, text="hello"),
    }
    with pytest.raises(SlackApiError) as caught:
        await calls[method]()
    return caught.value


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (429, "ratelimited", SlackRateLimited),
        (200, "rate_limited", SlackRateLimited),
        (503, "service_unavailable", SlackUnavailable),
        (500, "internal_error", SlackUnavailable),
        (200, "fatal_error", SlackUnavailable),
        (200, "msg_too_long", SlackMessageRefused),
        (200, "thread_not_found", SlackMessageRefused),
        (200, "invalid_blocks", SlackMessageRefused),
        (200, "invalid_auth", SlackInstallBroken),
        (200, "account_inactive", SlackInstallBroken),
        (200, "token_revoked", SlackInstallBroken),
        (200, "not_in_channel", SlackInstallBroken),
        (200, "channel_not_found", SlackInstallBroken),
        (200, "missing_scope", SlackInstallBroken),
    ],
)
async def test_each_answer_is_classified_once(
    fake: FakeSlack, status: int, error: str, kind: type[Exception]
) -> None:
    fake.fail_next("chat.postMessage", status=status, error=error)
    outcome = classify_slack_error(await _error(fake))
    assert type(outcome) is kind
    assert error in str(outcome.error) or isinstance(outcome, SlackRateLimited)


async def test_retry_after_is_honoured(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, error="ratelimited", retry_after=7)
    outcome = classify_slack_error(await _error(fake))
    assert isinstance(outcome, SlackRateLimited)
    assert outcome.retry_after == 7


async def test_a_deleted_card_is_gone_and_a_missing_scope_is_the_install(fake: FakeSlack) -> None:
    gone = classify_slack_error(await _error(fake, "chat.update"))
    assert isinstance(gone, SlackMessageRefused)
    assert gone.gone
    fake.fail_next("conversations.history", error="missing_scope")
    broken = classify_slack_error(await _error(fake, "conversations.history"))
    assert isinstance(broken, SlackInstallBroken)
    assert "reinstall" in broken.advice()


async def test_the_fake_refuses_a_channel_the_bot_is_not_in_as_slack_does(
    fake: FakeSlack,
) -> None:
    fake.remove_bot(CHANNEL)
    refused = classify_slack_error(await _error(fake))
    assert isinstance(refused, SlackInstallBroken)
    assert refused.error == "not_in_channel"
    assert refused.channel_problem
    history = classify_slack_error(await _error(fake, "conversations.history"))
    assert isinstance(history, SlackInstallBroken)
    fake.invite_bot(CHANNEL)
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    assert (await client.chat_postMessage(channel=CHANNEL, text="back"))["ok"]


async def test_a_user_id_posts_to_the_apps_direct_message(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    answer = await client.chat_postMessage(channel="U0LEAD1", text="psst")
    assert answer["channel"] == "D0LEAD1"
    assert [m.text for m in fake.channel_messages("D0LEAD1")] == ["psst"]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("abc", 1.0), ("-4", 1.0), ("inf", 1.0), ("99999", 300.0)],
)
def test_retry_after_headers_are_read_safely(header: str, seconds: float) -> None:
    assert retry_after_seconds(header) == seconds


async def test_post_and_update_go_through_one_edge_and_raise_the_outcome(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])
    ts = await post_message(client, channel=CHANNEL, text="hello")
    reply = await post_message(client, channel=CHANNEL, text="in thread", thread_ts=ts)
    assert fake.message(CHANNEL, reply).thread_ts == ts
    await update_message(client, channel=CHANNEL, ts=ts, text="hello again")
    assert fake.message(CHANNEL, ts).text == "hello again"
    fake.fail_next("chat.postMessage", status=429, error="ratelimited", retry_after=3)
    with pytest.raises(SlackRateLimited) as limited:
        await post_message(client, channel=CHANNEL, text="later")
    assert limited.value.retry_after == 3
    assert isinstance(limited.value.__cause__, SlackApiError)
    fake.fail_next("chat.update", error="message_not_found")
    with pytest.raises(SlackMessageRefused) as refused:
        await update_message(client, channel=CHANNEL, ts=ts, text="gone")
    assert refused.value.gone
