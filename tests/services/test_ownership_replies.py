"""Ownership and replies on real databases (SQLite and PostgreSQL): the conditional UPDATE picks
exactly one owner under concurrency, and a reply key posts at most once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.access import AccessPolicy
from bot.domain import Released, Resolved, ResolveReason
from bot.errors import (
    AlreadyClaimed,
    CaseClosed,
    NetworkUnavailable,
    NotAllowed,
    ReplyEmpty,
    ReplyInFlight,
    ReplyTooLong,
)
from bot.ownership import OwnershipService
from bot.replies import ReplyNotSent, ReplyService
from bot.sandbox.slack import FakeSlack
from bot.sources import Author, FetchResult, SentReply, SourceLimits
from bot.sources.registry import SourceRegistry
from bot.sources.x_text import x_weighted_length
from storage.engine import SessionFactory
from storage.models import Case, CaseMessage, CaseStatus, Event, Reply, ReplyState
from tests.conftest import FakeClock

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class RecordingSource:
    """A Source fake that records replies; `fail_with` makes the next reply fail."""

    network = "x"
    limits = SourceLimits(reply_max=280, measure=x_weighted_length)

    def __init__(self) -> None:
        self.replies: list[tuple[str, str]] = []
        self.fail_with: Exception | None = None
        self.delay = 0.0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def whoami(self) -> Author:
        return Author(external_id="1", handle="acmehelp", name="Acme")

    async def fetch_since(self, cursor: str | None, *, not_before: datetime) -> FetchResult:
        return FetchResult(mentions=[], cursor=cursor)

    async def reply(self, *, to_external_id: str, text: str) -> SentReply:
        await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self.replies.append((to_external_id, text))
        return SentReply(external_id=f"9{len(self.replies)}", url="https://x.com/i/web/status/9")

    async def find_reply(
        self, *, to_external_id: str, text: str, not_before: datetime
    ) -> SentReply | None:
        for index, (target, sent) in enumerate(self.replies, start=1):
            if (target, sent) == (to_external_id, text):
                return SentReply(external_id=f"9{index}", url="https://x.com/i/web/status/9")
        return None


async def seed(sessions: SessionFactory) -> int:
    async with sessions() as s, s.begin():
        case = Case(
            network="x",
            external_id="100",
            conversation_id="100",
            author_id="42",
            author_handle="dana",
            author_name="Dana",
            text="@acmehelp help",
            url="https://x.com/dana/status/100",
            posted_at=T0,
            ingested_at=T0,
            last_customer_at=T0,
            due_at=T0 + timedelta(hours=1),
        )
        s.add(case)
        await s.flush()
        s.add(
            CaseMessage(
                case_id=case.id,
                network="x",
                external_id="100",
                author_id="42",
                text="@acmehelp help",
                url="u",
                posted_at=T0,
            )
        )
        follow_up_at = T0 + timedelta(minutes=5)
        s.add(
            CaseMessage(
                case_id=case.id,
                network="x",
                external_id="101",
                author_id="42",
                text="hello?",
                url="u",
                posted_at=follow_up_at,
                is_follow_up=True,
            )
        )
        return case.id


def services(
    sessions: SessionFactory, clock: FakeClock, access: AccessPolicy, source: RecordingSource
) -> tuple[OwnershipService, ReplyService]:
    ownership = OwnershipService(
        sessions=sessions,
        clock=clock,
        access=access,
        reschedule=lambda case, now: (now + timedelta(hours=1), None),
    )
    replies = ReplyService(
        sessions=sessions, clock=clock, access=access, sources=SourceRegistry.of([source])
    )
    return ownership, replies


@pytest.fixture
def open_access() -> AccessPolicy:
    return AccessPolicy(slack=AsyncWebClient(token="xoxb-unused"), agents=[], leads=["U0LEAD"])


async def test_concurrent_claims_have_one_winner(
    sessions: SessionFactory, clock: FakeClock, open_access: AccessPolicy
) -> None:
    case_id = await seed(sessions)
    ownership, _ = services(sessions, clock, open_access, RecordingSource())
    users = [f"U{i:03d}" for i in range(50)]
    results = await asyncio.gather(
        *(ownership.claim(case_id=case_id, user=u) for u in users), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    losers = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, AlreadyClaimed) for r in losers)
    owner = winners[0].case.owner
    assert all(isinstance(r, AlreadyClaimed) and r.owner == owner for r in losers)
    async with sessions() as s:
        events = (await s.scalars(select(Event).where(Event.kind == "claimed"))).all()
    assert len(events) == 1


async def test_release_resolve_reopen_rules(
    sessions: SessionFactory, clock: FakeClock, open_access: AccessPolicy
) -> None:
    case_id = await seed(sessions)
    ownership, _ = services(sessions, clock, open_access, RecordingSource())
    await ownership.claim(case_id=case_id, user="U0AMY")
    with pytest.raises(NotAllowed):
        await ownership.release(case_id=case_id, user="U0BEN")
    with pytest.raises(NotAllowed):
        await ownership.resolve(case_id=case_id, user="U0BEN", reason=ResolveReason.SPAM)
    released = await ownership.release(case_id=case_id, user="U0LEAD")
    assert released.case.owner is None
    assert released.event == Released("U0AMY", by="U0LEAD")
    resolved = await ownership.resolve(case_id=case_id, user="U0BEN", reason=ResolveReason.SPAM)
    assert resolved.case.status == CaseStatus.RESOLVED
    assert resolved.case.next_nag_at is None
    with pytest.raises(CaseClosed):
        await ownership.claim(case_id=case_id, user="U0AMY")
    clock.advance(hours=3)
    reopened = await ownership.reopen(case_id=case_id, user="U0AMY")
    assert reopened.case.status == CaseStatus.OPEN
    assert reopened.case.due_at == clock() + timedelta(hours=1)
    again = await ownership.reopen(case_id=case_id, user="U0AMY")
    assert again.event is None  # nothing changed


async def test_reply_answers_the_latest_post_once_per_key(
    sessions: SessionFactory, clock: FakeClock, open_access: AccessPolicy
) -> None:
    case_id = await seed(sessions)
    source = RecordingSource()
    source.delay = 0.05
    _, replies = services(sessions, clock, open_access, source)
    send = replies.send(
        case_id=case_id, user="U0AMY", text=" Hi Dana! ", key="k1", resolve_after=False
    )
    double = replies.send(
        case_id=case_id, user="U0AMY", text="Hi Dana!", key="k1", resolve_after=False
    )
    first, second = await asyncio.gather(send, double, return_exceptions=True)
    outcomes = [r for r in (first, second) if not isinstance(r, BaseException)]
    assert len(outcomes) == 1
    assert any(isinstance(r, ReplyInFlight) for r in (first, second))
    assert source.replies == [("101", "Hi Dana!")]  # the follow-up, the latest customer post
    repeat = await replies.send(
        case_id=case_id, user="U0AMY", text="Hi Dana!", key="k1", resolve_after=False
    )
    assert repeat.repeated
    assert len(source.replies) == 1
    case = outcomes[0].case
    assert case.status == CaseStatus.REPLIED
    assert case.owner == "U0AMY"
    assert case.first_response_at == clock()


async def test_failed_reply_is_kept_and_can_be_retried(
    sessions: SessionFactory, clock: FakeClock, open_access: AccessPolicy
) -> None:
    case_id = await seed(sessions)
    source = RecordingSource()
    _, replies = services(sessions, clock, open_access, source)
    # Refused before anything left (connection refused): certainly not posted, so retryable.
    source.fail_with = NetworkUnavailable("X is not answering right now.", may_have_posted=False)
    with pytest.raises(ReplyNotSent):
        await replies.send(case_id=case_id, user="U0AMY", text="On it", key="k", resolve_after=True)
    async with sessions() as s:
        reply = (await s.scalars(select(Reply))).one()
        case = await s.get(Case, case_id)
    assert reply.state == ReplyState.FAILED
    assert reply.text == "On it"
    assert case is not None
    assert case.status == CaseStatus.OPEN
    done = await replies.send(
        case_id=case_id, user="U0AMY", text="On it", key="k", resolve_after=True
    )
    assert done.case.status == CaseStatus.RESOLVED
    assert len(source.replies) == 1


def test_validation_counts_like_x(open_access: AccessPolicy) -> None:
    replies = ReplyService(
        sessions=None,  # type: ignore[arg-type]
        clock=FakeClock(),
        access=open_access,
        sources=SourceRegistry.of([RecordingSource()]),
    )
    with pytest.raises(ReplyEmpty):
        replies.validate("  \n ", network="x")
    with pytest.raises(ReplyTooLong):
        replies.validate("字" * 141, network="x")  # wide characters count 2
    assert replies.validate("字" * 140, network="x") == "字" * 140
    url = "https://example.com/" + "a" * 300
    assert replies.validate(f"See {url}", network="x") == f"See {url}"  # a link counts 23


async def test_access_policy_reads_user_groups() -> None:
    async with FakeSlack() as slack:
        slack.set_usergroup("S0LEADS", ["U0LEAD"])
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        access = AccessPolicy(slack=client, agents=["U0AMY", "S0LEADS"], leads=["S0LEADS"])
        assert await access.is_agent("U0AMY")
        assert await access.is_agent("U0LEAD")
        assert not await access.is_agent("U0STRANGER")
        assert await access.is_lead("U0LEAD")
        assert not await access.is_lead("U0AMY")
        calls = len(slack.calls_to("usergroups.users.list"))
        assert await access.is_lead("U0LEAD")
        assert len(slack.calls_to("usergroups.users.list")) == calls  # cached


async def test_resolve_stores_the_reason_value_and_the_note_apart(
    sessions: SessionFactory, clock: FakeClock, open_access: AccessPolicy
) -> None:
    case_id = await seed(sessions)
    ownership, _ = services(sessions, clock, open_access, RecordingSource())
    done = await ownership.resolve(
        case_id=case_id, user="U0AMY", reason=ResolveReason.SPAM, note="  a bot, again  "
    )
    assert done.event == Resolved("U0AMY", ResolveReason.SPAM, "a bot, again")
    assert (done.case.resolve_reason, done.case.resolve_note) == (
        ResolveReason.SPAM,
        "a bot, again",
    )
    async with sessions() as s:
        row = await s.get(Case, case_id)
        event = (await s.scalars(select(Event).where(Event.kind == "resolved"))).one()
    assert row is not None
    assert (row.resolve_reason, row.resolve_note) == ("spam", "a bot, again")
    assert event.detail == {"reason": "spam", "note": "a bot, again"}
    reopened = await ownership.reopen(case_id=case_id, user="U0AMY")
    assert (reopened.case.resolve_reason, reopened.case.resolve_note) == (None, None)
