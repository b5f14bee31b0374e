"""The SLA check on real databases (SQLite, and PostgreSQL when configured): each rung once; the
roll-up; who is named; silence after a reply or resolve; and the index-only selection of due
cases. Racing checkers and what happens when Slack is down are in test_nags_delivery.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import sla_check as sla_bench
from bot.ingest import IngestService, PriorityRules
from bot.sla import NagStep
from bot.sources import Author, Mention
from storage import cases as case_repo
from storage import nags
from storage.engine import SessionFactory, create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Case, CaseStatus
from tests.conftest import FakeClock
from tests.services.nag_helpers import (
    CHANNEL,
    POLICY,
    T0,
    RecordingNotifier,
    add_case,
    checker,
    load,
)


async def test_an_untouched_case_climbs_the_ladder_once(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    clock.now = T0
    case = await add_case(sessions, 1, owner="U0AGENT1")
    notifier = RecordingNotifier()
    check = checker(sessions, clock, notifier)
    expected = {45: NagStep.WARNING, 60: NagStep.BREACH, 90: 3, 120: 4, 150: 5}
    for minute in range(0, 300):
        clock.now = T0 + timedelta(minutes=minute)
        result = await check.run_once()
        assert result.posted == (1 if minute in expected else 0), minute
        if minute in expected:
            row = await load(sessions, case.id)
            assert row.nag_step == expected[minute]
    thread = notifier.thread(str(case.card_ts))
    assert len(thread) == 5
    assert notifier.posts == thread  # the breach is a thread reply…
    assert [p.broadcast for p in thread] == [False, True, False, False, False]  # …broadcast
    assert ":hourglass_flowing_sand: <@U0AGENT1>" in thread[0].text
    assert ":red_circle: <@U0AGENT1>" in thread[1].text
    assert "reminder 3 of 3" in thread[4].text
    row = await load(sessions, case.id)
    assert row.breached_at == T0 + timedelta(minutes=60)
    assert row.next_nag_at is None


async def test_warning_and_breach_mark_the_card_for_a_redraw(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    case = await add_case(sessions, 1)
    check = checker(sessions, clock, RecordingNotifier())
    versions = []
    for minute in (45, 60, 90):
        clock.now = T0 + timedelta(minutes=minute)
        await check.run_once()
        row = await load(sessions, case.id)
        versions.append(row.card_version)
        assert row.card_dirty_at is not None
    assert versions == [2, 3, 3]  # a reminder does not change what the card shows


async def test_nothing_is_nagged_after_a_reply_or_resolve(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    replied = await add_case(sessions, 1)
    resolved = await add_case(sessions, 2)
    breached_then_replied = await add_case(sessions, 3)
    notifier = RecordingNotifier()
    check = checker(sessions, clock, notifier)
    clock.now = T0 + timedelta(minutes=10)
    async with sessions() as s, s.begin():
        await case_repo.record_response(
            s, case_id=replied.id, user="U0AGENT1", resolve=False, now=clock.now
        )
        await case_repo.resolve(
            s, case_id=resolved.id, user="U0AGENT1", reason="spam", now=clock.now
        )
    clock.now = T0 + timedelta(minutes=61)
    await check.run_once()
    assert [p.thread_ts for p in notifier.posts] == [breached_then_replied.card_ts] * 1
    async with sessions() as s, s.begin():
        await case_repo.record_response(
            s, case_id=breached_then_replied.id, user="U0AGENT2", resolve=False, now=clock.now
        )
    for minute in range(62, 400, 7):
        clock.now = T0 + timedelta(minutes=minute)
        await check.run_once()
    assert len(notifier.posts) == 1


async def test_a_row_a_path_forgot_to_clear_is_cleared_not_nagged(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    # A replied case whose next_nag_at was left set (say, by an older version) never nags.
    case = await add_case(sessions, 1, status=CaseStatus.REPLIED)
    notifier = RecordingNotifier()
    clock.now = T0 + timedelta(hours=3)
    await checker(sessions, clock, notifier).run_once()
    assert notifier.posts == []
    assert (await load(sessions, case.id)).next_nag_at is None


async def test_a_follow_up_on_a_replied_case_restarts_the_ladder(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    rules = PriorityRules(urgent_words=[], urgent_followers=0)
    ingest = IngestService(sessions=sessions, clock=clock, policy=POLICY, rules=rules)
    case = await add_case(sessions, 1, owner="U0AGENT1")
    notifier = RecordingNotifier()
    check = checker(sessions, clock, notifier)
    clock.now = T0 + timedelta(minutes=50)
    await check.run_once()  # the warning
    async with sessions() as s, s.begin():
        await case_repo.record_response(
            s, case_id=case.id, user="U0AGENT1", resolve=False, now=clock.now
        )
    follow_up_at = T0 + timedelta(hours=5)
    clock.now = follow_up_at + timedelta(seconds=30)
    follow_up = Mention(
        network="x",
        external_id="tweet-1-b",
        conversation_id="tweet-1",
        author=Author(external_id="author-1", handle="customer1", name="Customer 1"),
        text="@acme still nothing arrived",
        url="https://x.com/customer1/status/tweet-1-b",
        posted_at=follow_up_at,
    )
    await ingest.ingest(source_key="x", mentions=[follow_up], cursor="2")
    row = await load(sessions, case.id)
    assert (row.status, row.nag_step) == (CaseStatus.OPEN, 0)
    assert row.due_at == follow_up_at + timedelta(hours=1)
    assert row.next_nag_at == follow_up_at + timedelta(minutes=45)
    clock.now = follow_up_at + timedelta(minutes=45)
    await check.run_once()
    warnings = [p for p in notifier.posts if ":hourglass" in p.text]
    assert len(warnings) == 2
    assert "a reply to their latest message is due" in warnings[1].text


@pytest.mark.parametrize(
    ("owner", "leads", "named"),
    [
        ("U0AGENT1", ["U0LEAD1"], "<@U0AGENT1>"),
        (None, ["U0LEAD1", "S0LEADS"], "<@U0LEAD1> <!subteam^S0LEADS> Nobody has claimed this"),
        (None, [], "<!here> Nobody has claimed this"),
    ],
)
async def test_the_breach_names_the_owner_or_the_leads(
    sessions: SessionFactory,
    clock: FakeClock,
    owner: str | None,
    leads: list[str],
    named: str,
) -> None:
    await add_case(sessions, 1, owner=owner)
    notifier = RecordingNotifier()
    check = checker(sessions, clock, notifier, leads=leads)
    clock.now = T0 + timedelta(minutes=45)
    await check.run_once()
    clock.now = T0 + timedelta(minutes=60)
    await check.run_once()
    warning, breach = notifier.posts
    if owner is None:
        assert warning.text.startswith(":hourglass_flowing_sand: <!here> Nobody has claimed this")
    assert breach.text.startswith(f":red_circle: {named}")
    assert breach.broadcast


async def test_more_than_five_breaches_are_rolled_up(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    cases = [await add_case(sessions, n, nag_step=NagStep.WARNING) for n in range(1, 8)]
    notifier = RecordingNotifier()
    clock.now = T0 + timedelta(minutes=60)
    result = await checker(sessions, clock, notifier, leads=["S0LEADS"]).run_once()
    assert (result.breaches, result.rolled_up, result.posted) == (7, True, 7)
    (rollup,) = notifier.channel()
    assert rollup.text.startswith(":red_circle: *7 cases are overdue* <!subteam^S0LEADS>:")
    for case in cases:
        assert f"https://slack.com/archives/{CHANNEL}/p{str(case.card_ts).replace('.', '')}" in (
            rollup.text
        )
        (in_thread,) = notifier.thread(str(case.card_ts))
        assert not in_thread.broadcast


async def test_five_breaches_are_five_broadcasts(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    for n in range(1, 6):
        await add_case(sessions, n, nag_step=NagStep.WARNING)
    notifier = RecordingNotifier()
    clock.now = T0 + timedelta(minutes=60)
    result = await checker(sessions, clock, notifier).run_once()
    assert (result.breaches, result.rolled_up) == (5, False)
    assert notifier.channel() == []
    assert [p.broadcast for p in notifier.posts] == [True] * 5


async def test_only_due_cases_are_examined(sessions: SessionFactory, clock: FakeClock) -> None:
    for n in range(1, 41):
        # Ten are due (posted 50 minutes ago); thirty are not yet near their deadline.
        await add_case(sessions, n, posted_at=T0 - timedelta(minutes=50 if n <= 10 else 5))
    clock.now = T0
    result = await checker(sessions, clock, RecordingNotifier()).run_once()
    assert (result.examined, result.posted) == (10, 10)


async def test_the_due_query_uses_the_next_nag_index_on_sqlite(tmp_path: Path) -> None:
    # SQLite only: it has no table statistics, so a poor index choice shows on an empty table;
    # PostgreSQL's planner rightly prefers a sequential scan there, so a plan proves nothing.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    await upgrade(engine)
    async with session_factory(engine)() as s:
        compiled = nags.due_statement(now=T0, limit=200).compile(dialect=engine.dialect)
        assert compiled.positiontup is not None
        params = tuple(str(compiled.params[name]) for name in compiled.positiontup)
        connection = await s.connection()
        plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
        details = " ".join(str(row) for row in plan)
    await engine.dispose()
    assert "USING INDEX ix_cases_next_nag" in details
    assert "TEMP B-TREE" not in details  # rows come in index order: no sort of open cases


async def test_cases_due_is_what_the_checker_selects(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    due = await add_case(sessions, 1, posted_at=T0 - timedelta(minutes=50))
    await add_case(sessions, 2)
    async with sessions() as s:
        found = await nags.cases_due(s, now=T0, limit=10)
        ids = list(await s.scalars(select(Case.id)))
    assert [c.id for c in found] == [due.id]
    assert len(ids) == 2


async def test_the_sla_benchmark_runs_at_a_tiny_size(engine: AsyncEngine) -> None:
    # The benchmark must not rot; its timing is a measurement (`python -m bench sla_check`).
    timings = await sla_bench.measure(engine, open_cases=500, due=10, runs=2)
    assert len(timings.laps) == 2
