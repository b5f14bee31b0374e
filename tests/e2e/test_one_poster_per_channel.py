"""The channel's one message a second goes to new cards first, and is spent by one process.

Nags wait while a new card waits (a customer without a card cannot be answered at all), and
only the process holding the delivery lease posts them; a thread line queued by a click on
another replica is posted by the holder, paced with everything else, not by the clicked one
racing it for the same second."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.cards import publish_change
from bot.delivery import DeliveryService
from bot.domain.events import Claimed
from bot.pacing import ChannelPacer
from bot.sandbox.slack import FakeSlack
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import CardLine, CardState, Case
from tests.conftest import FakeClock
from tests.factories import pending_case

CHANNEL = "C0CARE"
AGENT = "U0AGENT1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_channel(CHANNEL, name="care")
        yield slack


def _delivery(
    fake: FakeSlack, sessions: SessionFactory, clock: FakeClock, holder: str
) -> DeliveryService:
    return DeliveryService(
        sessions=sessions,
        slack=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
        channel=CHANNEL,
        clock=clock,
        pacer=ChannelPacer(per_second=None),
        holder=holder,
    )


async def test_nags_wait_for_new_cards_and_for_the_delivering_process(
    fake: FakeSlack, sessions: SessionFactory, clock: FakeClock
) -> None:
    holder = _delivery(fake, sessions, clock, "replica-a")
    other = _delivery(fake, sessions, clock, "replica-b")
    async with sessions() as s, s.begin():
        s.add(pending_case(1, clock.now))
    # Nobody delivers yet: the first to ask takes the lease, and a card waits, so no nags.
    assert not await holder.nags_may_go()
    assert await holder.delivers_here()
    assert not await other.delivers_here()
    await holder.run_once()
    async with sessions() as s:
        (case,) = await s.scalars(select(Case))
    assert case.card_state == CardState.POSTED
    assert await holder.nags_may_go()
    # Another replica never posts nags while the holder delivers, cards waiting or not.
    assert not await other.nags_may_go()
    async with sessions() as s, s.begin():
        s.add(pending_case(2, clock.now))
    assert not await holder.nags_may_go()


async def test_a_line_queued_on_another_replica_is_posted_by_the_holder(
    fake: FakeSlack, sessions: SessionFactory, clock: FakeClock
) -> None:
    holder = _delivery(fake, sessions, clock, "replica-a")
    clicked = _delivery(fake, sessions, clock, "replica-b")
    async with sessions() as s, s.begin():
        s.add(pending_case(1, clock.now))
    await holder.run_once()
    async with sessions() as s:
        (row,) = await s.scalars(select(Case))
    assert row.card_ts is not None
    threaded = len(fake.calls_to("chat.postMessage"))
    await publish_change(clicked, case_value(row), Claimed(AGENT))
    # The clicked replica redrew the card but left the line to the holder: one poster.
    assert len(fake.calls_to("chat.postMessage")) == threaded
    async with sessions() as s:
        (line,) = await s.scalars(select(CardLine))
    assert line.posted_at is None
    await holder.run_once()
    replies = fake.thread(CHANNEL, row.card_ts)
    assert [m.text for m in replies if m.text and AGENT in m.text]
    async with sessions() as s:
        (line,) = await s.scalars(select(CardLine))
    assert line.posted_at is not None
