"""Migrations create exactly the models' schema, on SQLite and PostgreSQL, and run twice safely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import SessionFactory, create_engine
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Base, Case, CaseMessage, Event, Priority


def _case(**overrides: object) -> Case:
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    values: dict[str, object] = {
        "network": "x",
        "external_id": "1",
        "conversation_id": "1",
        "author_id": "42",
        "author_handle": "dana",
        "author_name": "Dana",
        "text": "@acme my order is late",
        "url": "https://x.com/dana/status/1",
        "posted_at": at,
        "ingested_at": at,
        "last_customer_at": at,
    }
    values.update(overrides)
    return Case(**values)


async def test_upgrade_reaches_head_and_matches_models(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []


async def test_second_upgrade_is_a_no_op(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with eng.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000
    finally:
        await eng.dispose()


async def test_datetimes_round_trip_as_aware_utc(sessions: SessionFactory) -> None:
    berlin = timezone(timedelta(hours=1))
    posted = datetime(2026, 11, 23, 11, 30, tzinfo=berlin)
    async with sessions() as s, s.begin():
        s.add(_case(posted_at=posted, priority=Priority.URGENT))
    async with sessions() as s:
        case = (await s.execute(select(Case))).scalar_one()
    assert case.posted_at == posted
    assert case.posted_at.tzinfo == UTC
    assert case.priority == Priority.URGENT
    assert case.card_version == 1
    assert case.nag_step == 0


async def test_naive_datetimes_are_refused(sessions: SessionFactory) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with sessions() as s, s.begin():
            s.add(_case(posted_at=datetime(2026, 11, 23, 10, 0)))  # noqa: DTZ001


async def test_network_external_id_is_unique(sessions: SessionFactory) -> None:
    async with sessions() as s, s.begin():
        s.add(_case())
    with pytest.raises(IntegrityError):
        async with sessions() as s, s.begin():
            s.add(_case(author_handle="someone-else"))


async def test_foreign_keys_are_enforced_and_cascade(sessions: SessionFactory) -> None:
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    with pytest.raises(IntegrityError):
        async with sessions() as s, s.begin():
            s.add(Event(case_id=999, at=at, actor="U1", kind="claimed", detail={}))
    async with sessions() as s, s.begin():
        case = _case()
        s.add(case)
        await s.flush()
        s.add(
            CaseMessage(
                case_id=case.id,
                network="x",
                external_id="1",
                author_id="42",
                text="t",
                url="u",
                posted_at=at,
            )
        )
        s.add(Event(case_id=case.id, at=at, actor="system", kind="ingested", detail={"n": 1}))
    async with sessions() as s, s.begin():
        await s.delete((await s.execute(select(Case))).scalar_one())
    async with sessions() as s:
        assert (await s.execute(select(CaseMessage))).first() is None
        assert (await s.execute(select(Event))).first() is None
