"""Ingest on a real database: idempotent, cursor in the same transaction, follow-ups, priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.durations import BusinessHours
from bot.ingest import IngestService, PriorityRules
from bot.sla import ResponsePolicy
from bot.sources import Author, Mention
from storage import claims, intake
from storage.engine import SessionFactory
from storage.models import Case, CaseMessage, CaseStatus, Priority
from tests.conftest import FakeClock

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def mention(
    external_id: str,
    *,
    text: str = "@acme where is my parcel?",
    author: str = "dana",
    conversation: str | None = None,
    followers: int = 100,
    minutes: int = 0,
) -> Mention:
    return Mention(
        network="x",
        external_id=external_id,
        conversation_id=conversation or external_id,
        author=Author(
            external_id=f"id-{author}", handle=author, name=author.title(), followers=followers
        ),
        text=text,
        url=f"https://x.com/{author}/status/{external_id}",
        posted_at=T0 + timedelta(minutes=minutes),
    )


def service(sessions: SessionFactory, clock: FakeClock) -> IngestService:
    policy = ResponsePolicy(
        normal=timedelta(minutes=60),
        urgent=timedelta(minutes=15),
        hours=BusinessHours(),
        zone=ZoneInfo("UTC"),
    )
    rules = PriorityRules(urgent_words=["refund", "outage"], urgent_followers=10_000)
    return IngestService(sessions=sessions, clock=clock, policy=policy, rules=rules)


async def count(sessions: SessionFactory, model: type[object]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_ingest_is_idempotent_and_saves_the_cursor(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    ingest = service(sessions, clock)
    batch = [mention(str(i), author=f"user{i}") for i in range(1, 26)]
    result = await ingest.ingest(source_key="x:brand", mentions=batch, cursor="25")
    assert (result.new_cases, result.duplicates) == (25, 0)
    again = await ingest.ingest(source_key="x:brand", mentions=batch[10:], cursor="25")
    assert (again.new_cases, again.duplicates) == (0, 15)
    assert await count(sessions, Case) == 25
    assert await count(sessions, CaseMessage) == 25
    async with sessions() as s:
        saved = await intake.get_cursor(s, source="x:brand")
    assert saved is not None
    assert saved.cursor == "25"


async def test_due_and_priority(sessions: SessionFactory, clock: FakeClock) -> None:
    ingest = service(sessions, clock)
    await ingest.ingest(
        source_key="x",
        mentions=[
            mention("1"),
            mention("2", text="@acme I want a REFUND now", author="b"),
            mention("3", author="celebrity", followers=2_000_000),
            mention("4", text="@acme refunding policy?", author="c"),
        ],
        cursor="4",
    )
    async with sessions() as s:
        cases = {c.external_id: c for c in await s.scalars(select(Case))}
    assert cases["1"].priority == Priority.NORMAL
    assert cases["1"].due_at == T0 + timedelta(minutes=60)
    assert cases["2"].priority == Priority.URGENT
    assert cases["2"].due_at == T0 + timedelta(minutes=15)
    assert cases["3"].priority == Priority.URGENT
    assert cases["4"].priority == Priority.NORMAL  # whole words only


async def test_follow_up_joins_the_open_case_and_reopens_a_replied_one(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    ingest = service(sessions, clock)
    await ingest.ingest(source_key="x", mentions=[mention("10")], cursor="10")
    async with sessions() as s, s.begin():
        case = (await s.scalars(select(Case))).one()
        case.status = CaseStatus.REPLIED
        version = case.card_version
    result = await ingest.ingest(
        source_key="x",
        mentions=[
            mention("11", conversation="10", minutes=30, text="@acme still nothing"),
            mention("12", conversation="10", author="someone-else", minutes=31),
        ],
        cursor="12",
    )
    assert (result.new_cases, result.follow_ups) == (1, 1)
    async with sessions() as s:
        case = (await s.scalars(select(Case).where(Case.external_id == "10"))).one()
        follow = (await s.scalars(select(CaseMessage).where(CaseMessage.external_id == "11"))).one()
    assert case.message_count == 2
    assert case.status == CaseStatus.OPEN
    assert case.due_at == T0 + timedelta(minutes=90)  # next-response deadline from the new post
    assert case.card_version == version + 1
    assert case.card_dirty_at is not None
    assert follow.is_follow_up
    assert not follow.thread_posted


async def test_same_mention_twice_in_one_batch(sessions: SessionFactory, clock: FakeClock) -> None:
    ingest = service(sessions, clock)
    result = await ingest.ingest(source_key="x", mentions=[mention("5"), mention("5")], cursor="5")
    assert (result.new_cases, result.duplicates) == (1, 1)


async def test_leases_are_exclusive_until_they_expire(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    ttl = timedelta(seconds=30)
    async with sessions() as s, s.begin():
        assert await claims.acquire_lease(s, name="poll:x", holder="a", now=clock(), ttl=ttl)
    async with sessions() as s, s.begin():
        assert not await claims.acquire_lease(s, name="poll:x", holder="b", now=clock(), ttl=ttl)
        assert await claims.acquire_lease(s, name="poll:x", holder="a", now=clock(), ttl=ttl)
    clock.advance(seconds=31)
    async with sessions() as s, s.begin():
        assert await claims.acquire_lease(s, name="poll:x", holder="b", now=clock(), ttl=ttl)
    async with sessions() as s, s.begin():
        await claims.release_lease(s, name="poll:x", holder="b")
    async with sessions() as s, s.begin():
        assert await claims.acquire_lease(s, name="poll:x", holder="a", now=clock(), ttl=ttl)
