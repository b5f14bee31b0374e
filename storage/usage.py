"""What each network's API was asked, per month and kind (what pay-per-use bills), added to by
every replica at once, and the once-per-month budget notices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import BudgetNotice, NetworkUsage
from storage.sql import changed, conflict_insert


async def add_usage(
    session: AsyncSession, *, network: str, month: str, kind: str, calls: int, items: int
) -> None:
    """Add calls and items to the month's count (one statement, safe across replicas)."""
    statement = conflict_insert(session, NetworkUsage).values(
        network=network, month=month, kind=kind, calls=calls, items=items
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["network", "month", "kind"],
            set_={
                "calls": NetworkUsage.calls + statement.excluded["calls"],
                "items": NetworkUsage.items + statement.excluded["items"],
            },
        )
    )


async def month_usage(
    session: AsyncSession, *, network: str, month: str
) -> dict[str, tuple[int, int]]:
    """Return the month's (calls, items) by kind."""
    rows = await session.execute(
        select(NetworkUsage.kind, NetworkUsage.calls, NetworkUsage.items).where(
            NetworkUsage.network == network, NetworkUsage.month == month
        )
    )
    return {r.kind: (int(r.calls), int(r.items)) for r in rows}


async def claim_notice(session: AsyncSession, *, month: str, level: str, now: datetime) -> bool:
    """Record that the month's `level` notice is being posted; False if it already was."""
    result = await session.execute(
        conflict_insert(session, BudgetNotice)
        .values(month=month, level=level, at=now)
        .on_conflict_do_nothing(index_elements=["month", "level"])
    )
    return changed(result)
