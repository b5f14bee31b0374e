"""Bluesky's answers to Carebot's domain: notifications to `Mention`s, profiles to `Author`s,
post ids stored compactly as `<did>/<rkey>` (an at-uri without `at://` and the collection, so
they fit the 64-character id columns every network shares) and bsky.app links, and the error
codes and `ratelimit-reset` headers of a failed call. Pure functions over atproto's models.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from bot.clock import Clock, ensure_utc
from bot.sources.base import Author, Mention

__all__ = [
    "POST_COLLECTION",
    "author_from_profile",
    "compact_id",
    "error_code",
    "error_text",
    "iso_time",
    "mention_from_notification",
    "parse_time",
    "post_uri",
    "post_url",
    "reset_at_of",
    "wait_phrase",
]

log = logging.getLogger("bot.sources.bluesky")

POST_COLLECTION: Final = "app.bsky.feed.post"
ID_LIMIT: Final = 64


def compact_id(uri: str) -> str:
    """Return `<did>/<rkey>` for the post at-uri `uri`."""
    did, _, rest = uri.removeprefix("at://").partition("/")
    return f"{did}/{rest.rpartition('/')[2]}"


def post_uri(external_id: str) -> str:
    """Return the at-uri of the post stored as `external_id` (`<did>/<rkey>`)."""
    if external_id.startswith("at://"):
        return external_id
    did, _, rkey = external_id.partition("/")
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def post_url(handle: str, uri: str) -> str:
    """Return the bsky.app link of a post."""
    return f"https://bsky.app/profile/{handle}/post/{uri.rpartition('/')[2]}"


def mention_from_notification(item: Any, profiles: dict[str, Any]) -> Mention | None:
    """Return the `Mention` a notification is (None if its ids are too long)."""
    external_id = compact_id(item.uri)
    record = item.record
    reply = getattr(record, "reply", None)
    root_uri = reply.root.uri if reply is not None else item.uri
    conversation_id = compact_id(root_uri)
    if len(external_id) > ID_LIMIT or len(conversation_id) > ID_LIMIT:
        log.warning("bluesky: skipping %s, its id is longer than %d characters", item.uri, ID_LIMIT)
        return None
    profile = profiles.get(item.author.did) or item.author
    indexed = parse_time(item.indexed_at) or datetime.now(UTC)
    created = parse_time(getattr(record, "created_at", None))
    # createdAt is the author's claim (it can lie or be in the future); indexedAt is Bluesky's.
    posted_at = min(created, indexed) if created is not None else indexed
    return Mention(
        network="bluesky",
        external_id=external_id,
        conversation_id=conversation_id,
        author=author_from_profile(profile),
        text=str(getattr(record, "text", "") or ""),
        url=post_url(item.author.handle, item.uri),
        posted_at=posted_at,
        in_reply_to_id=compact_id(reply.parent.uri) if reply is not None else None,
    )


def author_from_profile(profile: Any) -> Author:
    """Return the `Author` of a Bluesky profile."""
    return Author(
        external_id=profile.did,
        handle=profile.handle,
        name=getattr(profile, "display_name", None) or profile.handle,
        followers=getattr(profile, "followers_count", None),
        verified=None,
    )


def parse_time(value: str | None) -> datetime | None:
    """Return Bluesky's ISO time as an aware UTC datetime (None if absent or naive)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def iso_time(moment: datetime) -> str:
    """Return `moment` as Bluesky writes times (UTC, milliseconds, `Z`)."""
    moment = ensure_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def error_code(exc: Any) -> str:
    """Return the XRPC error code of a failed call (e.g. `ExpiredToken`)."""
    content = getattr(exc.response, "content", None)
    return str(getattr(content, "error", "") or "")


def error_text(exc: Any) -> str:
    """Return the XRPC error message of a failed call, as one sentence."""
    content = getattr(exc.response, "content", None)
    message = getattr(content, "message", None) or getattr(content, "error", None)
    return str(message or "no reason given").rstrip(".") + "."


def reset_at_of(exc: Any) -> datetime | None:
    """Return when a failed call's rate limit resets, from its `ratelimit-reset` header."""
    headers = getattr(exc.response, "headers", None) or {}
    reset = str(headers.get("ratelimit-reset", ""))
    return datetime.fromtimestamp(int(reset), tz=UTC) if reset.isdigit() else None


def wait_phrase(reset_at: datetime | None, clock: Clock) -> str:
    """Return "in N min" (or similar) until `reset_at`, for a message to agents."""
    if reset_at is None:
        return "in a few minutes"
    seconds = (reset_at - ensure_utc(clock())).total_seconds()
    if seconds <= 60:
        return "in a minute"
    return f"in {int(seconds // 60) + 1} min"
