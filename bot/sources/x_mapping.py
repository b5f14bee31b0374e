"""X's JSON to Carebot's domain: mentions, authors, edits folded into their original, posts X no
longer shows, and post text unescaped once and compared as X rewrites it. Pure functions over
the plain dicts `XSource` hands back, so the adapter itself only talks to X.
"""

from __future__ import annotations

import dataclasses
import html
import re
import unicodedata
from datetime import datetime
from typing import Any, Final

from bot.clock import ensure_utc
from bot.errors import SourceError
from bot.sources.base import Author, Mention
from bot.sources.checks import PostCheck, PostStatus
from bot.sources.x_text import url_spans

__all__ = [
    "CHECK_FIELDS",
    "EXPANSIONS",
    "TWEET_FIELDS",
    "USER_FIELDS",
    "author_from_user",
    "checked_tweet_id",
    "first_error",
    "fold_edits",
    "hidden_post",
    "is_customer_mention",
    "json_list",
    "mention_from_tweet",
    "parse_time",
    "post_text",
    "same_post_text",
    "summons_brand",
    "unescape_x_text",
]

TWEET_FIELDS: Final = [
    "created_at",
    "conversation_id",
    "referenced_tweets",
    "author_id",
    "in_reply_to_user_id",
    "entities",
    "note_tweet",
    "edit_history_tweet_ids",
]
USER_FIELDS: Final = ["username", "name", "verified", "public_metrics"]
EXPANSIONS: Final = ["author_id", "referenced_tweets.id"]
CHECK_FIELDS: Final = ["edit_history_tweet_ids", "note_tweet", "withheld", "author_id"]
# X escapes exactly these three in post text (and nothing else), so exactly these are undone.
_X_ENTITIES: Final = re.compile(r"&(amp|lt|gt);")
_X_UNESCAPE: Final = {"amp": "&", "lt": "<", "gt": ">"}


def unescape_x_text(text: str) -> str:
    """Return X's HTML-escaped post text as its author typed it (one pass: `&amp;lt;` → `&lt;`)."""
    return _X_ENTITIES.sub(lambda m: _X_UNESCAPE[m.group(1)], text)


def fold_edits(mentions: dict[str, Mention], originals: dict[str, str], cursor: str | None) -> None:
    """Keep an edit from becoming a second case: X gives each version of a post a new id.

    An edit whose original is in the same fetch becomes that original's text. One whose original
    is older than the cursor was already delivered; the compliance job takes the edit onto it. An
    edit of a post never seen (edited before its first poll) stays: it is the only version.
    """
    for version, original in originals.items():
        edited = mentions.pop(version)
        if original in mentions:
            mentions[original] = dataclasses.replace(mentions[original], text=edited.text)
        elif cursor is None or int(original) > int(cursor):
            mentions[version] = edited


def hidden_post(error: Any) -> PostCheck | None:
    """Read one entry of a lookup's `errors`: which post, and why X no longer shows it."""
    if not isinstance(error, dict) or error.get("resource_type") != "tweet":
        return None
    post_id = str(error.get("resource_id") or error.get("value") or "")
    kind = str(error.get("type", ""))
    if not post_id:
        return None
    if kind.endswith("/not-authorized-for-resource"):
        return PostCheck(post_id, PostStatus.PROTECTED)
    if kind.endswith("/resource-not-found"):
        suspended = "suspended" in str(error.get("detail", "")).lower()
        return PostCheck(post_id, PostStatus.SUSPENDED if suspended else PostStatus.DELETED)
    return None


def summons_brand(tweet: dict[str, Any], brand_id: str, quoted_authors: dict[str, str]) -> bool:
    """Tell whether the post mentions the brand (an entity) or quotes one of the brand's posts."""
    entities = tweet.get("entities") or {}
    note = tweet.get("note_tweet") or {}
    mentions = list(entities.get("mentions") or []) + list(
        (note.get("entities") or {}).get("mentions") or []
    )
    if any(str(m.get("id")) == brand_id for m in mentions if isinstance(m, dict)):
        return True
    return any(
        ref.get("type") == "quoted" and quoted_authors.get(str(ref.get("id"))) == brand_id
        for ref in tweet.get("referenced_tweets", [])
    )


