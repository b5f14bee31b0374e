"""XSource against FakeX over loopback, through real tweepy and aiohttp (no mocks)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.errors import (
    ConfigError,
    NetworkAuthError,
    NetworkRateLimited,
    NetworkUnavailable,
    ReplyEmpty,
    ReplyNotAllowed,
    ReplyRejected,
    ReplyTooLong,
)
from bot.sandbox.x import FakeX
from bot.sources.base import SentReply, Source
from bot.sources.x import XSource, same_post_text

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def make_source(x: FakeX, **overrides: Any) -> XSource:
    settings: dict[str, Any] = {
        "api_url": x.api_url,
        "bearer_token": x.bearer_token,
        "api_key": x.api_key,
        "api_secret": "sandbox-key-secret",
        "access_token": x.access_token,
        "access_token_secret": "sandbox-access-secret",
    }
    settings.update(overrides)
    return XSource(**settings)


@pytest.fixture
async def x() -> AsyncIterator[FakeX]:
    async with FakeX() as fake:
        yield fake


@pytest.fixture
async def source(x: FakeX) -> AsyncIterator[XSource]:
    src = make_source(x)
    await src.start()
    yield src
    await src.close()


def test_satisfies_source_protocol() -> None:
    src: Source = XSource(
        api_url="http://127.0.0.1:1",
        bearer_token=None,
        api_key=None,
        api_secret=None,
        access_token=None,
        access_token_secret=None,
    )
    assert src.network == "x"
    assert src.limits.reply_max == 280
    assert src.limits.measure("🇺🇸 https://example.com/a/long/path") == 26
    assert src.limits.min_poll_seconds == 15


async def test_whoami(source: XSource) -> None:
    me = await source.whoami()
    assert (me.external_id, me.handle, me.name) == (
        "1000000000000000001",
        "acmehelp",
        "Acme Support",
    )
    assert me.followers == 5400


async def test_backfill_respects_not_before(x: FakeX, source: XSource) -> None:
    now = datetime.now(UTC)
    x.add_mention("@acmehelp too old", created_at=now - timedelta(hours=30))
    recent = x.add_mention(
        "@acmehelp my order is late", author_handle="ann", followers=900, verified=True
    )
    result = await source.fetch_since(None, not_before=now - timedelta(hours=24))
    (mention,) = result.mentions
    assert result.cursor == recent.id
    assert mention.network == "x"
    assert mention.external_id == recent.id
    assert mention.text == "@acmehelp my order is late"
    assert mention.url == f"https://x.com/ann/status/{recent.id}"
    assert mention.author.handle == "ann"
    assert mention.author.followers == 900
    assert mention.author.verified is True
    assert mention.posted_at.tzinfo is not None
    assert mention.posted_at.utcoffset() == timedelta(0)
    assert abs(mention.posted_at - recent.created_at) < timedelta(milliseconds=1)
    assert mention.conversation_id == recent.id
    assert mention.in_reply_to_id is None
    sent = x.requests[-1]
    assert "since_id" not in sent.query
    assert sent.query["start_time"].endswith("Z")


async def test_cursor_returns_only_newer(x: FakeX, source: XSource) -> None:
    first = x.add_mention()
    result = await source.fetch_since(None, not_before=LONG_AGO)
    assert result.cursor == first.id
    second = x.add_mention("@acmehelp follow-up", in_reply_to=first)
    result = await source.fetch_since(first.id, not_before=LONG_AGO)
    assert [m.external_id for m in result.mentions] == [second.id]
    assert result.mentions[0].in_reply_to_id == first.id
    assert result.mentions[0].conversation_id == first.id
    assert result.cursor == second.id
    assert x.requests[-1].query["since_id"] == first.id
    assert "start_time" not in x.requests[-1].query
    result = await source.fetch_since(second.id, not_before=LONG_AGO)
    assert result.mentions == []
    assert result.cursor is None


async def test_pagination_returns_all_once_oldest_first(x: FakeX, source: XSource) -> None:
    tweets = x.add_mentions(250)
    result = await source.fetch_since(None, not_before=LONG_AGO)
    assert [m.external_id for m in result.mentions] == [t.id for t in tweets]
    assert result.cursor == tweets[-1].id
    assert x.mention_requests == 3
    assert all(r.query.get("max_results") == "100" for r in x.requests if "mentions" in r.path)


async def test_skips_own_posts_and_retweets_keeps_quotes(x: FakeX, source: XSource) -> None:
    mention = x.add_mention()
    x.add_retweet(mention)
    quote = x.add_quote(mention, "@acmehelp same problem here")
    own = x.add_brand_post("Service update from @acmehelp")
    result = await source.fetch_since(None, not_before=LONG_AGO)
    assert [m.external_id for m in result.mentions] == [mention.id, quote.id]
    assert result.cursor == own.id  # skipped posts still move the cursor


async def test_cursor_advances_when_everything_is_skipped(x: FakeX, source: XSource) -> None:
    own = x.add_brand_post("Hello from @acmehelp")
    result = await source.fetch_since(None, not_before=LONG_AGO)
    assert result.mentions == []
    assert result.cursor == own.id


async def test_user_id_skips_lookup_and_bearer_reads(x: FakeX) -> None:
    x.add_mention()
    src = make_source(x, user_id=x.brand.id)
    await src.start()
    try:
        await src.fetch_since(None, not_before=LONG_AGO)
    finally:
        await src.close()
    assert [r.path for r in x.requests] == [f"/2/users/{x.brand.id}/mentions"]
    assert x.requests[0].headers["Authorization"].startswith("Bearer ")


async def test_user_context_reads_keep_encoded_query(x: FakeX) -> None:
    # Without a bearer token reads are OAuth-signed; tweepy pre-encodes the query (colons in
    # start_time), which the rewrite must carry through unchanged.
    recent = x.add_mention()
    src = make_source(x, bearer_token=None)
    await src.start()
    try:
        result = await src.fetch_since(None, not_before=datetime.now(UTC) - timedelta(hours=1))
    finally:
        await src.close()
    assert [m.external_id for m in result.mentions] == [recent.id]
    assert x.requests[-1].headers["Authorization"].startswith("OAuth ")
    assert x.requests[-1].query["start_time"].count(":") == 2


async def test_reply_posts_one_tweet(x: FakeX, source: XSource) -> None:
    mention = x.add_mention()
    sent = await source.reply(to_external_id=mention.id, text="So sorry! We've sent you a DM.")
    assert x.posted_replies == [
        {
            "id": sent.external_id,
            "text": "So sorry! We've sent you a DM.",
            "in_reply_to_tweet_id": mention.id,
        }
    ]
    assert sent.url == f"https://x.com/i/web/status/{sent.external_id}"
    assert x.requests[-1].headers["Authorization"].startswith("OAuth ")


async def test_reply_to_non_mentioning_post_is_rejected(x: FakeX, source: XSource) -> None:
    silent = x.add_mention("nothing about the brand")
    with pytest.raises(ReplyNotAllowed) as caught:
        await source.reply(to_external_id=silent.id, text="Hi!")
    # A refusal by rule, in plain words (X's 403 since 23 February 2026), and a ReplyRejected.
    assert isinstance(caught.value, ReplyRejected)
    assert caught.value.user_message.startswith("X only lets the brand reply to posts that mention")
    assert x.posted_replies == []


async def test_reply_to_unknown_post_is_rejected(source: XSource) -> None:
    with pytest.raises(ReplyRejected, match="X refused the reply"):
        await source.reply(to_external_id="12345", text="Hi!")


async def test_overlong_reply_fails_before_any_request(x: FakeX, source: XSource) -> None:
    mention = x.add_mention()
    with pytest.raises(ReplyTooLong) as caught:
        await source.reply(to_external_id=mention.id, text="の" * 141)
    assert (caught.value.length, caught.value.limit) == (282, 280)
    with pytest.raises(ReplyEmpty):
        await source.reply(to_external_id=mention.id, text="  \n")
    assert x.requests == []


async def test_rate_limited(x: FakeX, source: XSource) -> None:
    x.fail_next("/2/users/", 429, reset_in=12 * 60)
    with pytest.raises(NetworkRateLimited) as caught:
        await source.fetch_since(None, not_before=LONG_AGO)
    reset_at = caught.value.reset_at
    assert reset_at is not None
    assert reset_at.tzinfo is not None
    expected = datetime.now(UTC) + timedelta(minutes=12)
    assert abs(reset_at - expected) < timedelta(seconds=5)
    assert caught.value.user_message in {
        "X is rate-limiting us; try again in 12 min.",
        "X is rate-limiting us; try again in 11 min.",
    }


async def test_rate_limited_reply(x: FakeX, source: XSource) -> None:
    mention = x.add_mention()
    x.fail_next("/2/tweets", 429)
    with pytest.raises(NetworkRateLimited):
        await source.reply(to_external_id=mention.id, text="Hi")


async def test_revoked_credentials(x: FakeX, source: XSource) -> None:
    x.revoke_credentials()
    with pytest.raises(NetworkAuthError, match="credentials"):
        await source.whoami()
    with pytest.raises(NetworkAuthError):
        await source.fetch_since(None, not_before=LONG_AGO)


async def test_forbidden_read_is_auth_error(x: FakeX, source: XSource) -> None:
    x.fail_next("/2/users/", 403)
    with pytest.raises(NetworkAuthError, match="X refused access"):
        await source.fetch_since(None, not_before=LONG_AGO)


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_unavailable(x: FakeX, source: XSource, status: int) -> None:
    x.fail_next("/2/", status)
    with pytest.raises(NetworkUnavailable, match=f"error {status}"):
        await source.fetch_since(None, not_before=LONG_AGO)


async def test_outage_on_reply_is_unavailable(x: FakeX, source: XSource) -> None:
    mention = x.add_mention()
    x.outage(503)
    with pytest.raises(NetworkUnavailable):
        await source.reply(to_external_id=mention.id, text="Hi")


async def test_connection_refused_is_unavailable(x: FakeX, source: XSource) -> None:
    await x.stop()
    with pytest.raises(NetworkUnavailable, match="Can't reach X"):
        await source.fetch_since(None, not_before=LONG_AGO)


async def test_timeout_is_unavailable(x: FakeX) -> None:
    x.latency = 0.5
    src = make_source(x, timeout=0.1)
    await src.start()
    try:
        with pytest.raises(NetworkUnavailable):
            await src.whoami()
    finally:
        await src.close()


async def test_missing_user_credentials_is_config_error(x: FakeX) -> None:
    src = make_source(x, access_token=None)
    await src.start()
    try:
        with pytest.raises(ConfigError) as caught:
            await src.fetch_since(None, not_before=LONG_AGO)
        assert caught.value.variable == "X_USER_ID"
        with pytest.raises(ConfigError):
            await src.reply(to_external_id="1", text="hi")
    finally:
        await src.close()
    assert x.requests == []


async def test_no_traffic_leaves_loopback(
    x: FakeX, source: XSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Watch the loop's name resolution and socket connects: a request that escaped the rewrite
    # would resolve api.twitter.com or connect somewhere other than 127.0.0.1.
    loop = asyncio.get_running_loop()
    resolved: list[str | bytes | None] = []
    connected: list[Any] = []
    real_connect = loop.sock_connect
    real_getaddrinfo = loop.getaddrinfo

    async def sock_connect(sock: socket.socket, address: Any) -> None:
        connected.append(address)
        await real_connect(sock, address)

    async def getaddrinfo(host: str | bytes | None, *args: Any, **kwargs: Any) -> Any:
        resolved.append(host)
        return await real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    mention = x.add_mention()
    await source.whoami()
    await source.fetch_since(None, not_before=LONG_AGO)
    await source.reply(to_external_id=mention.id, text="Thanks!")
    assert resolved == []
    assert connected
    assert all(address[0] == "127.0.0.1" for address in connected)
    assert len(x.requests) == 4  # users/me (brand id), users/me, mentions, reply
    assert {r.headers["Host"] for r in x.requests} == {x.api_url.removeprefix("http://")}


# -- settling a reply whose outcome was lost --------------------------------------------------


async def test_find_reply_finds_the_brands_reply_with_that_text(x: FakeX, source: XSource) -> None:
    mention = x.add_mention()
    other = x.add_mention("@acmehelp another question", author_handle="bob")
    x.add_brand_post("Sorry, Dana! DM sent.", in_reply_to=other)  # same text, other post
    x.add_brand_post("A different answer", in_reply_to=mention)
    x.add_brand_post("Unrelated announcement")
    since = x.clock()
    posted = x.add_brand_post("Sorry, Dana! DM sent.", in_reply_to=mention)
    found = await source.find_reply(
        to_external_id=mention.id, text="Sorry, Dana! DM sent.", not_before=since
    )
    assert found == SentReply(external_id=posted.id, url=f"https://x.com/i/web/status/{posted.id}")
    timeline = [r for r in x.requests if r.path.endswith("/tweets") and r.method == "GET"]
    assert timeline[-1].path == f"/2/users/{x.brand.id}/tweets"
    assert timeline[-1].headers["Authorization"].startswith("OAuth ")
    assert timeline[-1].query["exclude"] == "retweets"
    missing = await source.find_reply(
        to_external_id=mention.id, text="Never sent", not_before=since
    )
    assert missing is None


async def test_find_reply_reads_past_the_first_page(x: FakeX, source: XSource) -> None:
    mention = x.add_mention()
    since = x.clock()
    wanted = x.add_brand_post("The one we need", in_reply_to=mention)
    for i in range(150):  # newer posts push it to the second page
        x.add_brand_post(f"News {i}")
    found = await source.find_reply(
        to_external_id=mention.id, text="The one we need", not_before=since
    )
    assert found is not None
    assert found.external_id == wanted.id


async def test_find_reply_respects_the_timeline_delay(x: FakeX, source: XSource) -> None:
    mention = x.add_mention()
    since = x.clock()
    x.timeline_delay = 3600  # X has stored it but does not show it yet
    x.add_brand_post("Hello!", in_reply_to=mention)
    found = await source.find_reply(to_external_id=mention.id, text="Hello!", not_before=since)
    assert found is None


async def test_find_reply_when_x_is_down_raises(x: FakeX, source: XSource) -> None:
    x.outage(503)
    with pytest.raises(NetworkUnavailable):
        await source.find_reply(to_external_id="1", text="Hello!", not_before=x.clock())


@pytest.mark.parametrize(
    ("shown", "sent"),
    [
        ("Fish &amp; chips &lt;3", "Fish & chips <3"),  # X returns entities escaped
        ("Track it: https://t.co/AbC123xyz9 thanks", "Track it: acme.io/track/991 thanks"),
        ("See https://t.co/AbC123xyz9", "See https://acme.example.com/help?id=4&x=1"),
        ("caf\u00e9 ok", "cafe\u0301 ok"),  # NFC on both sides
        ("@dana Sorry about that!", "Sorry about that!"),  # X puts the reply's @handles first
        ("@dana @acmehelp Sorry!", "@dana Sorry!"),
    ],
)
def test_post_text_is_compared_as_x_shows_it(shown: str, sent: str) -> None:
    assert same_post_text(shown, sent)


def test_different_text_is_not_the_same_post() -> None:
    assert not same_post_text("Thanks!", "Thanks!!")
    assert not same_post_text("See https://t.co/AbC123xyz9 now", "See acme.io/a later")


async def test_accepted_then_503_leaves_a_post_and_an_unknown_outcome(
    x: FakeX, source: XSource
) -> None:
    mention = x.add_mention()
    x.fail_after_storing(503)
    with pytest.raises(NetworkUnavailable) as caught:
        await source.reply(to_external_id=mention.id, text="Hi!")
    assert caught.value.may_have_posted
    assert len(x.posted_replies) == 1
    found = await source.find_reply(to_external_id=mention.id, text="Hi!", not_before=x.clock())
    assert found is not None
    assert found.external_id == x.posted_replies[0]["id"]


async def test_connection_refused_certainly_did_not_post(x: FakeX) -> None:
    source = make_source(x)
    await source.start()
    await x.stop()
    try:
        with pytest.raises(NetworkUnavailable) as caught:
            await source.reply(to_external_id="1", text="Hi!")
    finally:
        await source.close()
    assert not caught.value.may_have_posted
