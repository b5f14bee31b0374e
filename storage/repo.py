"""Repository functions: keyword-only, take the caller's session, flush when ids are needed and
never commit (the service owns the unit of work)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, null, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    CardLine,
    CardState,
    Case,
    CaseMessage,
    CaseStatus,
    Event,
    Lease,
    Priority,
    SourceCursor,
    SourceSession,
)


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    # ON CONFLICT is dialect-specific in SQLAlchemy; both dialects we support have it.
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return pg_insert(model) if dialect == "postgresql" else sqlite_insert(model)


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount


# --- leases -------------------------------------------------------------------------------


async def acquire_lease(
    session: AsyncSession, *, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease `name` for `holder`; return False if someone else holds it."""
    renewed = await session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    if _rowcount(renewed) == 1:
        return True
    created = await session.execute(
        _insert(session, Lease)
        .values(name=name, holder=holder, expires_at=now + ttl)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return _rowcount(created) == 1


async def database_now(session: AsyncSession) -> datetime:
    """Return the database's clock, which every replica shares (SQLite: this host's clock)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        now = await session.scalar(select(func.clock_timestamp()))
        assert isinstance(now, datetime)
        return now.astimezone(UTC)
    return datetime.now(UTC)


async def lease_holder(session: AsyncSession, *, name: str) -> str | None:
    """Return who holds the lease `name` (expired or not), if anyone."""
    holder: str | None = await session.scalar(select(Lease.holder).where(Lease.name == name))
    return holder


async def take_over_lease(
    session: AsyncSession,
    *,
    name: str,
    previous: str,
    holder: str,
    now: datetime,
    ttl: timedelta,
) -> bool:
    """Move the lease `name` from `previous` (known dead) to `holder`, if it still has it."""
    moved = await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == previous)
        .values(holder=holder, expires_at=now + ttl)
    )
    return _rowcount(moved) == 1


async def renew_lease(
    session: AsyncSession, *, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Extend the lease `name` if `holder` has it; return whether it did."""
    renewed = await session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now + ttl)
    )
    return _rowcount(renewed) == 1


async def release_lease(session: AsyncSession, *, name: str, holder: str) -> None:
    """Give up the lease `name` if `holder` has it."""
    await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


# --- source cursors -----------------------------------------------------------------------


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
    return _rowcount(result) == 1


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
    return _rowcount(result) == 1


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


# --- ingest -------------------------------------------------------------------------------


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


def mark_card_dirty(case: Case, *, now: datetime) -> None:
    """Record that the card no longer shows the row (the sync job will chat.update it)."""
    case.card_version += 1
    case.card_dirty_at = now


def add_event(
    session: AsyncSession,
    *,
    case_id: int | None,
    actor: str,
    kind: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an event to the log."""
    session.add(Event(case_id=case_id, actor=actor, kind=kind, at=at, detail=detail or {}))


# --- delivery -----------------------------------------------------------------------------


async def cases_needing_cards(session: AsyncSession, *, limit: int) -> Sequence[Case]:
    """Return cases whose card was never tried: urgent first, then oldest first."""
    # `posting` cases are left out: they may be in the channel already (see cards_in_doubt).
    urgent_first = sql_case((Case.priority == Priority.URGENT, 0), else_=1)
    rows = await session.scalars(
        select(Case)
        .where(Case.card_state == CardState.PENDING)
        .order_by(urgent_first, Case.posted_at, Case.id)
        .limit(limit)
    )
    return rows.all()


async def cards_in_doubt(session: AsyncSession) -> Sequence[Case]:
    """Return cases whose card post was attempted but never recorded (it may be in Slack)."""
    rows = await session.scalars(
        select(Case).where(Case.card_state == CardState.POSTING).order_by(Case.id)
    )
    return rows.all()


async def newest_card_ts(
    session: AsyncSession, *, channel: str, attempted_before: datetime
) -> str | None:
    """Return the ts of the newest recorded card in `channel` first tried before that time."""
    # Slack ts strings have a fixed width ("1700000000.000100"), so the string max is the newest.
    newest: str | None = await session.scalar(
        select(func.max(Case.card_ts)).where(
            Case.slack_channel == channel,
            Case.card_state == CardState.POSTED,
            Case.card_attempted_at < attempted_before,
        )
    )
    return newest


async def mark_cards_posting(
    session: AsyncSession, *, case_ids: Iterable[int], channel: str, now: datetime
) -> None:
    """Record that a post of these cards is about to be attempted."""
    await session.execute(
        update(Case)
        .where(Case.id.in_(list(case_ids)), Case.card_state != CardState.POSTED)
        .values(card_state=CardState.POSTING, card_attempted_at=now, slack_channel=channel)
    )


async def record_card_posted(
    session: AsyncSession, *, case_id: int, channel: str, ts: str, version: int
) -> None:
    """Record the card's message ts; the card now shows `version` unless the row moved on."""
    await record_cards_posted(session, channel=channel, posted=[(case_id, ts, version)])


async def record_cards_posted(
    session: AsyncSession, *, channel: str, posted: Sequence[tuple[int, str, int]]
) -> None:
    """Record (case id, message ts, rendered version) for cards posted to `channel`, in one go.

    One executemany of one statement: this runs for every card delivered, and each extra round
    trip or transaction per card was a large share of delivery's cost.
    """
    if not posted:
        return
    table = Case.__table__
    assert isinstance(table, Table)  # a Core statement: executemany, not ORM bulk-by-PK
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            card_state=CardState.POSTED,
            slack_channel=channel,
            card_ts=bindparam("b_ts"),
            # The card now shows the row, unless the row changed after it was rendered.
            card_dirty_at=sql_case(
                (table.c.card_version == bindparam("b_version"), null()),
                else_=table.c.card_dirty_at,
            ),
        )
    )
    await session.execute(
        statement, [{"b_id": cid, "b_ts": ts, "b_version": version} for cid, ts, version in posted]
    )


