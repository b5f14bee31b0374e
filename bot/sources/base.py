"""The `Source` protocol and the network-neutral values that cross it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a post, as the network describes them."""

    external_id: str
    handle: str
    name: str
    followers: int | None = None
    verified: bool | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    """One post that mentions the brand, normalised across networks."""

    network: str
    external_id: str
    conversation_id: str
    author: Author
    text: str
    url: str
    posted_at: datetime  # aware UTC, the network's own timestamp
    in_reply_to_id: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A post that could not be read or stored: quarantined (skipped, counted, logged once)."""

    external_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class FetchResult:
    """New mentions, oldest first, and the cursor to save once they are stored.

    `rejected` lists posts the adapter could not read; the cursor already moves past them.
    """

    mentions: list[Mention]
    cursor: str | None  # None: nothing new, keep the old cursor
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SentReply:
    """A reply the network accepted."""

    external_id: str
    url: str


@dataclass(frozen=True, slots=True)
class SourceLimits:
    """What a network allows: reply length (counted its way) and how often we may poll."""

    reply_max: int
    measure: Callable[[str], int]
    min_poll_seconds: float = 15.0


class Source(Protocol):
    """A social network Carebot can read mentions from and reply on."""

    network: str
    limits: SourceLimits

    async def start(self) -> None:
        """Open connections; must be called inside the running event loop."""

    async def close(self) -> None:
        """Close connections."""

    async def whoami(self) -> Author:
        """Return the brand account these credentials act as (NetworkAuthError if rejected)."""

    async def fetch_since(self, cursor: str | None, *, not_before: datetime) -> FetchResult:
        """Return mentions newer than `cursor` (with no cursor: posted after `not_before`)."""

    async def reply(self, *, to_external_id: str, text: str) -> SentReply:
        """Post `text` as a reply to the post `to_external_id`."""
