"""X's rules and costs: which posts summon the brand, content compliance (purged text, thread
echoes to redraw, edits, checks) and the per-month usage of each network's API.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the compliance columns, the usage table and the budget notices."""
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("content_removed", sa.String(length=16), nullable=True))
    with op.batch_alter_table("case_messages") as batch:
        batch.add_column(
            sa.Column("summons", sa.Boolean(), server_default=sa.text("true"), nullable=False)
        )
        batch.add_column(sa.Column("thread_ts", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("removed", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("thread_dirty", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch.add_column(sa.Column("edited_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("checked_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_case_messages_checked", "case_messages", ["network", "checked_at"], unique=False
    )
    op.create_index(
        "ix_case_messages_thread_dirty", "case_messages", ["thread_dirty"], unique=False
    )
    op.create_table(
        "network_usage",
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("calls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("items", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("network", "month", "kind", name=op.f("pk_network_usage")),
    )
    op.create_table(
        "budget_notices",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("month", "level", name=op.f("pk_budget_notices")),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("budget_notices")
    op.drop_table("network_usage")
    op.drop_index("ix_case_messages_thread_dirty", table_name="case_messages")
    op.drop_index("ix_case_messages_checked", table_name="case_messages")
    with op.batch_alter_table("case_messages") as batch:
        for column in (
            "checked_at",
            "edited_at",
            "thread_dirty",
            "removed",
            "thread_ts",
            "summons",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("content_removed")
