"""Fixtures for the sandbox tests: a FakeSlack on loopback driven by a hand-moved monotonic clock
(`mono`), and a real slack_sdk AsyncWebClient pointed at it. Modules that need a differently set
up fake define their own `fake` or `client`, which take precedence."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack import FakeSlack
from tests.sandbox.slack_helpers import ManualClock


@pytest.fixture
def mono() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(mono: ManualClock) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(clock=mono) as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
