"""What comes in from the networks: new cases and customer messages, stored in bulk by ingest;
the source cursors, with each source's health and its quarantined posts; and a network's saved
login. The cursor advances in the same transaction as the mentions it covers (ARCHITECTURE
rule 3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case, CaseMessage, CaseStatus, SourceCursor, SourceSession
from storage.sql import changed


async def get_cursor(session: AsyncSession, *, source: str) -> SourceCursor | None:
    """Return the saved cursor row for `source`, if any."""
    return await session.get(SourceCursor, source)


async def save_cursor(
    session: AsyncSession, *, source: str, cursor: str | None, now: datetime
) -> None:
    """Store `cursor` for `source` (a None cursor keeps the one saved)."""
    row = await session.get(SourceCursor, source)
    if row is None:
        session.add(SourceCursor(source=source, cursor=cursor, updated_at=now))
    else:
        if cursor is not None:
            row.cursor = cursor
        row.updated_at = now


async def set_source_health(
    session: AsyncSession, *, source: str, health: str, detail: str | None, now: datetime
) -> bool:
    """Move `source` to `health`; return True only for the caller that made the change."""
    await save_cursor(session, source=source, cursor=None, now=now)
    await session.flush()
    result = await session.execute(
        update(SourceCursor)
        .where(SourceCursor.source == source, SourceCursor.health != health)
        # A different failure is news of its own: it may be told again.
        .values(health=health, health_detail=detail, health_since=now, health_alerted=False)
    )
    return changed(result)


async def claim_health_alert(session: AsyncSession, *, source: str) -> bool:
    """Mark `source`'s current failure as told; True only for the caller that marked it."""
    result = await session.execute(
        update(SourceCursor)
        .where(
            SourceCursor.source == source,
            SourceCursor.health != "ok",
            SourceCursor.health_alerted.is_(False),
        )
        .values(health_alerted=True)
    )
    return changed(result)


async def recover_source(session: AsyncSession, *, source: str, now: datetime) -> bool:
    """Mark `source` healthy; return True if its failure had been told (say it is over)."""
    row = await session.get(SourceCursor, source)
    if row is None or row.health == "ok":
        return False
    told = row.health_alerted
    row.health = "ok"
    row.health_detail = None
    row.health_since = now
    row.health_alerted = False
    return told


async def source_rows(session: AsyncSession) -> Sequence[SourceCursor]:
    """Return every source's cursor and health row."""
    return (await session.scalars(select(SourceCursor).order_by(SourceCursor.source))).all()


async def record_quarantined(
    session: AsyncSession, *, source: str, count: int, last: str, now: datetime
) -> None:
    """Count `count` more posts of `source` skipped as unreadable; `last` describes the newest."""
    await save_cursor(session, source=source, cursor=None, now=now)
    await session.flush()
    await session.execute(
        update(SourceCursor)
        .where(SourceCursor.source == source)
        .values(quarantined=SourceCursor.quarantined + count, quarantined_last=last)
    )


async def known_message_ids(
    session: AsyncSession, *, network: str, external_ids: Sequence[str]
) -> set[str]:
    """Return which of `external_ids` are already stored."""
    found: set[str] = set()
    for chunk in _chunks(external_ids, 500):
        rows = await session.scalars(
            select(CaseMessage.external_id).where(
                CaseMessage.network == network, CaseMessage.external_id.in_(chunk)
            )
        )
        found.update(rows)
    return found


async def open_cases_for_conversations(
    session: AsyncSession, *, network: str, conversation_ids: Sequence[str]
) -> dict[tuple[str, str], Case]:
    """Return not-resolved cases keyed by (conversation id, author id)."""
    cases: dict[tuple[str, str], Case] = {}
    for chunk in _chunks(sorted(set(conversation_ids)), 500):
        rows = await session.scalars(
            select(Case)
            .where(
                Case.network == network,
                Case.conversation_id.in_(chunk),
                Case.status != CaseStatus.RESOLVED,
            )
            .order_by(Case.id)
        )
        for case in rows:
            cases[(case.conversation_id, case.author_id)] = case
    return cases


async def insert_cases(
    session: AsyncSession, *, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Insert new cases in bulk; return their ids keyed by (conversation id, author id)."""
    ids: dict[tuple[str, str], int] = {}
    if not rows:
        return ids
    result = await session.execute(
        insert(Case).returning(Case.id, Case.conversation_id, Case.author_id), rows
    )
    for case_id, conversation_id, author_id in result:
        ids[(conversation_id, author_id)] = case_id
    return ids


async def insert_messages(session: AsyncSession, *, rows: list[dict[str, Any]]) -> None:
    """Insert customer messages in bulk."""
    if rows:
        await session.execute(insert(CaseMessage), rows)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def get_source_session(session: AsyncSession, *, network: str) -> str | None:
    """Return the saved login of `network`, if any."""
    row = await session.get(SourceSession, network)
    return row.data if row is not None else None


async def save_source_session(
    session: AsyncSession, *, network: str, data: str, now: datetime
) -> None:
    """Store (or replace) the saved login of `network`."""
    row = await session.get(SourceSession, network)
    if row is None:
        session.add(SourceSession(network=network, data=data, updated_at=now))
    else:
        row.data = data
        row.updated_at = now


async def delete_source_session(session: AsyncSession, *, network: str) -> None:
    """Forget the saved login of `network` (it was rejected)."""
    await session.execute(delete(SourceSession).where(SourceSession.network == network))
