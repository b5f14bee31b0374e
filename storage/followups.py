"""Follow-ups: a customer's later posts in a case, echoed in its card's thread once the card is
posted."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CardState, Case, CaseMessage


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


async def mark_follow_up_posted(session: AsyncSession, *, message_id: int) -> None:
    """Record that a follow-up is in the card's thread."""
    await session.execute(
        update(CaseMessage).where(CaseMessage.id == message_id).values(thread_posted=True)
    )
