"""The schema as typed SQLAlchemy 2 models: cases, their messages, replies, the event log, source
cursors, saved network logins, leases and the daily digest's once-per-day record. Relationships
never lazy-load (`lazy="raise"`); load them explicitly."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The domain's enums, re-exported: the columns and the queries name them from here too.
from bot.domain.cases import CaseStatus as CaseStatus
from bot.domain.cases import Priority as Priority
from bot.domain.cases import ResolveReason
from storage.types import UTCDateTime, network_text

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints predictably."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class CardState(StrEnum):
    """Delivery of the case's Slack card: not yet posted, a post attempted (maybe done), posted."""

    PENDING = "pending"
    POSTING = "posting"
    POSTED = "posted"
    # Slack refused this card for good (e.g. invalid_blocks): counted and logged, not retried.
    REFUSED = "refused"


class ReplyState(StrEnum):
    """A reply's life: recorded before sending (pending), then sent, failed (certainly not
    posted: refused, or not found once the network shows everything it posted) or unknown (the
    network's answer was lost; it is looked for before anything is sent again)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Case(Base):
    """One customer conversation on a network: a row here and a card in Slack."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("network", "external_id", name="uq_cases_network_external_id"),
        Index("ix_cases_conversation", "network", "conversation_id", "author_id"),
        Index("ix_cases_card_queue", "card_state", "priority", "posted_at"),
        Index("ix_cases_status_due", "status", "due_at"),
        Index("ix_cases_next_nag", "next_nag_at"),
        Index("ix_cases_owner_status", "owner", "status"),
        Index("ix_cases_ingested_at", "ingested_at"),
        Index("ix_cases_card_dirty", "card_dirty_at"),
        Index("ix_cases_posted_at", "posted_at"),
        # The digest's oldest open cases: open rows in post order without scanning closed ones.
        Index("ix_cases_status_posted", "status", "posted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(16))
    # Network text (ids too: a Bluesky post's at:// URI is longer than 64) is unbounded.
    external_id: Mapped[str] = mapped_column(network_text(64))
    conversation_id: Mapped[str] = mapped_column(network_text(64))
    author_id: Mapped[str] = mapped_column(network_text(64))
    author_handle: Mapped[str] = mapped_column(network_text(100))
    author_name: Mapped[str] = mapped_column(network_text(200))
    author_followers: Mapped[int | None] = mapped_column(Integer)
    author_verified: Mapped[bool | None] = mapped_column(Boolean)
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(network_text(500))
    posted_at: Mapped[datetime]
    ingested_at: Mapped[datetime]
    priority: Mapped[Priority] = mapped_column(String(16), default=Priority.NORMAL)
    status: Mapped[CaseStatus] = mapped_column(String(16), default=CaseStatus.OPEN)
    message_count: Mapped[int] = mapped_column(Integer, default=1)
    last_customer_at: Mapped[datetime]
    owner: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    first_responder: Mapped[str | None] = mapped_column(String(32))
    last_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    # A ResolveReason value; what the agent wrote goes in `resolve_note` (migration 0007).
    resolve_reason: Mapped[ResolveReason | None] = mapped_column(network_text(300))
    resolve_note: Mapped[str | None] = mapped_column(network_text(300))
    due_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    nag_step: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    next_nag_at: Mapped[datetime | None]
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    card_state: Mapped[CardState] = mapped_column(String(16), default=CardState.PENDING)
    card_attempted_at: Mapped[datetime | None]
    # Bumped on every change the card shows; `card_dirty_at` is set until that version is rendered.
    card_version: Mapped[int] = mapped_column(Integer, default=1, server_default=sql_text("1"))
    card_dirty_at: Mapped[datetime | None]
    # Why the customer's text is gone (deleted, protected, suspended, withheld, retention,
    # forgotten); the row and its figures stay.
    content_removed: Mapped[str | None] = mapped_column(String(16))
    # Bumped on every change of owner or status: buttons carry it, so a replayed or stale press
    # (a Resolve drawn before a reopen) is recognised and changes nothing.
    state_version: Mapped[int] = mapped_column(Integer, default=1, server_default=sql_text("1"))

    # The database cascades deletes; the ORM must not try to load or null out children.
    messages: Mapped[list[CaseMessage]] = relationship(
        back_populates="case",
        lazy="raise",
        order_by="CaseMessage.posted_at",
        passive_deletes="all",
    )
    replies: Mapped[list[Reply]] = relationship(
        back_populates="case", lazy="raise", passive_deletes="all"
    )


class CaseMessage(Base):
    """A customer post in a case: the first mention and every follow-up."""

    __tablename__ = "case_messages"
    __table_args__ = (
        UniqueConstraint("network", "external_id", name="uq_case_messages_network_external_id"),
        Index("ix_case_messages_thread_queue", "thread_posted", "case_id"),
        Index("ix_case_messages_checked", "network", "checked_at"),
        Index("ix_case_messages_thread_dirty", "thread_dirty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    network: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(network_text(64))
    author_id: Mapped[str] = mapped_column(network_text(64))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(network_text(500))
    posted_at: Mapped[datetime]
    is_follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    # Follow-ups are echoed in the card's thread; the first mention is the card itself.
    thread_posted: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether the post mentions or quotes the brand (on X, the only posts it may reply to).
    summons: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sql_text("true"))
    thread_ts: Mapped[str | None] = mapped_column(String(32))  # the echo in the card's thread
    # Why the text was purged (see Case.content_removed); a thread echo to redraw without it.
    removed: Mapped[str | None] = mapped_column(String(16))
    thread_dirty: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    edited_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]  # last compared with the network (content compliance)

    case: Mapped[Case] = relationship(back_populates="messages", lazy="raise")


class Reply(Base):
    """A reply an agent sent (or tried to send) on the network; recorded before it is sent.

    `created_at` is when the latest attempt began. What the agent and the card's thread must
    still be told about it is state here too (`thread_due`, `notice`), so it survives a crash.
    """

    __tablename__ = "replies"
    __table_args__ = (
        Index("ix_replies_unsettled", "state", "created_at"),
        Index("ix_replies_to_announce", "thread_due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    author: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[ReplyState] = mapped_column(String(16), default=ReplyState.PENDING)
    external_id: Mapped[str | None] = mapped_column(network_text(64))
    url: Mapped[str | None] = mapped_column(network_text(500))
    error: Mapped[str | None] = mapped_column(network_text(500))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # The post the reply answers, so a crashed send can be looked for on the network.
    target_id: Mapped[str | None] = mapped_column(String(64))
    resolve_after: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    # The modal the agent sent it from, updated with the outcome while it is still open.
    view_id: Mapped[str | None] = mapped_column(String(64))
    # The outcome still has to be said in the card's thread.
    thread_due: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    # A direct message still owed to the agent (the outcome, and the text if it did not go out).
    notice: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="replies", lazy="raise")


class Event(Base):
    """Append-only log of who did what to which case, and when."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_case_at", "case_id", "at"), Index("ix_events_at", "at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SourceCursor(Base):
    """Where each source left off, and its health (so alerts are posted once across replicas)."""

    __tablename__ = "source_cursors"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    health: Mapped[str] = mapped_column(String(16), default="ok", server_default=sql_text("'ok'"))
    health_detail: Mapped[str | None] = mapped_column(network_text(500))
    health_since: Mapped[datetime | None]
    # Whether the channel was told of the current failure (so it is told once, and told of the
    # recovery only if it heard of the failure).
    health_alerted: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    # Posts skipped because they could not be read or stored, and the latest of them.
    quarantined: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    quarantined_last: Mapped[str | None] = mapped_column(Text)


class CardLine(Base):
    """A line for a card's thread (claimed, replied, released…), kept until it is in Slack, so a
    line for a card not yet posted, or said while Slack is down, is delivered later, not lost."""

    __tablename__ = "card_lines"
    __table_args__ = (Index("ix_card_lines_queue", "posted_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    posted_at: Mapped[datetime | None]


class Lease(Base):
    """A named, expiring lock held by one process; how periodic jobs stay single across replicas."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class DigestRun(Base):
    """One row per day whose daily digest was claimed: how it is posted once across replicas."""

    __tablename__ = "digest_runs"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime]
    posted_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))


class NetworkUsage(Base):
    """Calls made to a network's API per month and kind, and the items they read: what it costs."""

    __tablename__ = "network_usage"

    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, UTC
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    items: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))


class BudgetNotice(Base):
    """One row per month and budget level whose notice was posted: how it is said once."""

    __tablename__ = "budget_notices"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[datetime]


class SourceSession(Base):
    """A network's saved login (e.g. Bluesky's session tokens), so a restart reuses it."""

    __tablename__ = "source_sessions"

    network: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
