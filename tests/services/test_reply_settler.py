"""The reply settler on a real database, with an injected clock and the sandbox Slack: pending
replies are left to their process for the grace period, unknown ones are looked for, "not found"
is trusted only after the network's visibility delay, a network that cannot answer leaves the
reply in doubt, Slack failures keep announcements owed, and two settlers never settle twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.access import AccessPolicy
from bot.delivery import DeliveryService
from bot.errors import NetworkUnavailable
from bot.replies import ReplyService, ReplyUnconfirmed
from bot.sandbox.slack import FakeSlack
from bot.settler import ReplySettler
from bot.sources import SentReply, SourceLimits
from bot.sources.registry import SourceRegistry
from bot.sources.x_text import x_weighted_length
from storage import cases
from storage.engine import SessionFactory
from storage.models import Case, CaseStatus, Event, Reply, ReplyState
from tests.conftest import FakeClock
from tests.services.test_ownership_replies import RecordingSource, seed

CHANNEL = "C0CARE"
AGENT = "U0AMY"


class DoubtfulSource(RecordingSource):
    """A source whose posts may be stored while the answer is lost, and hidden for a while."""

    limits = SourceLimits(reply_max=280, measure=x_weighted_length, reply_visible_after=20)

    def __init__(self) -> None:
        super().__init__()
        self.store_then_fail = False
        self.hidden = False
        self.find_error: Exception | None = None
        self.finds = 0

    async def reply(self, *, to_external_id: str, text: str) -> SentReply:
        if self.store_then_fail:
            self.replies.append((to_external_id, text))
            raise NetworkUnavailable("X is having trouble (error 503).")
        return await super().reply(to_external_id=to_external_id, text=text)

    async def find_reply(
        self, *, to_external_id: str, text: str, not_before: datetime
    ) -> SentReply | None:
        self.finds += 1
        if self.find_error is not None:
            raise self.find_error
        if self.hidden:
            return None
        return await super().find_reply(
            to_external_id=to_external_id, text=text, not_before=not_before
        )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_channel(CHANNEL, name="social-care")
    await fake.start()
    yield fake
    await fake.stop()


def build(
    sessions: SessionFactory, clock: FakeClock, slack: FakeSlack, source: DoubtfulSource
) -> tuple[ReplyService, ReplySettler, ReplySettler]:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    access = AccessPolicy(slack=client, agents=[], leads=[])
    client.retry_handlers = []

    def settler(holder: str) -> ReplySettler:
        delivery = DeliveryService(
            sessions=sessions, slack=client, channel=CHANNEL, clock=clock, holder=holder
        )
        return ReplySettler(
            sessions=sessions,
            clock=clock,
            sources={"x": source},
            delivery=delivery,
            slack=client,
            holder=holder,
            pending_grace=timedelta(seconds=20),
        )

    replies = ReplyService(
        sessions=sessions, clock=clock, access=access, sources=SourceRegistry.of([source])
    )
    return replies, settler("one"), settler("two")


async def with_card(sessions: SessionFactory, slack: FakeSlack) -> int:
    case_id = await seed(sessions)
    posted = slack._chat_post_message({"channel": CHANNEL, "text": "card"})
    async with sessions() as s, s.begin():
        case = await s.get(Case, case_id)
        assert case is not None
        case.card_ts = str(posted["ts"])
        case.slack_channel = CHANNEL
    return case_id


async def only_reply(sessions: SessionFactory) -> Reply:
    async with sessions() as s:
        return (await s.scalars(select(Reply))).one()


def thread(slack: FakeSlack) -> str:
    (card,) = slack.channel_messages(CHANNEL)
    return "\n".join(m.text for m in slack.thread(CHANNEL, card.ts))


async def test_unknown_reply_found_is_sent_once_and_announced(
    sessions: SessionFactory, clock: FakeClock, slack: FakeSlack
) -> None:
    source = DoubtfulSource()
    replies, one, two = build(sessions, clock, slack, source)
    case_id = await with_card(sessions, slack)
    source.store_then_fail = True
    with pytest.raises(ReplyUnconfirmed):
        await replies.send(case_id=case_id, user=AGENT, text="On it!", key="k", resolve_after=True)
    assert (await only_reply(sessions)).state == ReplyState.UNKNOWN
    # The same key, or any other submission for the case, is refused while in doubt.
    for key in ("k", "other"):
        with pytest.raises(Exception, match="could post twice"):
            await replies.send(
                case_id=case_id, user=AGENT, text="On it!", key=key, resolve_after=True
            )
    await asyncio.gather(one.run_once(), two.run_once())
    reply = await only_reply(sessions)
    assert reply.state == ReplyState.SENT
    assert reply.external_id == "91"
    assert len(source.replies) == 1
    async with sessions() as s:
        case = await s.get(Case, case_id)
        kinds = [e.kind for e in await s.scalars(select(Event).order_by(Event.id))]
    assert case is not None
    assert case.status == CaseStatus.RESOLVED  # "resolve after sending" survives the doubt
    assert kinds.count("replied") == 1
    assert thread(slack).count("replied on X") == 1
    (dm,) = slack.direct_messages(AGENT)
    assert "went out on X after all" in dm.text
    await one.run_once()
    assert len(slack.direct_messages(AGENT)) == 1
    assert reply.notice is None
    assert not reply.thread_due


async def test_not_found_is_trusted_only_after_the_visibility_delay(
    sessions: SessionFactory, clock: FakeClock, slack: FakeSlack
) -> None:
    source = DoubtfulSource()
    replies, one, _ = build(sessions, clock, slack, source)
    case_id = await with_card(sessions, slack)
    source.store_then_fail = True
    source.hidden = True  # X stored it, but does not show it yet
    with pytest.raises(ReplyUnconfirmed):
        await replies.send(case_id=case_id, user=AGENT, text="Hi!", key="k", resolve_after=False)
    clock.advance(seconds=19)
    await one.run_once()
    assert (await only_reply(sessions)).state == ReplyState.UNKNOWN
    source.hidden = False
    clock.advance(seconds=2)
    await one.run_once()
    assert (await only_reply(sessions)).state == ReplyState.SENT


async def test_a_send_that_never_left_is_not_posted_after_the_delay(
    sessions: SessionFactory, clock: FakeClock, slack: FakeSlack
) -> None:
    source = DoubtfulSource()
    _, one, _ = build(sessions, clock, slack, source)
    case_id = await with_card(sessions, slack)
    async with sessions() as s, s.begin():  # what a process killed mid-send leaves behind
        await cases.record_pending_reply(
            s, case_id=case_id, key="k", author=AGENT, text="Hi Dana", now=clock(), target_id="101"
        )
    clock.advance(seconds=10)
    await one.run_once()
    assert (await only_reply(sessions)).state == ReplyState.PENDING  # still its process's
    assert source.finds == 0
    clock.advance(seconds=15)
    source.find_error = NetworkUnavailable("X is down.")
    await one.run_once()
    assert (await only_reply(sessions)).state == ReplyState.UNKNOWN  # X could not tell
    source.find_error = None
    await one.run_once()
    reply = await only_reply(sessions)
    assert reply.state == ReplyState.FAILED
    assert "no trace" in (reply.error or "")
    assert "did not go out on X" in thread(slack)
    (dm,) = slack.direct_messages(AGENT)
    assert "Hi Dana" in dm.text
    assert "sending it again is safe" in dm.text
    async with sessions() as s:
        case = await s.get(Case, case_id)
    assert case is not None
    assert case.status == CaseStatus.OPEN


async def test_announcements_wait_out_a_slack_outage(
    sessions: SessionFactory, clock: FakeClock, slack: FakeSlack
) -> None:
    source = DoubtfulSource()
    replies, one, _ = build(sessions, clock, slack, source)
    case_id = await with_card(sessions, slack)
    await replies.send(case_id=case_id, user=AGENT, text="Done!", key="k", resolve_after=False)
    await replies.owe_notice(reply_id=(await only_reply(sessions)).id, notice="It went out.")
    slack.fail_next("chat.postMessage", status=500, count=3)
    await one.run_once()  # the thread line and the DM both fail
    reply = await only_reply(sessions)
    assert reply.thread_due
    assert reply.notice == "It went out."
    await one.run_once()  # the thread line fails again; the DM goes
    await one.run_once()
    reply = await only_reply(sessions)
    assert not reply.thread_due
    assert reply.notice is None
    assert thread(slack).count("replied on X") == 1
    assert [m.text for m in slack.direct_messages(AGENT)] == ["It went out."]


async def test_a_reply_on_a_network_without_a_source_stays_in_doubt(
    sessions: SessionFactory, clock: FakeClock, slack: FakeSlack
) -> None:
    source = DoubtfulSource()  # an X source; the case below is on another network
    _, one, _ = build(sessions, clock, slack, source)
    case_id = await with_card(sessions, slack)
    async with sessions() as s, s.begin():
        case = await s.get(Case, case_id)
        assert case is not None
        case.network = "bluesky"
        await cases.record_pending_reply(
            s, case_id=case_id, key="k", author=AGENT, text="Hi", now=clock(), target_id="101"
        )
    clock.advance(minutes=5)
    await one.run_once()
    assert (await only_reply(sessions)).state == ReplyState.UNKNOWN  # never guessed "not posted"
    assert source.finds == 0
    assert slack.direct_messages(AGENT) == []
