"""Factories the tests share: the sandbox X with the real X adapter started against it (with the
sandbox's own credentials), on a clock the test moves; and an open case waiting for its card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from bot.sandbox.x import FakeX
from bot.sources.x import XSource
from storage.models import CardState, Case, CaseStatus, Priority
from tests.conftest import FakeClock


@asynccontextmanager
async def fake_x_and_source(clock: FakeClock) -> AsyncIterator[tuple[FakeX, XSource]]:
    """Run the sandbox X and yield it with a started X adapter that talks to it."""
    async with FakeX(clock=clock) as x:
        source = XSource(
            api_url=x.api_url,
            bearer_token="sandbox-bearer",
            api_key="sandbox-key",
            api_secret="s",
            access_token="sandbox-access",
            access_token_secret="s",
            user_id=x.brand.id,
            clock=clock,
        )
        await source.start()
        try:
            yield x, source
        finally:
            await source.close()


def pending_case(n: int, now: datetime) -> Case:
    """Return open case `n` on X, ingested at `now`, whose card was never tried."""
    return Case(
        network="x",
        external_id=str(1000 + n),
        conversation_id=str(1000 + n),
        author_id="42",
        author_handle=f"c{n}",
        author_name=f"C {n}",
        text=f"@acme help {n}",
        url=f"https://x.com/i/status/{1000 + n}",
        posted_at=datetime(2026, 11, 23, 11, 0, n % 60, tzinfo=UTC),
        ingested_at=now,
        last_customer_at=now,
        priority=Priority.NORMAL,
        status=CaseStatus.OPEN,
        card_state=CardState.PENDING,
    )
