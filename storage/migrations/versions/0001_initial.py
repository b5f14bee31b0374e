"""Initial schema: cases, case messages, replies, events, source cursors, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=False),
        sa.Column("author_handle", sa.String(length=100), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("author_followers", sa.Integer(), nullable=True),
        sa.Column("author_verified", sa.Boolean(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("last_customer_at", UTCDateTime(), nullable=False),
        sa.Column("owner", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("first_responder", sa.String(length=32), nullable=True),
        sa.Column("last_response_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=32), nullable=True),
        sa.Column("resolve_reason", sa.String(length=300), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("breached_at", UTCDateTime(), nullable=True),
        sa.Column("nag_step", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_nag_at", UTCDateTime(), nullable=True),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("card_ts", sa.String(length=32), nullable=True),
        sa.Column("card_state", sa.String(length=16), nullable=False),
        sa.Column("card_attempted_at", UTCDateTime(), nullable=True),
        sa.Column("card_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("card_dirty_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("network", "external_id", name="uq_cases_network_external_id"),
    )
    op.create_index("ix_cases_card_dirty", "cases", ["card_dirty_at"], unique=False)
    op.create_index(
        "ix_cases_card_queue", "cases", ["card_state", "priority", "posted_at"], unique=False
    )
    op.create_index(
        "ix_cases_conversation", "cases", ["network", "conversation_id", "author_id"], unique=False
    )
    op.create_index("ix_cases_ingested_at", "cases", ["ingested_at"], unique=False)
    op.create_index("ix_cases_next_nag", "cases", ["next_nag_at"], unique=False)
    op.create_index("ix_cases_owner_status", "cases", ["owner", "status"], unique=False)
    op.create_index("ix_cases_posted_at", "cases", ["posted_at"], unique=False)
    op.create_index("ix_cases_status_due", "cases", ["status", "due_at"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "source_cursors",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("health", sa.String(length=16), server_default=sa.text("'ok'"), nullable=False),
        sa.Column("health_detail", sa.String(length=500), nullable=True),
        sa.Column("health_since", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_cursors")),
    )
    op.create_table(
        "case_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("is_follow_up", sa.Boolean(), nullable=False),
        sa.Column("thread_posted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_messages_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_messages")),
        sa.UniqueConstraint("network", "external_id", name="uq_case_messages_network_external_id"),
    )
    op.create_index(op.f("ix_case_messages_case_id"), "case_messages", ["case_id"], unique=False)
    op.create_index(
        "ix_case_messages_thread_queue", "case_messages", ["thread_posted", "case_id"], unique=False
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_events_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_at", "events", ["at"], unique=False)
    op.create_index("ix_events_case_at", "events", ["case_id", "at"], unique=False)
    op.create_table(
        "replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("author", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_replies_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replies")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_replies_idempotency_key")),
    )
    op.create_index(op.f("ix_replies_case_id"), "replies", ["case_id"], unique=False)


def downgrade() -> None:
    """Drop everything."""
    op.drop_index(op.f("ix_replies_case_id"), table_name="replies")
    op.drop_table("replies")
    op.drop_index("ix_events_case_at", table_name="events")
    op.drop_index("ix_events_at", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_case_messages_thread_queue", table_name="case_messages")
    op.drop_index(op.f("ix_case_messages_case_id"), table_name="case_messages")
    op.drop_table("case_messages")
    op.drop_table("source_cursors")
    op.drop_table("leases")
    op.drop_index("ix_cases_status_due", table_name="cases")
    op.drop_index("ix_cases_posted_at", table_name="cases")
    op.drop_index("ix_cases_owner_status", table_name="cases")
    op.drop_index("ix_cases_next_nag", table_name="cases")
    op.drop_index("ix_cases_ingested_at", table_name="cases")
    op.drop_index("ix_cases_conversation", table_name="cases")
    op.drop_index("ix_cases_card_queue", table_name="cases")
    op.drop_index("ix_cases_card_dirty", table_name="cases")
    op.drop_table("cases")
