"""Is the database usable? Reachable, writable, and at which migration, told in plain words.

`carebot run`, `carebot migrate` and `carebot check` all go through here, so an unreachable
server, a wrong password, a missing database or a read-only SQLite file reads the same from each
of them, instead of a driver's traceback.
"""

from __future__ import annotations

import asyncio
import os
import socket
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.migrate import alembic_config, current_revision, head_revision, upgrade

# A database that has not answered in this long is reported as unreachable.
PROBE_TIMEOUT_SECONDS = 10.0


class DatabaseUnusable(Exception):
    """The database cannot be used; the message says why, without the password."""


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """What a probe found: where the database is, and its migration against the code's."""

    where: str
    revision: str | None
    head: str | None

    @property
    def migrated(self) -> bool:
        """Tell whether the database is at the newest revision the code ships."""
        return self.revision == self.head

    def describe(self) -> str:
        """Return the status in words, for `carebot check` and /healthz."""
        if self.migrated:
            return f"{self.where} is reachable, writable and migrated (revision {self.revision})"
        if self.revision is None:
            return f"{self.where} is reachable and writable; empty (`carebot run` migrates it)"
        return (
            f"{self.where} is reachable and writable, at revision {self.revision}; "
            f"`carebot run` migrates it to {self.head}"
        )


def describe_url(url: str) -> str:
    """Return where `url` points, as people say it (never with the password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite database {parsed.database or '(in memory)'}"
    port = f":{parsed.port}" if parsed.port else ""
    return f"PostgreSQL database '{parsed.database}' at {parsed.host}{port}"


def explain(exc: BaseException, url: str) -> str:
    """Return what a connection or write failure means, in plain words."""
    parsed = make_url(url)
    where = describe_url(url)
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if parsed.get_backend_name() == "sqlite":
        if "readonly" in detail or "read-only" in detail:
            return f"{where} is read-only; Carebot must write to it (and to its folder)"
        if "unable to open" in detail:
            folder = Path(parsed.database or ".").parent
            return (
                f"cannot open {where}: its folder ({folder}) does not exist or Carebot may not "
                "write there"
            )
        return f"{where} cannot be used: {detail}"
    if isinstance(cause, socket.gaierror):
        return f"cannot find the database host '{parsed.host}' (the name does not resolve)"
    if isinstance(cause, ConnectionRefusedError):
        return f"nothing accepts connections for the {where} (is PostgreSQL running there?)"
    if isinstance(cause, TimeoutError):
        return f"the {where} did not answer within {PROBE_TIMEOUT_SECONDS:.0f}s"
    if isinstance(cause, OSError):
        return f"cannot reach the {where}: {detail}"
    if "permission denied" in detail:
        return f"the {where} refused to let Carebot write: {detail}"
    return f"the {where} refused the connection: {detail}"


async def probe(url: str) -> DatabaseStatus:
    """Connect to `url`, prove a write would succeed (rolled back), and read the migration.

    Nothing is left behind: a SQLite file this probe had to create is removed again.
    """
    parsed = make_url(url)
    new_file = _sqlite_file(parsed)
    _require_folder(new_file, url)
    created = new_file is not None and not new_file.exists()
    engine = create_engine(url)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            revision = await _write_and_read_revision(engine)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise DatabaseUnusable(explain(exc, url)) from exc
    finally:
        await engine.dispose()
        if created and new_file is not None:
            _remove_sqlite_files(new_file)
    head = head_revision()
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    if revision is not None and revision not in known:
        raise DatabaseUnusable(
            f"the {describe_url(url)} is at revision {revision}, which this Carebot does not "
            "know (was it migrated by a newer version?)"
        )
    return DatabaseStatus(where=describe_url(url), revision=revision, head=head)


async def usable_engine(url: str) -> AsyncEngine:
    """Return an engine for `url` after one query proved it reachable (DatabaseUnusable if not)."""
    _require_folder(_sqlite_file(make_url(url)), url)
    engine = create_engine(url)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        await engine.dispose()
        raise DatabaseUnusable(explain(exc, url)) from exc
    return engine


async def ping(engine: AsyncEngine, *, timeout: float = 2.0) -> None:  # noqa: ASYNC109
    """Run one trivial query (DatabaseUnusable, in words, if it fails or takes over `timeout`)."""
    try:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise DatabaseUnusable(
            explain(exc, engine.url.render_as_string(hide_password=False))
        ) from exc


async def _write_and_read_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        # One transaction, always rolled back: a migrated database must take row writes; an
        # empty one must let the first migration create tables.
        transaction = await conn.begin()
        try:
            has_version = await conn.run_sync(
                lambda sync: inspect(sync).has_table("alembic_version")
            )
            revision = None
            if has_version:
                found = await conn.execute(text("SELECT version_num FROM alembic_version"))
                revision = found.scalar()
                await conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
            else:
                await conn.execute(text("CREATE TABLE carebot_write_probe (id INTEGER)"))
        finally:
            await transaction.rollback()
        return str(revision) if revision is not None else None


async def open_migrated(url: str) -> tuple[AsyncEngine, str | None]:
    """Open `url`, migrate it to the newest revision and return the engine and that revision.

    Raises DatabaseUnusable, in words, when the database cannot be reached or written.
    """
    engine = await usable_engine(url)
    try:
        await upgrade(engine)
        return engine, await current_revision(engine)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        await engine.dispose()
        raise DatabaseUnusable(explain(exc, url)) from exc


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database)


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with suppress(OSError):  # never made (e.g. the folder is missing): nothing to remove
            Path(f"{path}{suffix}").unlink()


def _require_folder(path: Path | None, url: str) -> None:
    # Said before connecting: the driver's own failure says less, and leaves its thread behind.
    if path is None:
        return
    folder = path.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseUnusable(
            f"cannot open {describe_url(url)}: its folder ({folder}) does not exist or Carebot "
            "may not write there"
        )
