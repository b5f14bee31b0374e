"""Content compliance in the database: which stored posts are due a check against their network,
purging a post's text (deleted, hidden, past retention, forgotten on request) while its case and
figures stay, taking an edit, and the thread echoes that must be redrawn after either."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case, CaseMessage
from storage.sql import card_dirty_values, rowcount

# What a purged post's text is replaced with in the database: nothing of the customer's words.
PURGED = ""


@dataclass(frozen=True, slots=True)
class DueCheck:
    """A stored post to compare with its network."""

    message_id: int
    external_id: str


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What `forget` erased for one person."""

    handle: str
    cases: int
    posts: int
    case_ids: list[int]


async def due_checks(
    session: AsyncSession,
    *,
    network: str,
    posted_after: datetime,
    checked_before: datetime,
    limit: int,
) -> list[DueCheck]:
    """Return posts within retention unchecked since `checked_before`, stalest first."""
    rows = await session.execute(
        select(CaseMessage.id, CaseMessage.external_id)
        .where(
            CaseMessage.network == network,
            CaseMessage.removed.is_(None),
            CaseMessage.posted_at >= posted_after,
            or_(CaseMessage.checked_at.is_(None), CaseMessage.checked_at < checked_before),
        )
        .order_by(CaseMessage.checked_at.is_not(None), CaseMessage.checked_at, CaseMessage.id)
        .limit(limit)
    )
    return [DueCheck(message_id=r.id, external_id=r.external_id) for r in rows]


async def mark_checked(session: AsyncSession, *, message_ids: Sequence[int], now: datetime) -> None:
    """Record that these posts were compared with their network just now."""
    if message_ids:
        await session.execute(
            update(CaseMessage).where(CaseMessage.id.in_(message_ids)).values(checked_at=now)
        )


async def purge_posts(
    session: AsyncSession, *, message_ids: Sequence[int], reason: str, now: datetime
) -> list[int]:
    """Erase these posts' text (and their case's, for a first post); return the cases touched."""
    if not message_ids:
        return []
    messages = (
        await session.execute(
            select(CaseMessage.id, CaseMessage.case_id, CaseMessage.external_id).where(
                CaseMessage.id.in_(message_ids), CaseMessage.removed.is_(None)
            )
        )
    ).all()
    if not messages:
        return []
    await session.execute(
        update(CaseMessage)
        .where(CaseMessage.id.in_([m.id for m in messages]))
        .values(
            text=PURGED,
            removed=reason,
            checked_at=now,
            # An echo already in the thread is redrawn without the text.
            thread_dirty=CaseMessage.thread_ts.is_not(None),
        )
    )
    case_ids = sorted({m.case_id for m in messages})
    for message in messages:
        await session.execute(
            update(Case)
            .where(
                Case.id == message.case_id,
                Case.external_id == message.external_id,
                Case.content_removed.is_(None),
            )
            .values(text=PURGED, content_removed=reason, **card_dirty_values(now))
        )
    return case_ids


async def take_edit(
    session: AsyncSession, *, message_id: int, text: str, now: datetime, edited: bool = True
) -> int | None:
    """Store a post's latest version (`edited`: by its author); return its case if it changed."""
    message = await session.get(CaseMessage, message_id)
    if message is None or message.removed is not None:
        return None
    if message.text == text:
        message.checked_at = now
        return None
    message.text = text
    if edited:
        message.edited_at = now
    message.checked_at = now
    if message.thread_ts is not None:
        message.thread_dirty = True
    await session.execute(
        update(Case)
        .where(Case.id == message.case_id, Case.external_id == message.external_id)
        .values(text=text, **card_dirty_values(now))
    )
    return message.case_id


async def expired_posts(session: AsyncSession, *, posted_before: datetime, limit: int) -> list[int]:
    """Return ids of posts older than the retention period whose text is still stored."""
    rows = await session.scalars(
        select(CaseMessage.id)
        .where(CaseMessage.posted_at < posted_before, CaseMessage.removed.is_(None))
        .order_by(CaseMessage.id)
        .limit(limit)
    )
    return list(rows)


async def expired_cases(session: AsyncSession, *, posted_before: datetime, now: datetime) -> int:
    """Erase the text of cases posted before the retention cutoff; return how many."""
    result = await session.execute(
        update(Case)
        .where(Case.posted_at < posted_before, Case.content_removed.is_(None))
        .values(text=PURGED, content_removed="retention", **card_dirty_values(now))
    )
    return rowcount(result)


async def forget_author(
    session: AsyncSession, *, handle: str, now: datetime, network: str | None = None
) -> Forgotten:
    """Erase everything a person wrote and who they are from their cases; keep the figures."""
    wanted = handle.strip().lstrip("@").lower()
    query = select(Case.id, Case.network, Case.external_id).where(
        func.lower(Case.author_handle) == wanted
    )
    if network is not None:
        query = query.where(Case.network == network)
    found = (await session.execute(query)).all()
    case_ids = [row.id for row in found]
    if not case_ids:
        return Forgotten(handle=wanted, cases=0, posts=0, case_ids=[])
    message_ids = list(
        await session.scalars(
            select(CaseMessage.id).where(
                CaseMessage.case_id.in_(case_ids), CaseMessage.removed.is_(None)
            )
        )
    )
    await purge_posts(session, message_ids=message_ids, reason="forgotten", now=now)
    for row in found:
        # The post link named the person; X also resolves a post by id alone.
        url = f"https://x.com/i/web/status/{row.external_id}" if row.network == "x" else ""
        await session.execute(
            update(Case)
            .where(Case.id == row.id)
            .values(
                text=PURGED,
                content_removed="forgotten",
                author_handle="forgotten",
                author_name="(erased on request)",
                author_followers=None,
                author_verified=None,
                url=url,
                **card_dirty_values(now),
            )
        )
    posts = await session.execute(
        select(CaseMessage.id, CaseMessage.network, CaseMessage.external_id).where(
            CaseMessage.case_id.in_(case_ids)
        )
    )
    for post in posts.all():
        url = f"https://x.com/i/web/status/{post.external_id}" if post.network == "x" else ""
        await session.execute(update(CaseMessage).where(CaseMessage.id == post.id).values(url=url))
    return Forgotten(handle=wanted, cases=len(case_ids), posts=len(message_ids), case_ids=case_ids)


async def thread_lines_to_redraw(
    session: AsyncSession, *, limit: int
) -> list[tuple[CaseMessage, Case]]:
    """Return thread echoes whose post was purged or edited since they were drawn."""
    rows = await session.execute(
        select(CaseMessage, Case)
        .join(Case, Case.id == CaseMessage.case_id)
        .where(CaseMessage.thread_dirty.is_(True), CaseMessage.thread_ts.is_not(None))
        .order_by(CaseMessage.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows]


async def thread_line_redrawn(session: AsyncSession, *, message_id: int) -> None:
    """Record that a thread echo shows the post as it is now."""
    await session.execute(
        update(CaseMessage).where(CaseMessage.id == message_id).values(thread_dirty=False)
    )


async def thread_line_posted(session: AsyncSession, *, message_id: int, ts: str) -> None:
    """Remember where a follow-up's echo is in the thread, so it can be redrawn."""
    await session.execute(
        update(CaseMessage).where(CaseMessage.id == message_id).values(thread_ts=ts)
    )
