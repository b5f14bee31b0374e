"""Content compliance on real databases (SQLite and PostgreSQL): the sandbox X deletes, hides and
edits posts, the job follows within one run, retention purges old text, `forget` erases a person;
cases and their figures stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.blocks.card import render_card
from bot.compliance import ComplianceService, describe_forgotten
from bot.durations import BusinessHours
from bot.ingest import IngestService, PriorityRules
from bot.sandbox.x import FakeX
from bot.sla import ResponsePolicy
from bot.sources.x import XSource
from storage import compliance as store
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import Case, CaseMessage, Event
from tests.conftest import FakeClock
from tests.factories import fake_x_and_source

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass
class World:
    x: FakeX
    source: XSource
    sessions: SessionFactory
    clock: FakeClock
    service: ComplianceService

    async def poll(self) -> None:
        ingest = IngestService(
            sessions=self.sessions,
            clock=self.clock,
            policy=ResponsePolicy(
                normal=HOUR, urgent=HOUR / 4, hours=BusinessHours(), zone=ZoneInfo("UTC")
            ),
            rules=PriorityRules(urgent_words=[], urgent_followers=10_000),
        )
        fetched = await self.source.fetch_since(None, not_before=T0 - timedelta(days=400))
        await ingest.ingest(source_key="x", mentions=fetched.mentions, cursor=fetched.cursor)

    async def case(self, external_id: str) -> Case:
        async with self.sessions() as s:
            return (await s.scalars(select(Case).where(Case.external_id == external_id))).one()

    async def message(self, external_id: str) -> CaseMessage:
        async with self.sessions() as s:
            query = select(CaseMessage).where(CaseMessage.external_id == external_id)
            return (await s.scalars(query)).one()


@pytest.fixture
async def world(sessions: SessionFactory) -> AsyncIterator[World]:
    clock = FakeClock(T0)
    async with fake_x_and_source(clock) as (x, source):
        service = ComplianceService(
            sessions=sessions,
            clock=clock,
            sources=[source],
            interval=HOUR,
            retention=timedelta(days=90),
            holder="test",
        )
        yield World(x, source, sessions, clock, service)


async def test_deleted_protected_and_edited_posts_are_followed_in_one_run(world: World) -> None:
    x = world.x
    gone = x.add_mention("@acmehelp my card number is 4111 oops", author_handle="dana")
    locked = x.add_mention("@acmehelp private matter", author_handle="eve")
    typo = x.add_mention("@acmehelp my ordr is late", author_handle="finn")
    fine = x.add_mention("@acmehelp thanks!", author_handle="gus")
    follow = x.add_mention("@acmehelp and also this", author_handle="dana", in_reply_to=gone)
    await world.poll()
    x.delete(gone)
    x.protect("eve")
    x.edit(typo, "@acmehelp my order is late & cold")
    result = await world.service.run_once()
    assert result.checked == 5
    assert result.removed == {"deleted": 1, "protected": 1}
    assert result.edited == 1
    removed = await world.case(gone.id)
    assert (removed.text, removed.content_removed) == ("", "deleted")
    assert removed.card_dirty_at is not None
    card = render_card(case_value(removed), now=world.clock())
    assert "The author deleted this post." in str(card.blocks)
    assert "4111" not in str(card.blocks) + card.text
    assert (await world.message(gone.id)).text == ""
    assert (await world.message(follow.id)).text == "@acmehelp and also this"
    hidden = await world.case(locked.id)
    assert (hidden.text, hidden.content_removed) == ("", "protected")
    edited = await world.case(typo.id)
    assert edited.text == "@acmehelp my order is late & cold"
    shown = render_card(case_value(edited), now=world.clock())
    assert "my order is late &amp; cold" in str(shown.blocks)
    assert (await world.case(fine.id)).text == "@acmehelp thanks!"
    # One lookup call for all five (up to 100 ids a call), one more for the edit's new version.
    lookups = [r for r in x.requests if r.path == "/2/tweets" and r.method == "GET"]
    assert len(lookups) == 2
    assert len(lookups[0].query["ids"].split(",")) == 5
    async with world.sessions() as s:
        # Every case still counts; the removals are in the log.
        assert await s.scalar(select(func.count()).select_from(Case)) == 4
        kinds = (await s.scalars(select(Event.kind).where(Event.kind == "content_removed"))).all()
    assert len(kinds) == 2
    # Within the interval nothing is asked again; after it, everything still stored is.
    again = await world.service.run_once()
    assert again.checked == 0
    world.clock.advance(hours=1)
    later = await world.service.run_once()
    assert later.checked == 3  # the two purged posts are no longer looked up


async def test_lookups_go_in_batches_of_100(world: World) -> None:
    for i in range(130):
        world.x.add_mention(f"@acmehelp question {i}", author_handle=f"c{i}")
    await world.poll()
    result = await world.service.run_once()
    assert result.checked == 130
    lookups = [r for r in world.x.requests if r.path == "/2/tweets" and r.method == "GET"]
    assert [len(r.query["ids"].split(",")) for r in lookups] == [100, 30]


async def test_retention_purges_text_and_keeps_the_figures(world: World) -> None:
    old = world.x.add_mention("@acmehelp ancient complaint", created_at=T0 - timedelta(days=91))
    new = world.x.add_mention("@acmehelp fresh complaint", author_handle="hal")
    await world.poll()
    result = await world.service.run_once()
    assert result.expired == 1
    aged = await world.case(old.id)
    assert (aged.text, aged.content_removed) == ("", "retention")
    assert aged.posted_at == T0 - timedelta(days=91)
    assert (await world.case(new.id)).text == "@acmehelp fresh complaint"
    # The old post is outside retention: it is not looked up any more.
    lookups = [r for r in world.x.requests if r.path == "/2/tweets" and r.method == "GET"]
    assert [r.query["ids"] for r in lookups] == [new.id]


async def test_forget_erases_a_person_and_says_what(world: World) -> None:
    first = world.x.add_mention("@acmehelp I'm Dana, my address is 1 Elm St", author_handle="Dana")
    world.x.add_mention("@acmehelp again, Dana here", author_handle="Dana", in_reply_to=first)
    other = world.x.add_mention("@acmehelp unrelated", author_handle="ivy")
    await world.poll()
    forgotten = await world.service.forget("@dana")
    assert (forgotten.cases, forgotten.posts) == (1, 2)
    case = await world.case(first.id)
    assert (case.text, case.author_handle, case.content_removed) == ("", "forgotten", "forgotten")
    assert "Dana" not in case.author_name
    assert case.url == f"https://x.com/i/web/status/{first.id}"
    async with world.sessions() as s:
        texts = await s.scalars(select(CaseMessage.text).where(CaseMessage.case_id == case.id))
        assert set(texts.all()) == {""}
    assert (await world.case(other.id)).text == "@acmehelp unrelated"
    said = describe_forgotten(forgotten)
    assert said.startswith("Erased @dana: the text of 2 posts")
    nothing = await world.service.forget("nobody")
    assert describe_forgotten(nothing) == "Nothing stored for @nobody; nothing was removed."


async def test_one_replica_runs_the_check_at_a_time(world: World) -> None:
    world.x.add_mention("@acmehelp hello")
    await world.poll()
    async with world.sessions() as s, s.begin():
        from storage import claims

        await claims.acquire_lease(
            s, name="compliance", holder="other", now=world.clock(), ttl=timedelta(minutes=5)
        )
    result = await world.service.run_once()
    assert result.held_elsewhere
    assert result.checked == 0
    world.clock.advance(minutes=6)
    assert (await world.service.run_once()).checked == 1


async def test_due_checks_skip_purged_and_recently_checked(world: World) -> None:
    world.x.add_mention("@acmehelp one")
    await world.poll()
    async with world.sessions() as s:
        due = await store.due_checks(
            s,
            network="x",
            posted_after=T0 - timedelta(days=1),
            checked_before=world.clock(),
            limit=10,
        )
    assert len(due) == 1
