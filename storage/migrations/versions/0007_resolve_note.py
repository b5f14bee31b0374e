"""Resolve notes: the reason a case was closed is stored as its ResolveReason value alone, and what
the agent wrote goes in its own `resolve_note` column, so digests can group cases by reason.

Before this, the Resolve modal stored `"<label>: <note>"` (or the label alone, or the note alone)
in `resolve_reason`; upgrade splits those back, downgrade joins them again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The reasons as of this revision (value, label), frozen here so a later rename of the enum
# does not change what this migration did.
REASONS = (
    ("praise", "Praise"),
    ("spam", "Spam"),
    ("duplicate", "Duplicate"),
    ("handled_elsewhere", "Handled elsewhere"),
    ("other", "Other"),
)
_VALUES = {value for value, _ in REASONS}
_LABELS = dict(REASONS)

cases = sa.table(
    "cases",
    sa.column("id", sa.Integer()),
    sa.column("resolve_reason", sa.Text()),
    sa.column("resolve_note", sa.Text()),
)


def split_reason(stored: str) -> tuple[str | None, str | None]:
    """Return (reason value, note) for what an older Carebot stored in `resolve_reason`."""
    text = stored.strip()
    if text in _VALUES:
        return text, None
    for value, label in REASONS:
        if text == label:
            return value, None
        if text.startswith(f"{label}:"):
            return value, text[len(label) + 1 :].strip() or None
    return None, text or None  # a note with no reason (or text no Carebot wrote)


def join_reason(reason: str | None, note: str | None) -> str | None:
    """Return the single text an older Carebot would have stored for (reason, note)."""
    label = _LABELS.get(reason or "", reason)
    if label and note:
        return f"{label}: {note}"
    return label or note


def upgrade() -> None:
    """Add `resolve_note` and split every stored `"<label>: <note>"` into reason and note."""
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column(
                "resolve_note",
                sa.String(length=300).with_variant(sa.Text(), "postgresql"),
                nullable=True,
            )
        )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(cases.c.id, cases.c.resolve_reason).where(
            cases.c.resolve_reason.is_not(None), cases.c.resolve_reason.not_in(sorted(_VALUES))
        )
    ).all()
    for case_id, stored in rows:
        reason, note = split_reason(stored)
        bind.execute(
            sa.update(cases)
            .where(cases.c.id == case_id)
            .values(resolve_reason=reason, resolve_note=note)
        )


def downgrade() -> None:
    """Join reason and note back into `resolve_reason` and drop `resolve_note`."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(cases.c.id, cases.c.resolve_reason, cases.c.resolve_note).where(
            sa.or_(cases.c.resolve_reason.is_not(None), cases.c.resolve_note.is_not(None))
        )
    ).all()
    for case_id, reason, note in rows:
        bind.execute(
            sa.update(cases)
            .where(cases.c.id == case_id)
            .values(resolve_reason=join_reason(reason, note))
        )
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("resolve_note")
