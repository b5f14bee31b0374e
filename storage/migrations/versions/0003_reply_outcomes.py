"""Reply outcomes: what a crashed or unanswered send needs to be settled and announced later.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the reply's target, modal, announcement columns and the indexes the jobs walk."""
    with op.batch_alter_table("replies") as batch:
        batch.add_column(sa.Column("target_id", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("resolve_after", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("view_id", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("thread_due", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("notice", sa.Text(), nullable=True))
    op.create_index("ix_replies_unsettled", "replies", ["state", "created_at"], unique=False)
    op.create_index("ix_replies_to_announce", "replies", ["thread_due"], unique=False)


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_index("ix_replies_to_announce", table_name="replies")
    op.drop_index("ix_replies_unsettled", table_name="replies")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("notice")
        batch.drop_column("thread_due")
        batch.drop_column("view_id")
        batch.drop_column("resolve_after")
        batch.drop_column("target_id")
