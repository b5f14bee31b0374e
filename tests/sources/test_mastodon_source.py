"""MastodonSource against FakeMastodon over loopback, through the real Mastodon.py client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import NetworkAuthError, NetworkRateLimited, NetworkUnavailable, ReplyTooLong
from bot.sandbox.mastodon import FakeMastodon
from bot.sources.base import Source
from bot.sources.mastodon import MastodonSource, html_to_text, mastodon_length

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMastodon]:
    async with FakeMastodon() as masto:
        yield masto


@pytest.fixture
async def source(fake: FakeMastodon) -> AsyncIterator[MastodonSource]:
    src = MastodonSource(api_base_url=fake.api_url, access_token=fake.access_token)
    await src.start()
    yield src
    await src.close()


def test_text_and_length_helpers() -> None:
    content = (
        '<p><span class="h-card"><a href="https://m.example/@acme" class="u-url mention">'
        "@<span>acme</span></a></span> it&#39;s &lt;broken&gt; &amp; slow<br />really</p>"
        "<p>second</p>"
    )
    assert html_to_text(content) == "@acme it's <broken> & slow\nreally\n\nsecond"
    assert mastodon_length("see https://example.com/" + "a" * 100) == 4 + 23
    assert mastodon_length("@dana@social.example hi") == len("@dana hi")


def test_satisfies_source_protocol() -> None:
    src: Source = MastodonSource(api_base_url="http://127.0.0.1:1", access_token="t")
    assert src.network == "mastodon"


async def test_mentions_as_plain_text_with_full_handles(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    remote = fake.add_mention("@acme my <order> & more", author="dana@social.example")
    local = fake.add_mention("@acme hello", author="eve", followers=30_000)
    fake.add_status("not about us", author="finn")
    result = await source.fetch_since(None, not_before=LONG_AGO)
    assert [m.external_id for m in result.mentions] == [remote.id, local.id]
    dana, eve = result.mentions
    assert dana.text == "@acme my <order> & more"
    assert dana.author.handle == "dana@social.example"
    assert eve.author.handle == "eve@mastodon.example"  # local accounts get the instance too
    assert eve.author.followers == 30_000
    assert dana.url == f"https://social.example/@dana/{remote.id}"
    assert result.cursor is not None
    assert (await source.fetch_since(result.cursor, not_before=LONG_AGO)).mentions == []
    assert any("types[]=mention" in p or p.endswith("/notifications") for _, p, _ in fake.requests)


async def test_replies_keep_visibility_and_mention_the_customer(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    public = fake.add_mention("@acme where is it", author="dana@social.example")
    direct = fake.add_mention("@acme my card was charged twice", author="eve", visibility="direct")
    await source.fetch_since(None, not_before=LONG_AGO)
    sent = await source.reply(to_external_id=public.id, text="Checking now!")
    assert fake.posted[-1]["in_reply_to_id"] == public.id
    assert fake.posted[-1]["visibility"] == "public"
    assert fake.posted[-1]["status"] == "@dana@social.example Checking now!"
    assert sent.url.endswith(f"/@acme/{sent.external_id}")
    await source.reply(to_external_id=direct.id, text="@eve@mastodon.example sent you a DM")
    assert fake.posted[-1]["visibility"] == "direct"
    assert fake.posted[-1]["status"] == "@eve@mastodon.example sent you a DM"  # not twice


async def test_follow_ups_share_the_reply_chain_root(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    first = fake.add_mention("@acme broken", author="dana@social.example")
    result = await source.fetch_since(None, not_before=LONG_AGO)
    sent = await source.reply(to_external_id=first.id, text="Sorry! Which model?")
    follow = fake.add_status(
        "@acme the blue one", author="dana@social.example", in_reply_to=sent.external_id
    )
    later = await source.fetch_since(result.cursor, not_before=LONG_AGO)
    assert [m.external_id for m in later.mentions] == [follow.id]
    assert later.mentions[0].conversation_id == first.id


async def test_limits_come_from_the_instance() -> None:
    async with FakeMastodon(max_characters=100) as fake:
        post = fake.add_mention("@acme hi", author="dana@social.example")
        src = MastodonSource(api_base_url=fake.api_url, access_token=fake.access_token)
        await src.start()
        try:
            await src.whoami()
            assert src.limits.reply_max == 100
            with pytest.raises(ReplyTooLong):
                await src.reply(to_external_id=post.id, text="x" * 95)  # plus "@dana " makes 101
            link = "https://example.com/" + "a" * 200  # counts 23
            await src.reply(to_external_id=post.id, text=f"see {link}")
        finally:
            await src.close()


async def test_errors_map_to_domain_errors(fake: FakeMastodon, source: MastodonSource) -> None:
    await source.whoami()
    fake.fail_next("/api/v1/notifications", status=503)
    with pytest.raises(NetworkUnavailable):
        await source.fetch_since(None, not_before=LONG_AGO)
    fake.fail_next("/api/v1/notifications", status=429)
    with pytest.raises(NetworkRateLimited) as info:
        await source.fetch_since(None, not_before=LONG_AGO)
    assert info.value.reset_at is not None
    calls = len(fake.requests)
    with pytest.raises(NetworkRateLimited):  # the spent budget is honoured without a request
        await source.fetch_since(None, not_before=LONG_AGO)
    assert len(fake.requests) == calls
    fake.revoke_token()
    src = MastodonSource(api_base_url=fake.api_url, access_token="revoked")
    await src.start()
    try:
        with pytest.raises(NetworkAuthError, match="MASTODON_ACCESS_TOKEN"):
            await src.whoami()
    finally:
        await src.close()


async def test_the_stream_delivers_mentions_and_asks_for_a_backfill_on_every_connect(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    import asyncio

    received: asyncio.Queue[list[Any]] = asyncio.Queue()
    connects: asyncio.Queue[None] = asyncio.Queue()

    async def on_mentions(mentions: list[Any]) -> None:
        await received.put(mentions)

    task = asyncio.create_task(
        source.stream(
            on_mentions=on_mentions,
            on_connect=lambda: connects.put_nowait(None),
            reconnect_seconds=0.5,
        )
    )
    try:
        await asyncio.wait_for(connects.get(), timeout=10)  # first connection: backfill
        status = fake.add_mention("@acme streamed!", author="dana@social.example")
        (mention,) = await asyncio.wait_for(received.get(), timeout=10)
        assert mention.external_id == status.id
        assert mention.text == "@acme streamed!"
        fake.drop_streams()  # the streaming server restarts
        await asyncio.wait_for(connects.get(), timeout=10)  # reconnected: backfill again
        later = fake.add_mention("@acme after the reconnect", author="eve")
        (again,) = await asyncio.wait_for(received.get(), timeout=10)
        assert again.external_id == later.id
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_large_backlog_is_read_forward_across_polls(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    first = await source.fetch_since(None, not_before=LONG_AGO)
    assert first.mentions == []
    fake.add_mention("@acme hello", author="seed")
    cursor = (await source.fetch_since(None, not_before=LONG_AGO)).cursor
    fake.add_mentions(4_500)  # more than one poll reads (50 pages of 80)
    seen: set[str] = set()
    for _ in range(3):
        result = await source.fetch_since(cursor, not_before=LONG_AGO)
        seen.update(m.external_id for m in result.mentions)
        cursor = result.cursor or cursor
    assert len(seen) == 4_500


async def test_a_reply_in_doubt_is_found_in_the_brands_own_statuses(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    asked = fake.add_mention("@acme where is it", author="dana@social.example")
    other = fake.add_mention("@acme me too", author="eve")
    await source.fetch_since(None, not_before=LONG_AGO)
    started = datetime.now(UTC)
    assert (
        await source.find_reply(to_external_id=asked.id, text="On it!", not_before=started) is None
    )
    await source.reply(to_external_id=other.id, text="On it!")  # same text, another post
    sent = await source.reply(to_external_id=asked.id, text="On it!")
    found = await source.find_reply(to_external_id=asked.id, text="On it!", not_before=started)
    assert found == sent  # the "@dana@social.example " Carebot put first does not hide it
    assert (
        await source.find_reply(to_external_id=asked.id, text="Other", not_before=started) is None
    )
    assert any(
        "/api/v1/accounts/" in path and path.endswith("/statuses") for _, path, _ in fake.requests
    )
