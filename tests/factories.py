"""Factories the service tests share: the sandbox X with the real X adapter started against it
(with the sandbox's own credentials), on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.sandbox.x import FakeX
from bot.sources.x import XSource
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
