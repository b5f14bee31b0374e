"""BlueskySource against FakeBluesky over loopback, through the real atproto AsyncClient."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.errors import NetworkAuthError, NetworkRateLimited, NetworkUnavailable, ReplyTooLong
from bot.sandbox.bluesky import FakeBluesky
from bot.sources.base import Source
from bot.sources.bluesky import BlueskySource, compact_id, post_uri
from storage import intake
from storage.engine import SessionFactory

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBluesky]:
    async with FakeBluesky() as bsky:
        yield bsky


def make_source(fake: FakeBluesky, **overrides: Any) -> BlueskySource:
    values: dict[str, Any] = {
        "api_url": fake.api_url,
        "handle": fake.brand.handle,
        "app_password": fake.app_password,
    }
    values.update(overrides)
    return BlueskySource(**values)


@pytest.fixture
async def source(fake: FakeBluesky) -> AsyncIterator[BlueskySource]:
    src = make_source(fake)
    await src.start()
    yield src
    await src.close()


def test_satisfies_source_protocol_and_ids_round_trip() -> None:
    src: Source = BlueskySource(api_url="http://127.0.0.1:1", handle="a.b", app_password="p")
    assert src.network == "bluesky"
    assert src.limits.reply_max == 300
    uri = "at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3kabc2defgh2i"
    assert compact_id(uri) == "did:plc:abcdefghijklmnopqrstuvwx/3kabc2defgh2i"
    assert post_uri(compact_id(uri)) == uri


async def test_mentions_replies_and_quotes_with_authors_and_links(
    fake: FakeBluesky, source: BlueskySource
) -> None:
    first = fake.add_mention("where is my order?", author_handle="dana", followers=25_000)
    brand_post = fake._store(
        fake.brand,
        {"$type": "app.bsky.feed.post", "text": "New!", "createdAt": "2026-01-01T00:00:00.000Z"},
    )
    quote = fake.add_post("this is broken", author_handle="eve", quote=brand_post)
    unrelated = fake.add_post("no mention here", author_handle="finn")
    result = await source.fetch_since(None, not_before=LONG_AGO)
    ids = [m.external_id for m in result.mentions]
    assert ids == [compact_id(first.uri), compact_id(quote.uri)]
    assert compact_id(unrelated.uri) not in ids
    dana = result.mentions[0]
    assert dana.author.handle == "dana.bsky.social"
    assert dana.author.external_id == first.author.did
    assert dana.author.followers == 25_000  # from getProfiles
    assert dana.url == f"https://bsky.app/profile/dana.bsky.social/post/{first.rkey}"
    assert dana.conversation_id == dana.external_id
    assert dana.text.endswith("where is my order?")
    assert result.cursor is not None
    assert fake.calls("app.bsky.actor.getProfiles")

    again = await source.fetch_since(result.cursor, not_before=LONG_AGO)
    # Only what shares the newest millisecond can come back; ingest drops it as known.
    assert {m.external_id for m in again.mentions} <= set(ids)
    later = fake.add_mention("and another thing", author_handle="gus")
    newer = await source.fetch_since(result.cursor, not_before=LONG_AGO)
    assert compact_id(later.uri) in {m.external_id for m in newer.mentions}


async def test_reply_threads_under_the_root_with_facets(
    fake: FakeBluesky, source: BlueskySource
) -> None:
    root = fake.add_mention("my parcel is lost", author_handle="dana")
    sent = await source.reply(
        to_external_id=compact_id(root.uri),
        text="Sorry @dana.bsky.social! Track it at https://acme.example/track",
    )
    record = fake.created_records[-1]["record"]
    ref = {"uri": root.uri, "cid": root.cid, "$type": "com.atproto.repo.strongRef"}
    assert record["reply"]["root"] == ref
    assert record["reply"]["parent"] == ref
    features = [f["features"][0] for f in record["facets"]]
    mention = {"$type": "app.bsky.richtext.facet#mention", "did": root.author.did}
    assert mention in features
    assert {
        "$type": "app.bsky.richtext.facet#link",
        "uri": "https://acme.example/track",
    } in features
    assert sent.url.startswith("https://bsky.app/profile/acme.bsky.social/post/")

    # The customer answers the brand: a "reply" notification in the same thread (same root).
    ours = fake.posts[post_uri(sent.external_id)]
    follow = fake.add_post("still nothing", author_handle="dana", reply_to=ours)
    result = await source.fetch_since(None, not_before=LONG_AGO)
    again = next(m for m in result.mentions if m.external_id == compact_id(follow.uri))
    assert again.conversation_id == compact_id(root.uri)
    await source.reply(to_external_id=again.external_id, text="Checking now")
    record = fake.created_records[-1]["record"]
    assert record["reply"]["root"]["uri"] == root.uri
    assert record["reply"]["parent"]["uri"] == follow.uri


async def test_reply_counts_graphemes(fake: FakeBluesky, source: BlueskySource) -> None:
    post = fake.add_mention("hi", author_handle="dana")
    with pytest.raises(ReplyTooLong):
        await source.reply(to_external_id=compact_id(post.uri), text="a" * 301)
    await source.reply(to_external_id=compact_id(post.uri), text="👨‍👩‍👧" * 300)
    assert fake.created_records


async def test_session_is_saved_and_reused_across_restarts(
    fake: FakeBluesky, sessions: SessionFactory
) -> None:
    fake.add_mention("hello", author_handle="dana")
    for _ in range(3):
        src = make_source(fake, sessions=sessions)
        await src.start()
        try:
            assert len((await src.fetch_since(None, not_before=LONG_AGO)).mentions) == 1
        finally:
            await src.close()
    assert fake.sessions_created == 1
    async with sessions() as s:
        assert await intake.get_source_session(s, network="bluesky:acme.bsky.social")


async def test_expiring_sessions_are_refreshed_and_saved(sessions: SessionFactory) -> None:
    # Tokens that live 10 minutes: the SDK refreshes 15 minutes before expiry, i.e. every call.
    async with FakeBluesky(access_ttl=timedelta(minutes=10)) as fake:
        src = make_source(fake, sessions=sessions)
        await src.start()
        try:
            await src.whoami()
            await src.whoami()
        finally:
            await src.close()
        assert fake.sessions_created == 1
        assert fake.sessions_refreshed >= 1
        async with sessions() as s:
            saved = await intake.get_source_session(s, network="bluesky:acme.bsky.social")
        assert saved is not None
        # A restart picks up the refreshed session, not a new login.
        src = make_source(fake, sessions=sessions)
        await src.start()
        try:
            await src.whoami()
        finally:
            await src.close()
        assert fake.sessions_created == 1


async def test_a_session_expired_early_logs_in_again(
    fake: FakeBluesky, source: BlueskySource
) -> None:
    await source.whoami()
    fake.expire_access_tokens()
    assert (await source.whoami()).handle == "acme.bsky.social"
    assert fake.sessions_created == 2


async def test_revoked_app_password_is_an_auth_error(
    fake: FakeBluesky, source: BlueskySource
) -> None:
    await source.whoami()
    fake.revoke_app_password()
    with pytest.raises(NetworkAuthError, match="BLUESKY_APP_PASSWORD"):
        await source.fetch_since(None, not_before=LONG_AGO)


async def test_rate_limits_are_honoured(fake: FakeBluesky, source: BlueskySource) -> None:
    await source.whoami()
    fake.fail_next("app.bsky.notification.listNotifications", status=429, reset_in=120)
    with pytest.raises(NetworkRateLimited) as info:
        await source.fetch_since(None, not_before=LONG_AGO)
    assert info.value.reset_at is not None
    calls = len(fake.requests)
    with pytest.raises(NetworkRateLimited):  # waits for the reset instead of calling again
        await source.fetch_since(None, not_before=LONG_AGO)
    assert len(fake.requests) == calls


async def test_create_session_limit_and_outage(fake: FakeBluesky) -> None:
    fake.outage(502)
    src = make_source(fake)
    await src.start()
    try:
        with pytest.raises(NetworkUnavailable):
            await src.whoami()
    finally:
        await src.close()
    fake.end_outage()
    for _ in range(30):
        src = make_source(fake)
        await src.start()
        await src.whoami()
        await src.close()
    src = make_source(fake)
    await src.start()
    try:
        with pytest.raises(NetworkRateLimited, match="30 per 5 minutes"):
            await src.whoami()
    finally:
        await src.close()


async def test_thousands_of_notifications_are_all_read_across_pages(
    fake: FakeBluesky, source: BlueskySource
) -> None:
    posts = fake.add_mentions(2_345)
    result = await source.fetch_since(None, not_before=LONG_AGO)
    assert {m.external_id for m in result.mentions} == {compact_id(p.uri) for p in posts}


async def test_a_reply_in_doubt_is_found_in_the_brands_own_feed(
    fake: FakeBluesky, source: BlueskySource
) -> None:
    asked = fake.add_mention("my parcel is lost", author_handle="dana")
    other = fake.add_mention("mine too", author_handle="eve")
    started = datetime.now(UTC)
    target = compact_id(asked.uri)
    assert await source.find_reply(to_external_id=target, text="On it!", not_before=started) is None
    await source.reply(to_external_id=compact_id(other.uri), text="On it!")  # another post
    sent = await source.reply(to_external_id=target, text="On it!")
    found = await source.find_reply(to_external_id=target, text="On it!", not_before=started)
    assert found == sent
    assert await source.find_reply(to_external_id=target, text="Other", not_before=started) is None
    assert fake.calls("app.bsky.feed.getAuthorFeed")
