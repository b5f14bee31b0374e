"""The X adapter at the boundary: text unescaped exactly once, long posts whole, which posts summon
the brand (X's reply rule), and what a lookup says about deleted, hidden and edited posts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.sandbox.x import FakeX
from bot.sources.checks import PostCheck, PostStatus
from bot.sources.x import XSource, unescape_x_text

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
async def x() -> AsyncIterator[FakeX]:
    async with FakeX() as fake:
        yield fake


@pytest.fixture
async def source(x: FakeX) -> AsyncIterator[XSource]:
    src = XSource(
        api_url=x.api_url,
        bearer_token=x.bearer_token,
        api_key=x.api_key,
        api_secret="s",
        access_token=x.access_token,
        access_token_secret="s",
    )
    await src.start()
    yield src
    await src.close()


@pytest.mark.parametrize(
    ("sent", "typed"),
    [
        ("AT&amp;T", "AT&T"),
        ("&lt;b&gt;hi&lt;/b&gt;", "<b>hi</b>"),
        # Someone typed the entity itself: X escapes its ampersand, so one pass gives it back.
        ("&amp;lt; &amp;amp;", "&lt; &amp;"),
        ("&quot;as is&quot; &copy", "&quot;as is&quot; &copy"),
    ],
)
def test_unescape_is_exactly_one_pass(sent: str, typed: str) -> None:
    assert unescape_x_text(sent) == typed


async def test_mentions_arrive_as_typed_and_whole(x: FakeX, source: XSource) -> None:
    typed = x.add_mention("@acmehelp AT&T <3 & &amp; > all")
    long_text = "@acmehelp " + "my order & my refund are both lost. " * 10
    long_post = x.add_mention(long_text.strip(), author_handle="verbose")
    result = await source.fetch_since(None, not_before=LONG_AGO)
    by_id = {m.external_id: m for m in result.mentions}
    assert by_id[typed.id].text == "@acmehelp AT&T <3 & &amp; > all"
    assert by_id[long_post.id].text == long_text.strip()


async def test_which_posts_summon_the_brand(x: FakeX, source: XSource) -> None:
    mention = x.add_mention("@AcmeHelp hello")
    ours = x.add_brand_post("Our new plans are out")
    quote = x.add_quote(ours, "these prices, really?", author_handle="quoter")
    silent_reply = x.add_mention("meh", author_handle="eve", in_reply_to=ours)
    result = await source.fetch_since(None, not_before=LONG_AGO)
    summons = {m.external_id: m.summons for m in result.mentions}
    assert summons == {mention.id: True, quote.id: True, silent_reply.id: False}


async def test_check_posts_reads_errors_and_edits(x: FakeX, source: XSource) -> None:
    kept = x.add_mention("@acmehelp fine")
    gone = x.add_mention("@acmehelp oops", author_handle="dana")
    locked = x.add_mention("@acmehelp secret", author_handle="eve")
    banned = x.add_mention("@acmehelp spam", author_handle="spammer")
    legal = x.add_mention("@acmehelp contested", author_handle="legal")
    typo = x.add_mention("@acmehelp teh order", author_handle="finn")
    x.delete(gone)
    x.protect("eve")
    x.suspend("spammer")
    x.withhold(legal, "DE")
    x.edit(typo, "@acmehelp the order & more")
    ids = [kept.id, gone.id, locked.id, banned.id, legal.id, typo.id, "1"]
    checks = await source.check_posts(ids)
    assert checks == [
        PostCheck(kept.id, PostStatus.OK, "@acmehelp fine"),
        PostCheck(gone.id, PostStatus.DELETED),
        PostCheck(locked.id, PostStatus.PROTECTED),
        PostCheck(banned.id, PostStatus.SUSPENDED),
        PostCheck(legal.id, PostStatus.WITHHELD),
        PostCheck(typo.id, PostStatus.EDITED, "@acmehelp the order & more"),
        PostCheck("1", PostStatus.DELETED),
    ]


async def test_an_edit_is_not_a_second_mention(x: FakeX, source: XSource) -> None:
    # Edited before the first poll: one mention, with the latest text, under the first id.
    early = x.add_mention("@acmehelp frist", author_handle="ann")
    x.edit(early, "@acmehelp first")
    first = await source.fetch_since(None, not_before=LONG_AGO)
    assert [(m.external_id, m.text) for m in first.mentions] == [(early.id, "@acmehelp first")]
    # Edited after it was delivered: nothing new (the compliance job takes the edit onto it).
    x.edit(early, "@acmehelp first!")
    later = await source.fetch_since(first.cursor, not_before=LONG_AGO)
    assert later.mentions == []
    assert later.cursor is not None