async def record_card_not_posted(session: AsyncSession, *, case_ids: Iterable[int]) -> None:
    """Return cards to the queue whose post certainly did not reach Slack."""
    await session.execute(
        update(Case)
        .where(Case.id.in_(list(case_ids)), Case.card_state == CardState.POSTING)
        .values(card_state=CardState.PENDING)
    )


async def clear_card_dirty(session: AsyncSession, *, case_id: int, version: int) -> None:
    """Mark the card in sync, unless the case changed again since `version` was rendered."""
    await session.execute(
        update(Case)
        .where(Case.id == case_id, Case.card_version == version)
        .values(card_dirty_at=None)
    )


async def touch_card(session: AsyncSession, *, case_id: int, now: datetime) -> None:
    """Ask for the card to be redrawn (its Slack copy may be older than the row)."""
    await session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(card_version=Case.card_version + 1, card_dirty_at=now)
    )


async def dirty_cards(session: AsyncSession, *, limit: int) -> Sequence[Case]:
    """Return posted cards that no longer show their row."""
    rows = await session.scalars(
        select(Case)
        .where(Case.card_dirty_at.is_not(None), Case.card_state == CardState.POSTED)
        .order_by(Case.card_dirty_at)
        .limit(limit)
    )
    return rows.all()


async def follow_ups_to_post(
    session: AsyncSession, *, limit: int
) -> Sequence[tuple[CaseMessage, Case]]:
    """Return follow-up messages not yet echoed in their posted card's thread."""
    rows = await session.execute(
        select(CaseMessage, Case)
        .join(Case, Case.id == CaseMessage.case_id)
        .where(CaseMessage.thread_posted.is_(False), Case.card_state == CardState.POSTED)
        .order_by(CaseMessage.id)
        .limit(limit)
    )
    return [(message, case) for message, case in rows]


async def card_gone(session: AsyncSession, *, case_id: int, now: datetime) -> bool:
    """The case's card was deleted in Slack: queue a new card if the case is still open (its
    waiting thread lines and follow-ups go to the new one); drop what waits for a closed case's
    card. Return True if a new card was queued."""
    reposted = await session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status != CaseStatus.RESOLVED)
        .values(
            card_state=CardState.PENDING,
            card_ts=None,
            card_dirty_at=None,
            card_version=Case.card_version + 1,
        )
    )
    if _rowcount(reposted) == 1:
        return True
    await session.execute(update(Case).where(Case.id == case_id).values(card_dirty_at=None))
    await session.execute(
        update(CaseMessage)
        .where(CaseMessage.case_id == case_id, CaseMessage.thread_posted.is_(False))
        .values(thread_posted=True)
    )
    await session.execute(
        update(CardLine)
        .where(CardLine.case_id == case_id, CardLine.posted_at.is_(None))
        .values(posted_at=now)
    )
    return False


async def add_card_line(session: AsyncSession, *, case_id: int, text: str, now: datetime) -> None:
    """Queue a line for the case's card thread; it waits here until the card is in Slack."""
    session.add(CardLine(case_id=case_id, text=text, created_at=now))


async def card_lines_to_post(
    session: AsyncSession, *, limit: int, case_id: int | None = None
) -> Sequence[tuple[CardLine, Case]]:
    """Return queued thread lines whose card is posted, oldest first (of one case, if given)."""
    statement = (
        select(CardLine, Case)
        .join(Case, Case.id == CardLine.case_id)
        .where(CardLine.posted_at.is_(None), Case.card_state == CardState.POSTED)
        .order_by(CardLine.id)
        .limit(limit)
    )
    if case_id is not None:
        statement = statement.where(CardLine.case_id == case_id)
    rows = await session.execute(statement)
    return [(line, case) for line, case in rows]


async def claim_card_line(session: AsyncSession, *, line_id: int, now: datetime) -> bool:
    """Take a queued line for posting; only one caller (or replica) gets it."""
    result = await session.execute(
        update(CardLine)
        .where(CardLine.id == line_id, CardLine.posted_at.is_(None))
        .values(posted_at=now)
    )
    return _rowcount(result) == 1


async def unclaim_card_line(session: AsyncSession, *, line_id: int) -> None:
    """Put a line whose post failed back in the queue."""
    await session.execute(update(CardLine).where(CardLine.id == line_id).values(posted_at=None))


async def mark_card_refused(session: AsyncSession, *, case_ids: Iterable[int]) -> None:
    """Record that Slack refused these cards for good (they leave the queue)."""
    await session.execute(
        update(Case)
        .where(Case.id.in_(list(case_ids)), Case.card_state != CardState.POSTED)
        .values(card_state=CardState.REFUSED)
    )


async def mark_follow_up_posted(session: AsyncSession, *, message_id: int) -> None:
    """Record that a follow-up is in the card's thread."""
    await session.execute(
        update(CaseMessage).where(CaseMessage.id == message_id).values(thread_posted=True)
    )


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- source sessions ----------------------------------------------------------------------


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
