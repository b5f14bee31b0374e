"""The sandbox page's mention form on each network: what a sink stores on its fake (the brand named
so the post reaches the brand, the customer as that network writes accounts) and what it refuses."""

from __future__ import annotations

import pytest

from bot.sandbox.bluesky import FakeBluesky
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.web.networks import MentionRefused, NewMention, bluesky_sink, mastodon_sink


def mention(network: str, handle: str, text: str = "my parcel is late") -> NewMention:
    return NewMention(network=network, handle=handle, name="Kim W", followers=85, text=text)


def test_a_bluesky_mention_names_the_brand_and_notifies_it() -> None:
    bsky = FakeBluesky()
    uri = bluesky_sink(bsky)(mention("bluesky", "@Kim-W.bsky.social"))
    post = bsky.posts[uri]
    assert post.text == "@acme.bsky.social my parcel is late"
    assert post.author.handle == "kim-w.bsky.social"
    assert post.author.display_name == "Kim W"
    assert post.author.followers == 85
    # The brand is tagged with a mention facet, as the Bluesky app would.
    assert post.record["facets"][0]["features"][0]["did"] == bsky.brand.did


def test_a_bare_bluesky_name_gets_the_default_domain_and_brand_text_stays() -> None:
    bsky = FakeBluesky()
    uri = bluesky_sink(bsky)(mention("bluesky", "kim", "hi @acme.bsky.social"))
    assert bsky.posts[uri].author.handle == "kim.bsky.social"
    assert bsky.posts[uri].text == "hi @acme.bsky.social"


def test_a_mastodon_mention_names_the_brand_and_notifies_it() -> None:
    masto = FakeMastodon()
    status_id = mastodon_sink(masto)(mention("mastodon", "@sam_asks@social.example"))
    status = masto.statuses[status_id]
    assert status.text == "@acme my parcel is late"
    assert status.account.acct(masto.domain) == "sam_asks@social.example"
    assert status.visibility == "public"
    assert [n[1] for n in masto.notifications] == [status]


def test_a_local_mastodon_account_and_text_that_names_the_brand() -> None:
    masto = FakeMastodon()
    status_id = mastodon_sink(masto)(mention("mastodon", "sam", "@ACME hello"))
    assert masto.statuses[status_id].text == "@ACME hello"
    assert masto.statuses[status_id].account.acct(masto.domain) == "sam"


@pytest.mark.parametrize(
    ("network", "handle", "text", "error"),
    [
        ("bluesky", "kim w", "hi", "A Bluesky handle is a domain name"),
        ("bluesky", "-kim.bsky.social", "hi", "A Bluesky handle is a domain name"),
        ("bluesky", "acme.bsky.social", "hi", "the brand itself"),
        ("bluesky", "kim", "   ", "Write the post"),
        ("mastodon", "sam asks", "hi", "A Mastodon account is a username"),
        ("mastodon", "sam@nowhere", "hi", "A Mastodon account is a username"),
        ("mastodon", "acme", "hi", "the brand itself"),
        ("mastodon", "acme@mastodon.example", "hi", "the brand itself"),
        ("mastodon", "sam", "", "Write the post"),
    ],
)
def test_what_a_network_would_not_take_is_refused(
    network: str, handle: str, text: str, error: str
) -> None:
    bsky, masto = FakeBluesky(), FakeMastodon()
    sink = bluesky_sink(bsky) if network == "bluesky" else mastodon_sink(masto)
    with pytest.raises(MentionRefused, match=error):
        sink(mention(network, handle, text))
    # Nothing was stored: only the brand's own account exists.
    assert len(bsky.posts) == 0
    assert len(masto.statuses) == 0
