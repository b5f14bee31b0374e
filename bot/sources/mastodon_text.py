"""Mastodon's text, times and errors as Carebot reads them: status HTML turned into the plain
text a person reads, lengths counted as the instance counts them (each link as
`characters_reserved_per_url`, a mention as its local part), and the times and error reasons
Mastodon.py hands back. Pure functions, no client.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Final

from mastodon.errors import MastodonError

__all__ = [
    "DEFAULT_URL_LENGTH",
    "as_utc",
    "epoch",
    "error_reason",
    "html_to_text",
    "mastodon_length",
]

DEFAULT_URL_LENGTH: Final = 23
_URL = re.compile(r"https?://[^\s<>\"]+")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]+)@[A-Za-z0-9.-]+\w")


def mastodon_length(text: str, *, url_length: int = DEFAULT_URL_LENGTH) -> int:
    """Return the length of `text` as Mastodon counts it (links fixed, mentions by local part)."""
    counted = _URL.sub("x" * url_length, text)
    return len(_MENTION.sub(lambda m: "@" + m.group(1), counted))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """Return Mastodon's HTML `content` as the plain text a person reads."""
    parser = _Text()
    parser.feed(content or "")
    parser.close()
    return html.unescape("".join(parser.parts)).strip()


def as_utc(value: Any) -> datetime | None:
    """Return a Mastodon time (a datetime or an ISO string) as aware UTC, or None."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return None
    return None


def epoch(value: Any) -> datetime | None:
    """Return a Unix time (as Mastodon.py keeps `ratelimit_reset`) as aware UTC, or None."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def error_reason(exc: MastodonError) -> str:
    """Return the reason Mastodon gave for a failed call, as one sentence."""
    args = [str(a) for a in exc.args if isinstance(a, str) and a]
    return (args[-1] if args else "no reason given").rstrip(".") + "."
