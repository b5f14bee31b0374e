"""The SQL helpers every repository module shares: which dialect a session speaks, that dialect's
INSERT (for ON CONFLICT), a conditional statement's row count, and marking a case's card dirty so
the delivery job redraws it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.engine import is_postgres
from storage.models import Case

# A conditional UPDATE's outcome is its row count; SQLAlchemy's default in-session
# synchronisation would evaluate the WHERE in Python and change objects even when the database
# changed nothing (a lost race), so statements whose row count decides pass this.
NO_SYNC = {"synchronize_session": False}


def on_postgres(session: AsyncSession) -> bool:
    """Tell whether the session talks to PostgreSQL (a session with no bind counts as SQLite)."""
    return session.bind is not None and is_postgres(session.bind)


def conflict_insert(session: AsyncSession, model: type[Any]) -> Any:
    """Return the session's dialect's INSERT into `model`, which has ON CONFLICT."""
    # ON CONFLICT is dialect-specific in SQLAlchemy; both dialects we support have it.
    return pg_insert(model) if on_postgres(session) else sqlite_insert(model)


def rowcount(result: object) -> int:
    """Return how many rows a statement's result says it matched."""
    assert isinstance(result, CursorResult)
    return result.rowcount


def changed(result: object) -> bool:
    """Tell whether a conditional statement changed its one row (the caller won the race)."""
    return rowcount(result) == 1


def card_dirty_values(now: datetime) -> dict[str, Any]:
    """Return the UPDATE values that mark a case's card dirty (the sync job will chat.update it)."""
    return {"card_version": Case.card_version + 1, "card_dirty_at": now}


def mark_card_dirty(case: Case, *, now: datetime) -> None:
    """Record that the card no longer shows the row (the sync job will chat.update it)."""
    case.card_version += 1
    case.card_dirty_at = now
