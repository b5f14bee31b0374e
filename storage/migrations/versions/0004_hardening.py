"""Hardening: unbounded network text on PostgreSQL, case state versions, thread lines that wait
for their card, and source health people can see (alerted, quarantined posts).

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, old length): text a network or a person wrote. SQLite never enforces VARCHAR
# lengths, so only PostgreSQL's columns change.
NETWORK_TEXT = [
    ("cases", "external_id", 64),
    ("cases", "conversation_id", 64),
    ("cases", "author_id", 64),
    ("cases", "author_handle", 100),
    ("cases", "author_name", 200),
    ("cases", "url", 500),
    ("cases", "resolve_reason", 300),
    ("case_messages", "external_id", 64),
    ("case_messages", "author_id", 64),
    ("case_messages", "url", 500),
    ("replies", "external_id", 64),
    ("replies", "url", 500),
    ("replies", "error", 500),
    ("source_cursors", "health_detail", 500),
]


def upgrade() -> None:
    """Widen network text, add the state version, the card_lines table and health columns."""
    if op.get_bind().dialect.name == "postgresql":
        for table, column, length in NETWORK_TEXT:
            op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(length))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("state_version", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
    with op.batch_alter_table("source_cursors") as batch:
        batch.add_column(
            sa.Column(
                "health_alerted", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
        batch.add_column(
            sa.Column("quarantined", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.add_column(sa.Column("quarantined_last", sa.Text(), nullable=True))
    op.create_table(
        "card_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_card_lines_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_lines")),
    )
    op.create_index("ix_card_lines_queue", "card_lines", ["posted_at", "id"], unique=False)
    op.create_index(op.f("ix_card_lines_case_id"), "card_lines", ["case_id"], unique=False)


def downgrade() -> None:
    """Undo what upgrade did."""
    op.drop_index(op.f("ix_card_lines_case_id"), table_name="card_lines")
    op.drop_index("ix_card_lines_queue", table_name="card_lines")
    op.drop_table("card_lines")
    with op.batch_alter_table("source_cursors") as batch:
        batch.drop_column("quarantined_last")
        batch.drop_column("quarantined")
        batch.drop_column("health_alerted")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("state_version")
    if op.get_bind().dialect.name == "postgresql":
        for table, column, length in NETWORK_TEXT:
            op.alter_column(table, column, type_=sa.String(length), existing_type=sa.Text())
