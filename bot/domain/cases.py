"""The case as the rest of Carebot sees it: its status, priority and resolve reason (the one
definition of each enum; the ORM columns use them too), and `Case`, a plain frozen value read from
a row. Builders render from it and services hand it back, so neither needs the ORM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class CaseStatus(StrEnum):
    """Where a case stands: waiting for our reply, replied to, or closed."""

    OPEN = "open"
    REPLIED = "replied"
    RESOLVED = "resolved"


class Priority(StrEnum):
    """How fast the first response must come."""

    NORMAL = "normal"
    URGENT = "urgent"


class ResolveReason(StrEnum):
    """Why a case was closed, as offered by the Resolve modal; the value is what is stored."""

    PRAISE = "praise"
    SPAM = "spam"
    DUPLICATE = "duplicate"
    HANDLED_ELSEWHERE = "handled_elsewhere"
    OTHER = "other"

    @property
    def label(self) -> str:
        """Return the reason as people read it."""
        return _REASON_LABELS[self]

    @classmethod
    def parse(cls, raw: str | None) -> ResolveReason | None:
        """Return the reason a stored value names, or None when it names none."""
        try:
            return cls(raw) if raw else None
        except ValueError:
            return None

    @classmethod
    def describe(cls, raw: str | None) -> str | None:
        """Return the label for a stored reason value, or the raw text when it is not one."""
        if raw is None or not raw.strip():
            return None
        reason = cls.parse(raw)
        return reason.label if reason is not None else raw


_REASON_LABELS = {
    ResolveReason.PRAISE: "Praise",
    ResolveReason.SPAM: "Spam",
    ResolveReason.DUPLICATE: "Duplicate",
    ResolveReason.HANDLED_ELSEWHERE: "Handled elsewhere",
    ResolveReason.OTHER: "Other",
}


def describe_resolution(reason: str | None, note: str | None) -> str | None:
    """Return how a resolution reads: the reason's label, then the note (`Spam: bot account`)."""
    label = ResolveReason.describe(reason)
    note = note.strip() if note else None
    if label and note:
        return f"{label}: {note}"
    return label or note or None


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One customer conversation as it stands: what a card, a modal or a service needs of it.

    The defaults are those of a new row, so a value can be built by hand (tests, the demo)."""

    id: int
    network: str
    author_handle: str
    author_name: str
    text: str
    url: str
    posted_at: datetime
    external_id: str = ""
    conversation_id: str = ""
    author_id: str = ""
    author_followers: int | None = None
    author_verified: bool | None = None
    ingested_at: datetime | None = None
    priority: Priority = Priority.NORMAL
    status: CaseStatus = CaseStatus.OPEN
    message_count: int = 1
    last_customer_at: datetime | None = None
    owner: str | None = None
    claimed_at: datetime | None = None
    first_response_at: datetime | None = None
    first_responder: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolve_reason: ResolveReason | None = None
    resolve_note: str | None = None
    due_at: datetime | None = None
    breached_at: datetime | None = None
    nag_step: int = 0
    next_nag_at: datetime | None = None
    slack_channel: str | None = None
    card_ts: str | None = None
    card_version: int = 1  # bumped on every change the card shows
    content_removed: str | None = None
    # None: not read from the database, so buttons carry no version (see bot/blocks/codecs.py).
    state_version: int | None = None
