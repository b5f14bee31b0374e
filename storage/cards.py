"""A case's Slack card as the database tracks it: which cards wait to be posted (and which may be
in Slack already), recording a post, and the version counter that says whether the card in
Slack still shows its row. Delivery drives everything here from database state (ARCHITECTURE
rules 3 and 10)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, func, null, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CardLine, CardState, Case, CaseMessage, CaseStatus, Priority
from storage.sql import card_dirty_values, changed


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


async def cards_waiting(session: AsyncSession) -> bool:
    """Say whether any case waits for its card (never tried, or tried and in doubt)."""
    waiting = await session.scalar(
        select(Case.id).where(Case.card_state.in_((CardState.PENDING, CardState.POSTING))).limit(1)
    )
    return waiting is not None


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


async def mark_card_refused(session: AsyncSession, *, case_ids: Iterable[int]) -> None:
    """Record that Slack refused these cards for good (they leave the queue)."""
    await session.execute(
        update(Case)
        .where(Case.id.in_(list(case_ids)), Case.card_state != CardState.POSTED)
        .values(card_state=CardState.REFUSED)
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
    await session.execute(update(Case).where(Case.id == case_id).values(**card_dirty_values(now)))


async def dirty_cards(session: AsyncSession, *, limit: int) -> Sequence[Case]:
    """Return posted cards that no longer show their row."""
    rows = await session.scalars(
        select(Case)
        .where(Case.card_dirty_at.is_not(None), Case.card_state == CardState.POSTED)
        .order_by(Case.card_dirty_at)
        .limit(limit)
    )
    return rows.all()


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
    if changed(reposted):
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
