"""Networks: saved logins of the sources that have sessions (Bluesky), reused across restarts.

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the source_sessions table."""
    op.create_table(
        "source_sessions",
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("network", name=op.f("pk_source_sessions")),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("source_sessions")
