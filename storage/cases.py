"""Repository functions for ownership and replies. Every change of owner or status is one
conditional UPDATE checked by its row count (ARCHITECTURE rule 2), correct under concurrency on
SQLite and PostgreSQL and across replicas."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case, CaseMessage, CaseStatus, Reply, ReplyState
from storage.sql import NO_SYNC, card_dirty_values, changed, conflict_insert, mark_card_dirty

# The conditional UPDATEs here pass NO_SYNC (see storage.sql): their row count is the outcome.


def _bump_card(now: datetime) -> dict[str, Any]:
    # Every caller changes owner or status: buttons drawn before it are stale from now on.
    return {**card_dirty_values(now), "state_version": Case.state_version + 1}


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
    return changed(result)


async def release(session: AsyncSession, *, case_id: int, owner: str, now: datetime) -> bool:
    """Clear the owner if it is still `owner`."""
    result = await session.execute(
        update(Case)
        .execution_options(**NO_SYNC)
        .where(Case.id == case_id, Case.owner == owner)
        .values(owner=None, claimed_at=None, **_bump_card(now))
    )
    return changed(result)


async def resolve(
    session: AsyncSession,
    *,
    case_id: int,
    user: str,
    reason: str | None,
    now: datetime,
    note: str | None = None,
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
            resolve_note=note,
            next_nag_at=None,
            **_bump_card(now),
        )
    )
    return changed(result)


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
            resolve_note=None,
            due_at=due_at,
            breached_at=None,
            nag_step=0,
            next_nag_at=next_nag_at,
            **_bump_card(now),
        )
    )
    return changed(result)


async def latest_customer_post(session: AsyncSession, *, case_id: int) -> str | None:
    """Return the external id of the customer's latest post in the case (what a reply answers)."""
    return await session.scalar(
        select(CaseMessage.external_id)
        .where(CaseMessage.case_id == case_id)
        .order_by(CaseMessage.posted_at.desc(), CaseMessage.id.desc())
        .limit(1)
    )


async def latest_summoning_post(session: AsyncSession, *, case_id: int) -> CaseMessage | None:
    """Return the case's newest post that mentions or quotes the brand and is still up."""
    return await session.scalar(
        select(CaseMessage)
        .where(
            CaseMessage.case_id == case_id,
            CaseMessage.summons.is_(True),
            CaseMessage.removed.is_(None),
        )
        .order_by(CaseMessage.posted_at.desc(), CaseMessage.id.desc())
        .limit(1)
    )


async def mark_not_summoning(session: AsyncSession, *, network: str, external_id: str) -> None:
    """Record that the network refused a reply to this post because it doesn't summon the brand."""
    await session.execute(
        update(CaseMessage)
        .where(CaseMessage.network == network, CaseMessage.external_id == external_id)
        .values(summons=False)
    )


async def reply_by_key(session: AsyncSession, *, key: str) -> Reply | None:
    """Return the reply recorded under an idempotency key."""
    return await session.scalar(
        select(Reply).where(Reply.idempotency_key == key).execution_options(populate_existing=True)
    )


async def record_pending_reply(
    session: AsyncSession,
    *,
    case_id: int,
    key: str,
    author: str,
    text: str,
    now: datetime,
    target_id: str | None = None,
    resolve_after: bool = False,
    view_id: str | None = None,
) -> int | None:
    """Record a reply about to be sent and return its id; None if `key` is taken already.

    A failed reply under the same key (certainly not posted) becomes pending again: the agent
    pressed Send again. Both paths are single conditional statements, so of two concurrent
    submits exactly one wins. A reply in any other state (pending, unknown, sent) is never sent
    again under its key.
    """
    attempt = {
        "author": author,
        "text": text,
        "state": ReplyState.PENDING,
        "created_at": now,
        "target_id": target_id,
        "resolve_after": resolve_after,
        "view_id": view_id,
    }
    insert = conflict_insert(session, Reply).values(case_id=case_id, idempotency_key=key, **attempt)
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
        .values(error=None, thread_due=False, notice=None, **attempt)
        .returning(Reply.id)
    )
    again = retried.scalar()
    return int(again) if again is not None else None


_UNSETTLED = (ReplyState.PENDING, ReplyState.UNKNOWN)


async def unsettled_reply(session: AsyncSession, *, case_id: int) -> Reply | None:
    """Return a reply to the case that may be on the network but is not known to be (if any)."""
    return await session.scalar(
        select(Reply)
        .where(Reply.case_id == case_id, Reply.state.in_(_UNSETTLED))
        .order_by(Reply.created_at)
        .limit(1)
    )


