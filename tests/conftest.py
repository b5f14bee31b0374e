"""Shared fixtures: real databases (SQLite always; PostgreSQL when CAREBOT_TEST_POSTGRES_URL is
set) and a controllable clock."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.engine import SessionFactory, create_engine, session_factory
from storage.migrate import head_revision, upgrade


def run_apart(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` to the end on an event loop of its own thread, so it never meets
    pytest-asyncio's loop (set-up done before or outside any test)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result()


def _own_postgres(url: str | None) -> str | None:
    """Return the PostgreSQL test database this process may use: the configured one, or under
    pytest-xdist (`make unit` runs `-n 4`) a database of the worker's own beside it, created
    when missing, so workers never empty each other's tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url is None or worker is None:
        return url
    base, _, name = url.rpartition("/")
    own = f"{name}_{worker}"

    async def create() -> None:
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                exists = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own}
                )
                if not exists:
                    await conn.execute(text(f'CREATE DATABASE "{own}"'))
        finally:
            await admin.dispose()

    run_apart(create())
    return f"{base}/{own}"


POSTGRES_URL = _own_postgres(os.environ.get("CAREBOT_TEST_POSTGRES_URL"))
DB_KINDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]

# Tests that wait on real clocks (bot processes, outages, paced delivery, nag ladders): `make
# unit` leaves them out (`-m "not wallclock"`), `make test` runs them. One list, by node id
# prefix, so marking a test slow never touches the test itself.
WALLCLOCK = (
    "tests/e2e/test_delivery_failures.py",
    "tests/e2e/test_nags_e2e.py",
    "tests/e2e/test_demo.py",
    "tests/e2e/test_demo_cli.py",
    "tests/e2e/test_replicas.py",
    "tests/e2e/test_cli.py",
    "tests/e2e/test_cli_setup.py",
    "tests/e2e/test_health_and_startup.py",
    "tests/e2e/test_socket_mode.py",
    "tests/e2e/test_reply_crash.py",
    "tests/e2e/test_reply_faults.py",
    "tests/e2e/test_reply_replicas.py",
    "tests/e2e/test_compliance_e2e.py",
    "tests/e2e/test_cost_e2e.py",
    "tests/e2e/test_mentions_to_cards.py::test_25_mentions_make_exactly_25_cards",
    "tests/sandbox/test_sandbox_server.py",
    "tests/browser/",
    "tests/test_gc_tuning.py",
    # Each waits out a real backoff, pacing or poll interval (5-30 s) to prove a recovery.
    "tests/e2e/test_slack_failures.py::test_the_bot_taken_out_of_its_channel_alerts_once",
    "tests/e2e/test_slack_failures.py::test_history_out_of_scope_holds_only_the_card_in_doubt",
    "tests/e2e/test_changes_reach_slack.py::test_a_claim_on_a_card_not_yet_recorded_reaches",
    "tests/e2e/test_networks_e2e.py",
    "tests/e2e/test_restart.py",
    "tests/sources/test_mastodon_source.py::test_a_large_backlog_is_read_forward_across_polls",
    "tests/test_bench_smoke.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the wall-clock tests."""
    for item in items:
        if item.nodeid.startswith(WALLCLOCK):
            item.add_marker(pytest.mark.wallclock)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        """Move time forward by a timedelta's keyword arguments."""
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def reset_postgres(url: str) -> None:
    """Drop everything in the test database's public schema."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def database_url(kind: str, tmp_path: Path) -> str:
    """Return a URL for an empty database of `kind`."""
    if kind == "postgres":
        assert POSTGRES_URL is not None
        return POSTGRES_URL
    return f"sqlite+aiosqlite:///{tmp_path / 'carebot-test.db'}"


@pytest.fixture(params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    """Each database kind under test."""
    kind: str = request.param
    return kind


@pytest.fixture
async def db_url(db_kind: str, tmp_path: Path) -> str:
    """An empty database URL, once per database kind under test."""
    if db_kind == "postgres":
        assert POSTGRES_URL is not None
        await reset_postgres(POSTGRES_URL)
    return database_url(db_kind, tmp_path)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once a session, which `engine` copies for each test."""
    path = tmp_path_factory.mktemp("migrated") / "carebot-template.db"

    async def migrate() -> None:
        eng = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(eng)
        await eng.dispose()

    run_apart(migrate())
    return path


async def empty_migrated_postgres(url: str) -> None:
    """Leave the PostgreSQL test database migrated to head and empty: its tables are truncated
    when it already is at head (a migration each test would cost more than the test), and it is
    rebuilt from nothing otherwise."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            at = await conn.scalar(text("SELECT to_regclass('public.alembic_version')::text"))
            version = (
                await conn.scalar(text("SELECT version_num FROM alembic_version"))
                if at is not None
                else None
            )
            if version == head_revision():
                tables = (
                    await conn.scalars(
                        text(
                            "SELECT quote_ident(tablename) FROM pg_tables "
                            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                        )
                    )
                ).all()
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                return
    finally:
        await engine.dispose()
    await reset_postgres(url)
    migrated = create_engine(url)
    await upgrade(migrated)
    await migrated.dispose()


@pytest.fixture
async def engine(db_kind: str, tmp_path: Path, migrated_sqlite: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty engine on each database kind."""
    if db_kind == "postgres":
        assert POSTGRES_URL is not None
        await empty_migrated_postgres(POSTGRES_URL)
        eng = create_engine(POSTGRES_URL)
    else:
        path = tmp_path / "carebot-test.db"
        shutil.copyfile(migrated_sqlite, path)
        eng = create_engine(f"sqlite+aiosqlite:///{path}")
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return session_factory(engine)
