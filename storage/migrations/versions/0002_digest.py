"""Digests: an index for the oldest open cases and the once-per-day record of the daily digest.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the status/post-time index and the digest_runs table."""
    op.create_index("ix_cases_status_posted", "cases", ["status", "posted_at"], unique=False)
    op.create_table(
        "digest_runs",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_digest_runs")),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("digest_runs")
    op.drop_index("ix_cases_status_posted", table_name="cases")