async def get_reply(session: AsyncSession, *, reply_id: int) -> Reply | None:
    """Return the reply, fresh from the database."""
    return await session.get(Reply, reply_id, populate_existing=True)


async def mark_reply_failed(
    session: AsyncSession, *, reply_id: int, error: str, announce: bool = False
) -> bool:
    """Record that the reply was certainly not posted and why; the text stays for a resend.

    `announce` queues a line in the card's thread (for replies that were in doubt). Return
    whether this call settled it (False: someone else already had).
    """
    result = await session.execute(
        update(Reply)
        .execution_options(**NO_SYNC)
        .where(Reply.id == reply_id, Reply.state.in_(_UNSETTLED))
        .values(state=ReplyState.FAILED, error=error[:500], thread_due=announce)
    )
    return changed(result)


async def mark_reply_unknown(session: AsyncSession, *, reply_id: int, error: str) -> bool:
    """Record that the network's answer was lost: the reply is to be looked for, not resent."""
    result = await session.execute(
        update(Reply)
        .execution_options(**NO_SYNC)
        .where(Reply.id == reply_id, Reply.state == ReplyState.PENDING)
        .values(state=ReplyState.UNKNOWN, error=error[:500])
    )
    return changed(result)


async def mark_reply_sent(
    session: AsyncSession,
    *,
    reply_id: int,
    external_id: str,
    url: str,
    now: datetime,
) -> bool:
    """Record the network's id for a sent reply and queue its thread line; return whether this
    call settled it (False: it was already settled, e.g. by recovery)."""
    result = await session.execute(
        update(Reply)
        .execution_options(**NO_SYNC)
        .where(Reply.id == reply_id, Reply.state.in_(_UNSETTLED))
        .values(
            state=ReplyState.SENT,
            external_id=external_id,
            url=url,
            sent_at=now,
            error=None,
            thread_due=True,
        )
    )
    return changed(result)


async def replies_to_settle(
    session: AsyncSession, *, pending_before: datetime, limit: int
) -> Sequence[Reply]:
    """Return replies in doubt: unknown ones, and pending ones begun before `pending_before`
    (their process had its chance and died, or lost the answer)."""
    rows = await session.scalars(
        select(Reply)
        .where(
            (Reply.state == ReplyState.UNKNOWN)
            | ((Reply.state == ReplyState.PENDING) & (Reply.created_at < pending_before))
        )
        .order_by(Reply.created_at, Reply.id)
        .limit(limit)
    )
    return rows.all()


async def replies_to_announce(session: AsyncSession, *, limit: int) -> Sequence[Reply]:
    """Return settled replies whose thread line or direct message is still owed."""
    rows = await session.scalars(
        select(Reply)
        .where((Reply.thread_due.is_(True)) | (Reply.notice.is_not(None)))
        .order_by(Reply.id)
        .limit(limit)
    )
    return rows.all()


async def set_reply_notice(session: AsyncSession, *, reply_id: int, notice: str) -> None:
    """Owe the reply's author a direct message saying `notice`."""
    await session.execute(
        update(Reply).execution_options(**NO_SYNC).where(Reply.id == reply_id).values(notice=notice)
    )


async def clear_reply_thread_due(session: AsyncSession, *, reply_id: int) -> None:
    """Record that the reply's outcome is in the card's thread."""
    await session.execute(
        update(Reply)
        .execution_options(**NO_SYNC)
        .where(Reply.id == reply_id)
        .values(thread_due=False)
    )


async def clear_reply_notice(session: AsyncSession, *, reply_id: int, notice: str) -> None:
    """Record that the direct message `notice` was delivered (a newer one stays owed)."""
    await session.execute(
        update(Reply)
        .execution_options(**NO_SYNC)
        .where(Reply.id == reply_id, Reply.notice == notice)
        .values(notice=None)
    )


async def record_response(
    session: AsyncSession, *, case_id: int, user: str, resolve: bool, now: datetime
) -> bool:
    """Mark the case answered by `user` (first response kept if already set); maybe resolve it.

    Return True when the answer also made `user` the owner (a reply on an unclaimed case).
    """
    case = await get_case(session, case_id=case_id)
    assert case is not None
    if case.first_response_at is None:
        case.first_response_at = now
        case.first_responder = user
    case.last_response_at = now
    case.next_nag_at = None
    claimed = case.owner is None
    if claimed:
        case.owner = user
        case.claimed_at = now
    if resolve:
        case.status = CaseStatus.RESOLVED
        case.resolved_at = now
        case.resolved_by = user
    elif case.status != CaseStatus.RESOLVED:
        case.status = CaseStatus.REPLIED
    mark_card_dirty(case, now=now)
    case.state_version += 1
    return claimed
