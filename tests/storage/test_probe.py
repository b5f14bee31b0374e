"""storage.probe tells in plain words whether a database is usable: reachable, writable (proved
with a write that is rolled back), and at which migration; it leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.sandbox.stack import free_port
from storage.engine import create_engine
from storage.migrate import head_revision, upgrade
from storage.probe import DatabaseUnusable, open_migrated, probe
from tests.conftest import POSTGRES_URL, reset_postgres


async def test_an_empty_sqlite_database_is_usable_and_the_probe_leaves_no_file(
    tmp_path: Path,
) -> None:
    status = await probe(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    assert (status.revision, status.migrated) == (None, False)
    assert "empty (`carebot run` migrates it)" in status.describe()
    assert not (tmp_path / "new.db").exists()
    assert not (tmp_path / "new.db-wal").exists()


async def test_a_migrated_database_says_so(db_url: str) -> None:
    engine, revision = await open_migrated(db_url)
    await engine.dispose()
    assert revision == head_revision()
    status = await probe(db_url)
    assert status.migrated
    assert f"migrated (revision {head_revision()})" in status.describe()


async def test_a_read_only_sqlite_database_is_refused_in_words(tmp_path: Path) -> None:
    path = tmp_path / "carebot.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()
    read_only = f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    with pytest.raises(DatabaseUnusable, match="is read-only; Carebot must write to it"):
        await probe(read_only)


async def test_a_sqlite_file_in_a_missing_folder_is_refused_in_words(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'carebot.db'}"
    with pytest.raises(DatabaseUnusable, match="does not exist or Carebot may not write there"):
        await probe(url)
    with pytest.raises(DatabaseUnusable):
        await open_migrated(url)


async def test_nothing_listening_is_refused_in_words() -> None:
    url = f"postgresql+asyncpg://carebot:secret-pw@127.0.0.1:{free_port()}/carebot"
    with pytest.raises(DatabaseUnusable) as info:
        await probe(url)
    message = str(info.value)
    assert "nothing accepts connections" in message
    assert "secret-pw" not in message


async def test_a_database_migrated_by_a_newer_carebot_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'carebot.db'}"
    engine, _ = await open_migrated(url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    await engine.dispose()
    with pytest.raises(DatabaseUnusable, match="revision 9999, which this Carebot does not know"):
        await probe(url)


@pytest.mark.skipif(POSTGRES_URL is None, reason="CAREBOT_TEST_POSTGRES_URL is not set")
async def test_a_missing_postgresql_database_is_named() -> None:
    assert POSTGRES_URL is not None
    await reset_postgres(POSTGRES_URL)
    missing = POSTGRES_URL.rsplit("/", 1)[0] + "/carebot_no_such_database"
    with pytest.raises(
        DatabaseUnusable, match='database "carebot_no_such_database" does not exist'
    ):
        await probe(missing)
