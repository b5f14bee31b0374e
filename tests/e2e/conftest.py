"""Fixtures the end-to-end tests share: the sandbox, and the PostgreSQL database emptied."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.stack import Sandbox, sandbox
from tests.conftest import POSTGRES_URL, reset_postgres


@pytest.fixture
async def stack() -> AsyncIterator[Sandbox]:
    """Fake Slack and fake X on free loopback ports."""
    async with sandbox() as running:
        yield running


@pytest.fixture
async def pg_url() -> str:
    """The test PostgreSQL database, emptied (modules using it skip without one)."""
    assert POSTGRES_URL is not None
    await reset_postgres(POSTGRES_URL)
    return POSTGRES_URL