def post_text(tweet: dict[str, Any]) -> str:
    """Return the whole post as typed: `note_tweet` holds what a long post's `text` cuts off."""
    note = tweet.get("note_tweet")
    raw = note.get("text") if isinstance(note, dict) else None
    return unescape_x_text(str(raw if isinstance(raw, str) else tweet.get("text", "")))


def same_post_text(shown: str, sent: str) -> bool:
    """Whether `shown` (a post's text as X returns it) is the text `sent` was posted with."""
    return _comparable(html.unescape(shown)) == _comparable(sent)


# A reply's text as X returns it starts with the @handles it answers, which X adds itself.
_LEADING_MENTIONS = re.compile(r"^(?:[@\uff20]\w{1,15}\s+)+")


def _comparable(text: str) -> str:
    # X replaces every link with a t.co link of its own; compare everything around the links.
    text = _LEADING_MENTIONS.sub("", unicodedata.normalize("NFC", text).strip())
    parts: list[str] = []
    position = 0
    for start, end in url_spans(text):
        parts.append(text[position:start])
        parts.append("\u0000")
        position = end
    parts.append(text[position:])
    return " ".join("".join(parts).split())


def first_error(payload: dict[str, Any]) -> str:
    """Return the first error X put in `payload`, as an agent reads it."""
    errors = payload.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    return str(first.get("detail") or first.get("message") or "no details given")


def json_list(value: Any) -> list[Any]:
    """Return `value` if X sent a list there, else an empty list."""
    return value if isinstance(value, list) else []


def checked_tweet_id(tweet: dict[str, Any]) -> str:
    """Return the post's id, refusing one that is not X's digits."""
    value = str(tweet.get("id"))
    if not value.isdigit():
        raise SourceError(f"X sent a mention with an unreadable id ({value[:40]!r}).")
    return value


def is_customer_mention(tweet: dict[str, Any], brand_id: str) -> bool:
    """Keep what a customer wrote: not the brand's own posts, not plain reposts (quotes stay)."""
    if tweet.get("author_id") == brand_id:
        return False
    refs = json_list(tweet.get("referenced_tweets"))
    return not any(isinstance(r, dict) and r.get("type") == "retweeted" for r in refs)


def author_from_user(user: dict[str, Any]) -> Author:
    """Return the `Author` an X user object describes."""
    metrics = user.get("public_metrics") or {}
    followers = metrics.get("followers_count")
    verified = user.get("verified")
    return Author(
        external_id=str(user["id"]),
        handle=str(user.get("username", "")),
        name=str(user.get("name", "")),
        followers=int(followers) if followers is not None else None,
        verified=bool(verified) if verified is not None else None,
    )


def mention_from_tweet(tweet: dict[str, Any], user: dict[str, Any] | None) -> Mention:
    """Return the `Mention` an X post (and its author, if expanded) is."""
    tweet_id = str(tweet["id"])
    author_id = str(tweet.get("author_id", ""))
    author = (
        author_from_user(user)
        if user is not None
        else Author(external_id=author_id, handle="", name="")
    )
    replied_to = next(
        (
            str(r["id"])
            for r in json_list(tweet.get("referenced_tweets"))
            if isinstance(r, dict) and r.get("type") == "replied_to"
        ),
        None,
    )
    return Mention(
        network="x",
        external_id=tweet_id,
        conversation_id=str(tweet.get("conversation_id") or tweet_id),
        author=author,
        text=post_text(tweet),
        url=f"https://x.com/{author.handle or 'i'}/status/{tweet_id}",
        posted_at=parse_time(tweet.get("created_at")),
        in_reply_to_id=replied_to,
    )


def parse_time(value: Any) -> datetime:
    """Return X's `created_at` as an aware UTC datetime, refusing what cannot be placed."""
    if not isinstance(value, str):
        raise SourceError("X sent a mention without a time; Carebot cannot place it.")
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError as exc:
        raise SourceError(f"X sent a mention with an unreadable time ({value!r}).") from exc
