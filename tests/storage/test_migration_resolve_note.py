"""Migration 0007 splits the old `"<label>: <note>"` resolve reasons into a reason value and a note,
on SQLite and PostgreSQL, and downgrade joins them back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.migrate import alembic_config, upgrade

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC).replace(tzinfo=None)

# What an older Carebot stored in `resolve_reason`, and what 0007 must make of it.
OLD_SHAPES = [
    ("Spam: bot account, 3rd time", "spam", "bot account, 3rd time"),
    ("Handled elsewhere: answered by email", "handled_elsewhere", "answered by email"),
    ("Praise", "praise", None),
    ("duplicate", "duplicate", None),
    ("customer says thanks", None, "customer says thanks"),
    ("Other: ", "other", None),
    (None, None, None),
]


@pytest.fixture
async def at_0006(db_url: str) -> AsyncEngine:
    eng = create_engine(db_url)
    await upgrade(eng, "0006")
    return eng


async def _insert_old_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for n, (stored, _, _) in enumerate(OLD_SHAPES, start=1):
            await conn.execute(
                text(
                    "INSERT INTO cases (id, network, external_id, conversation_id, author_id,"
                    " author_handle, author_name, text, url, posted_at, ingested_at, priority,"
                    " status, message_count, last_customer_at, resolve_reason, card_state)"
                    " VALUES (:id, 'x', :ext, :ext, '42', 'dana', 'Dana', 'hi', 'https://x.com',"
                    " :at, :at, 'normal', 'resolved', 1, :at, :reason, 'posted')"
                ),
                {"id": n, "ext": str(n), "at": AT, "reason": stored},
            )


async def _rows(engine: AsyncEngine, columns: str) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        result = await conn.execute(text(f"SELECT {columns} FROM cases ORDER BY id"))
        return [tuple(row) for row in result]


async def test_upgrade_splits_old_reasons_into_value_and_note(at_0006: AsyncEngine) -> None:
    try:
        await _insert_old_rows(at_0006)
        await upgrade(at_0006)
        rows = await _rows(at_0006, "resolve_reason, resolve_note")
        assert rows == [(reason, note) for _, reason, note in OLD_SHAPES]
    finally:
        await at_0006.dispose()


async def test_downgrade_joins_reason_and_note_back(at_0006: AsyncEngine) -> None:
    try:
        await _insert_old_rows(at_0006)
        await upgrade(at_0006)
        async with at_0006.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0006"))
        rows = await _rows(at_0006, "resolve_reason")
        # The label form comes back for every reason (a bare value as stored is read as a label).
        assert rows == [
            ("Spam: bot account, 3rd time",),
            ("Handled elsewhere: answered by email",),
            ("Praise",),
            ("Duplicate",),
            ("customer says thanks",),
            ("Other",),
            (None,),
        ]
    finally:
        await at_0006.dispose()


def test_the_migration_knows_every_reason_there_is() -> None:
    """A new ResolveReason needs a migration of its own; this one's list is frozen."""
    import importlib.util

    from bot.domain import ResolveReason

    path = Path(__file__).parents[2] / "storage/migrations/versions/0007_resolve_note.py"
    spec = importlib.util.spec_from_file_location("m0007", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert dict(module.REASONS) == {r.value: r.label for r in ResolveReason}
