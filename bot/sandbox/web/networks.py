"""Where a mention typed into the sandbox page goes: one sink per network, keyed by the network's
name, so a network with a sandbox fake of its own plugs in by adding its sink."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.sandbox.bluesky import FakeBluesky
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.x import FakeX

# X handles: 1 to 15 letters, digits or underscores.
_X_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
# Bluesky handles are domain names (`kim-w.bsky.social`); a bare name gets `.bsky.social`.
_BSKY_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_BSKY_HANDLE = re.compile(rf"^{_BSKY_LABEL}(?:\.{_BSKY_LABEL})*$")
# Mastodon accounts: a username of letters, digits and underscores, on this instance or another.
_MASTO_ACCOUNT = re.compile(r"^[A-Za-z0-9_]{1,30}(?:@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?$")
MAX_FOLLOWERS = 10**10
MAX_TEXT = 4000


@dataclass(frozen=True, slots=True)
class NewMention:
    """A post by a customer, as typed into the page's form."""

    network: str
    handle: str
    name: str
    followers: int
    text: str


class MentionRefused(ValueError):
    """The form's values do not make a post on that network; the message says which and why."""


# A sink stores the mention on its network's fake and returns the new post's id.
MentionSink = Callable[[NewMention], str]


def check_common(mention: NewMention) -> None:
    """Refuse what no network takes: no text, too much text, a negative follower count."""
    if not mention.text.strip():
        raise MentionRefused("Write the post's text.")
    if len(mention.text) > MAX_TEXT:
        raise MentionRefused(f"The text is {len(mention.text)} characters; {MAX_TEXT} at most.")
    if not 0 <= mention.followers <= MAX_FOLLOWERS:
        raise MentionRefused("Followers must be a whole number, 0 or more.")


def x_sink(x: FakeX) -> MentionSink:
    """Return the sink that posts on the sandbox X, naming the brand if the text does not."""

    def post(mention: NewMention) -> str:
        check_common(mention)
        handle = mention.handle.strip().removeprefix("@")
        if not _X_HANDLE.match(handle):
            raise MentionRefused(
                "An X handle is 1 to 15 letters, digits or underscores (like dana_k)."
            )
        if handle.lower() == x.brand.username.lower():
            raise MentionRefused(f"@{handle} is the brand itself; pick a customer's handle.")
        text = mention.text
        brand = f"@{x.brand.username}"
        if brand.lower() not in text.lower():
            # Only posts that name the brand reach its mentions timeline, as on X.
            text = f"{brand} {text}"
        tweet = x.add_mention(
            text,
            author_handle=handle,
            author_name=mention.name.strip() or handle,
            followers=mention.followers,
        )
        return tweet.id

    return post


def bluesky_sink(bsky: FakeBluesky) -> MentionSink:
    """Return the sink that posts on the sandbox Bluesky, naming the brand if the text does not."""

    def post(mention: NewMention) -> str:
        check_common(mention)
        handle = mention.handle.strip().removeprefix("@").lower()
        if not _BSKY_HANDLE.match(handle) or len(handle) > 253:
            raise MentionRefused(
                "A Bluesky handle is a domain name (like kim-w.bsky.social), or a name that "
                "gets .bsky.social."
            )
        if "." not in handle:
            handle = f"{handle}.bsky.social"
        if handle == bsky.brand.handle:
            raise MentionRefused(f"@{handle} is the brand itself; pick a customer's handle.")
        text = mention.text
        brand = f"@{bsky.brand.handle}"
        if brand not in text.lower():
            # Only a post that mentions the brand notifies it, as on Bluesky.
            text = f"{brand} {text}"
        created = bsky.add_post(
            text,
            author_handle=handle,
            display_name=mention.name.strip() or handle,
            followers=mention.followers,
        )
        return created.uri

    return post


def mastodon_sink(masto: FakeMastodon) -> MentionSink:
    """Return the sink that posts on the sandbox Mastodon, naming the brand if the text does not."""

    def post(mention: NewMention) -> str:
        check_common(mention)
        account = mention.handle.strip().removeprefix("@")
        if not _MASTO_ACCOUNT.match(account):
            raise MentionRefused(
                "A Mastodon account is a username of letters, digits or underscores, with its "
                "instance if it is another one (like sam_asks@social.example)."
            )
        username, _, domain = account.partition("@")
        if username.lower() == masto.brand.username and domain in {"", masto.domain}:
            raise MentionRefused(f"@{account} is the brand itself; pick a customer's account.")
        text = mention.text
        brand = f"@{masto.brand.username}"
        if not re.search(rf"{re.escape(brand)}(?![\w@])", text, re.IGNORECASE):
            # Only a status that mentions the brand notifies it, as on Mastodon.
            text = f"{brand} {text}"
        status = masto.add_status(
            text,
            author=account,
            display_name=mention.name.strip() or username,
            followers=mention.followers,
        )
        return status.id

    return post
