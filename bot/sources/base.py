"""The `Source` protocol and the network-neutral values that cross it.

Posting a reply has three outcomes on every network (ARCHITECTURE rule 9): *sent* (the network
gave an id), *refused* (it said no: certainly not posted, so the same text may be sent again) and
*unknown* (a timeout, a 5xx, a dropped connection once the request was out, a crash). An unknown
outcome is settled with `Source.find_reply`, and "not found" is only trusted once the network's
`SourceLimits.reply_visible_after` has passed since the attempt.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bot.errors import CarebotError, ConfigError, NetworkUnavailable, SourceError


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
    # Whether the post mentions or quotes the brand: X lets the brand reply only to those.
    summons: bool = True


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


class SendStatus(StrEnum):
    """What is known about a post once its request has been made."""

    SENT = "sent"
    REFUSED = "refused"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The outcome of one attempt to post a reply; `reason` is fit to show a support agent."""

    status: SendStatus
    reply: SentReply | None = None
    reason: str = ""


def send_outcome(error: BaseException) -> SendOutcome:
    """Classify what a failed `Source.reply` call means for the post: refused or unknown.

    A `NetworkUnavailable` is unknown unless the adapter knows the request never left
    (`may_have_posted=False`, e.g. connection refused); any other domain error is the network or
    Carebot saying no before anything was posted. Anything unexpected is unknown: it may have
    happened after the request was out.
    """
    if isinstance(error, NetworkUnavailable):
        status = SendStatus.UNKNOWN if error.may_have_posted else SendStatus.REFUSED
        return SendOutcome(status, reason=error.user_message)
    if isinstance(error, SourceError | ConfigError):
        return SendOutcome(SendStatus.REFUSED, reason=error.user_message)
    if isinstance(error, CarebotError):
        return SendOutcome(SendStatus.REFUSED, reason=error.user_message)
    return SendOutcome(SendStatus.UNKNOWN, reason="The network's answer was lost.")


@dataclass(frozen=True, slots=True)
class SourceLimits:
    """What a network allows: reply length (counted its way), how often we may poll, and how long
    after posting a reply it is certain to be visible to `Source.find_reply`."""

    reply_max: int
    measure: Callable[[str], int]
    min_poll_seconds: float = 15.0
    reply_visible_after: float = 30.0


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
        """Post `text` as a reply to the post `to_external_id`.

        Raise a domain error when it fails; `send_outcome` says whether it may have been posted.
        """

    async def find_reply(
        self, *, to_external_id: str, text: str, not_before: datetime
    ) -> SentReply | None:
        """Return the brand's own reply to `to_external_id` with `text`, posted since `not_before`.

        Used to settle a send whose outcome is unknown; `text` is compared as the network shows
        it (links shortened, entities escaped). Raise a domain error when the network cannot tell.
        """


# A reply as a network shows it may start with the @handles it answers (Mastodon's are added by
# the source itself, X adds its own), and networks fold white space their own way.
_LEADING_HANDLES = re.compile(r"^(?:[@\uff20][\w.@-]+\s+)+")


def reply_text_matches(shown: str, sent: str) -> bool:
    """Whether `shown` (a post's plain text on the network) is the reply sent as `sent`."""

    def comparable(text: str) -> str:
        text = _LEADING_HANDLES.sub("", unicodedata.normalize("NFC", text).strip())
        return " ".join(text.split())

    return comparable(shown) == comparable(sent)
