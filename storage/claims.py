"""Leases and once-only job claims: the database records that make a periodic job safe on several
replicas (ARCHITECTURE rule 7). A lease names the one process running a job for a while; the
digest-run record lets exactly one process post each day's digest. Every take is one conditional
statement checked by its row count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DigestRun, Lease
from storage.sql import changed, conflict_insert, on_postgres


async def acquire_lease(
    session: AsyncSession, *, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease `name` for `holder`; return False if someone else holds it."""
    renewed = await session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    if changed(renewed):
        return True
    created = await session.execute(
        conflict_insert(session, Lease)
        .values(name=name, holder=holder, expires_at=now + ttl)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return changed(created)


async def database_now(session: AsyncSession) -> datetime:
    """Return the database's clock, which every replica shares (SQLite: this host's clock)."""
    if on_postgres(session):
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
    return changed(moved)


async def renew_lease(
    session: AsyncSession, *, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Extend the lease `name` if `holder` has it; return whether it did."""
    renewed = await session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now + ttl)
    )
    return changed(renewed)


async def release_lease(session: AsyncSession, *, name: str, holder: str) -> None:
    """Give up the lease `name` if `holder` has it."""
    await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


# --- the daily digest's once-per-day record ---------------------------------------------------


async def claim_digest_day(
    session: AsyncSession, *, day: date, holder: str, now: datetime, retry_before: datetime
) -> bool:
    """Take the right to post the digest of `day`; True for exactly one caller.

    The first claim inserts the row. A claim that never recorded its post (the process died
    mid-way) may be taken over once it is older than `retry_before`.
    """
    inserted = await session.execute(
        conflict_insert(session, DigestRun)
        .values(day=day, holder=holder, claimed_at=now)
        .on_conflict_do_nothing(index_elements=["day"])
    )
    if changed(inserted):
        return True
    taken_over = await session.execute(
        update(DigestRun)
        .where(
            DigestRun.day == day,
            DigestRun.posted_at.is_(None),
            DigestRun.claimed_at < retry_before,
        )
        .values(holder=holder, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return changed(taken_over)


async def digest_day_posted(session: AsyncSession, *, day: date) -> bool:
    """Tell whether the digest of `day` has been posted."""
    found = await session.scalar(select(DigestRun.posted_at).where(DigestRun.day == day))
    return found is not None


async def record_digest_posted(
    session: AsyncSession, *, day: date, holder: str, channel: str, ts: str, now: datetime
) -> None:
    """Record where the digest of `day` was posted."""
    await session.execute(
        update(DigestRun)
        .where(DigestRun.day == day, DigestRun.holder == holder)
        .values(posted_at=now, channel=channel, message_ts=ts)
        .execution_options(synchronize_session=False)
    )


async def release_digest_day(session: AsyncSession, *, day: date, holder: str) -> None:
    """Give the day back after a post that certainly failed, so the next check retries it."""
    await session.execute(
        delete(DigestRun).where(
            DigestRun.day == day, DigestRun.holder == holder, DigestRun.posted_at.is_(None)
        )
    )
