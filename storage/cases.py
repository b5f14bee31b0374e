"""Repository functions for ownership and replies. Every change of owner or status is one
conditional UPDATE checked by its row count (ARCHITECTURE rule 2), correct under concurrency on
SQLite and PostgreSQL and across replicas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case, CaseMessage, CaseStatus, Reply, ReplyState


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return pg_insert(model) if dialect == "postgresql" else sqlite_insert(model)


# A conditional UPDATE's outcome is its row count; SQLAlchemy's default in-session
# synchronisation would evaluate the WHERE in Python and change objects even when the database
# changed nothing (a lost race), so it is off for every statement here.
NO_SYNC = {"synchronize_session": False}


def _bump_card(now: datetime) -> dict[str, Any]:
    # Every caller changes owner or status: buttons drawn before it are stale from now on.
    return {
        "card_version": Case.card_version + 1,
        "card_dirty_at": now,
        "state_version": Case.state_version + 1,
    }


async def get_case(session: AsyncSession, *, case_id: int) -> Case | None:
    """Return the case, fresh from the database."""
    return await session.get(Case, case_id, populate_existing=True)


async def claim(session: AsyncSession, *, case_id: int, user: str, now: datetime) -> bool:
    """Make `user` the owner if nobody owns the case; return whether this call won."""
    result = await session.execute(
        update(Case)
        .execution_options(**NO_SYNC)
        .where(Case.id == case_id, Case.owner.is_(None), Case.status != CaseStatus.RESOLVED)
        .values(owner=user, claimed_at=now, **_bump_card(now))
    )
    return _changed(result)


async def release(session: AsyncSession, *, case_id: int, owner: str, now: datetime) -> bool:
    """Clear the owner if it is still `owner`."""
    result = await session.execute(
        update(Case)
        .execution_options(**NO_SYNC)
        .where(Case.id == case_id, Case.owner == owner)
        .values(owner=None, claimed_at=None, **_bump_card(now))
    )
    return _changed(result)


async def resolve(
    session: AsyncSession, *, case_id: int, user: str, reason: str | None, now: datetime
) -> bool:
    """Close the case if it is not closed yet."""
    result = await session.execute(
        update(Case)
        .execution_options(**NO_SYNC)
        .where(Case.id == case_id, Case.status != CaseStatus.RESOLVED)
        .values(
            status=CaseStatus.RESOLVED,
            resolved_at=now,
            resolved_by=user,
            resolve_reason=reason,
            next_nag_at=None,
            **_bump_card(now),
        )
    )
    return _changed(result)


async def reopen(
    session: AsyncSession,
    *,
    case_id: int,
    due_at: datetime,
    next_nag_at: datetime | None,
    now: datetime,
) -> bool:
    """Put a resolved case back in the queue with a new deadline."""
    result = await session.execute(
        update(Case)
        .execution_options(**NO_SYNC)
        .where(Case.id == case_id, Case.status == CaseStatus.RESOLVED)
        .values(
            status=CaseStatus.OPEN,
            resolved_at=None,
            resolved_by=None,
            resolve_reason=None,
            due_at=due_at,
            breached_at=None,
            nag_step=0,
            next_nag_at=next_nag_at,
            **_bump_card(now),
        )
    )
    return _changed(result)


async def latest_customer_post(session: AsyncSession, *, case_id: int) -> str | None:
    """Return the external id of the customer's latest post in the case (what a reply answers)."""
    return await session.scalar(
        select(CaseMessage.external_id)
        .where(CaseMessage.case_id == case_id)
        .order_by(CaseMessage.posted_at.desc(), CaseMessage.id.desc())
        .limit(1)
    )


async def reply_by_key(session: AsyncSession, *, key: str) -> Reply | None:
    """Return the reply recorded under an idempotency key."""
    return await session.scalar(
        select(Reply).where(Reply.idempotency_key == key).execution_options(populate_existing=True)
    )


async def record_pending_reply(
    session: AsyncSession, *, case_id: int, key: str, author: str, text: str, now: datetime
) -> int | None:
    """Record a reply about to be sent and return its id; None if `key` is taken already.

    A failed reply under the same key becomes pending again (the agent pressed Send again). Both
    paths are single conditional statements, so of two concurrent submits exactly one wins.
    """
    insert = _insert(session, Reply).values(
        case_id=case_id,
        idempotency_key=key,
        author=author,
        text=text,
        state=ReplyState.PENDING,
        created_at=now,
    )
    inserted = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(Reply.id)
    )
    reply_id = inserted.scalar()
    if reply_id is not None:
        return int(reply_id)
    retried = await session.execute(
        update(Reply)
        .execution_options(**NO_SYNC)
        .where(Reply.idempotency_key == key, Reply.state == ReplyState.FAILED)
        .values(state=ReplyState.PENDING, text=text, error=None, created_at=now)
        .returning(Reply.id)
    )
    again = retried.scalar()
    return int(again) if again is not None else None


async def mark_reply_failed(session: AsyncSession, *, reply_id: int, error: str) -> None:
    """Record why sending failed; the text stays for a retry."""
    await session.execute(
        update(Reply)
        .execution_options(**NO_SYNC)
        .where(Reply.id == reply_id, Reply.state == ReplyState.PENDING)
        .values(state=ReplyState.FAILED, error=error[:500])
    )


async def mark_reply_sent(
    session: AsyncSession,
    *,
    reply_id: int,
    external_id: str,
    url: str,
    now: datetime,
) -> None:
    """Record the network's id for a sent reply."""
    await session.execute(
        update(Reply)
        .execution_options(**NO_SYNC)
        .where(Reply.id == reply_id)
        .values(state=ReplyState.SENT, external_id=external_id, url=url, sent_at=now, error=None)
    )


async def record_response(
    session: AsyncSession, *, case_id: int, user: str, resolve: bool, now: datetime
) -> None:
    """Mark the case answered by `user` (first response kept if already set); maybe resolve it."""
    case = await get_case(session, case_id=case_id)
    assert case is not None
    if case.first_response_at is None:
        case.first_response_at = now
        case.first_responder = user
    case.last_response_at = now
    case.next_nag_at = None
    if case.owner is None:
        case.owner = user
        case.claimed_at = now
    if resolve:
        case.status = CaseStatus.RESOLVED
        case.resolved_at = now
        case.resolved_by = user
    elif case.status != CaseStatus.RESOLVED:
        case.status = CaseStatus.REPLIED
    case.card_version += 1
    case.card_dirty_at = now
    case.state_version += 1
