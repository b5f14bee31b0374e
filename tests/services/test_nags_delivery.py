"""The SLA check's posting on real databases (SQLite, and PostgreSQL when configured): two
checkers racing post each rung once; a nag Slack fails or refuses is handed back or dropped as it
should be; what changed between deciding a nag and posting it (a claim, a resolve); and a case
whose card is not posted yet."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.nags import CheckResult
from bot.sla import NagStep
from bot.slack_api import (
    SlackInstallBroken,
    SlackMessageRefused,
    SlackRejected,
    SlackUnavailable,
)
from storage import cases as case_repo
from storage.engine import SessionFactory
from storage.models import CardState, Case
from tests.conftest import FakeClock
from tests.services.nag_helpers import (
    CHANNEL,
    T0,
    RecordingNotifier,
    add_case,
    checker,
    load,
)


async def test_two_checkers_racing_post_each_rung_once(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    for n in range(1, 31):
        await add_case(sessions, n, posted_at=T0 + timedelta(seconds=n))
    notifier = RecordingNotifier()
    first = checker(sessions, clock, notifier, batch=7)
    second = checker(sessions, clock, notifier, batch=7)
    results: list[CheckResult] = []
    for minute in range(40, 200, 5):
        clock.now = T0 + timedelta(minutes=minute)
        results += await asyncio.gather(first.run_once(), second.run_once())
    # Each replica rolls up the breaches it won; what matters is one post per rung per case.
    assert len([p for p in notifier.posts if p.thread_ts is not None]) == 30 * 5
    for n in range(1, 31):
        assert len(notifier.thread(f"1600000000.{n:06d}")) == 5
    assert sum(r.posted for r in results) == 150


async def test_slack_down_hands_the_rung_back_for_the_next_check(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    case = await add_case(sessions, 1)
    await add_case(sessions, 2)
    notifier = RecordingNotifier(fail_with=SlackUnavailable("Slack answered 503"), fail_after=1)
    check = checker(sessions, clock, notifier)
    clock.now = T0 + timedelta(minutes=60)
    result = await check.run_once()
    assert (result.posted, result.handed_back) == (1, 1)
    notifier.fail_with = None
    clock.now += timedelta(seconds=30)
    assert (await check.run_once()).posted == 1
    assert len(notifier.posts) == 2
    assert (await load(sessions, case.id)).nag_step == NagStep.BREACH


async def test_a_refused_nag_is_not_retried(sessions: SessionFactory, clock: FakeClock) -> None:
    # Refused for good, for this message only (issue 14: a deleted card's thread_not_found is
    # not such a refusal any more; see the tests below).
    case = await add_case(sessions, 1)
    notifier = RecordingNotifier(fail_with=SlackMessageRefused("msg_too_long"))
    check = checker(sessions, clock, notifier)
    clock.now = T0 + timedelta(minutes=45)
    assert (await check.run_once()).posted == 0
    assert (await load(sessions, case.id)).nag_step == NagStep.WARNING


@pytest.mark.parametrize(
    "refusal",
    [
        SlackRejected("rate_limited"),
        SlackInstallBroken("not_in_channel"),
        SlackInstallBroken("invalid_auth"),
        SlackMessageRefused("thread_not_found"),
    ],
    ids=["old-style rejection", "not_in_channel", "invalid_auth", "card deleted"],
)
async def test_a_nag_slack_refuses_for_now_is_handed_back_never_dropped(
    sessions: SessionFactory, clock: FakeClock, refusal: Exception
) -> None:
    case = await add_case(sessions, 1)
    notifier = RecordingNotifier(fail_with=refusal)
    check = checker(sessions, clock, notifier)
    clock.now = T0 + timedelta(minutes=45)
    result = await check.run_once()
    assert (result.posted, result.handed_back) == (0, 1)
    assert (await load(sessions, case.id)).nag_step == 0
    notifier.fail_with = None
    clock.now += timedelta(seconds=30)
    assert (await check.run_once()).posted == 1
    assert (await load(sessions, case.id)).nag_step == NagStep.WARNING


async def test_a_nag_decided_before_a_claim_names_the_owner_when_posted(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    case = await add_case(sessions, 1)
    notifier = RecordingNotifier()
    check = checker(sessions, clock, notifier)
    clock.now = T0 + timedelta(minutes=45)
    won = await check._claim_due(clock.now, CheckResult())  # decided while unclaimed
    assert [n.owner for n in won] == [None]
    async with sessions() as s, s.begin():
        assert await case_repo.claim(s, case_id=case.id, user="U0ANA", now=clock.now)
    await check._post(won, CheckResult())
    (post,) = notifier.posts
    assert "Nobody has claimed" not in post.text
    assert "<@U0ANA>" in post.text


async def test_a_nag_decided_before_a_resolve_is_not_posted(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    case = await add_case(sessions, 1)
    notifier = RecordingNotifier()
    check = checker(sessions, clock, notifier)
    clock.now = T0 + timedelta(minutes=45)
    won = await check._claim_due(clock.now, CheckResult())
    async with sessions() as s, s.begin():
        assert await case_repo.resolve(s, case_id=case.id, user="U0ANA", reason=None, now=clock.now)
    result = CheckResult()
    await check._post(won, result)
    assert notifier.posts == []
    assert result.cancelled == 1


async def test_a_case_without_a_card_waits_for_it(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    case = await add_case(sessions, 1, card=False)
    notifier = RecordingNotifier()
    check = checker(sessions, clock, notifier)
    clock.now = T0 + timedelta(minutes=50)
    await check.run_once()
    assert notifier.posts == []
    async with sessions() as s, s.begin():
        row = await s.get(Case, case.id)
        assert row is not None
        row.card_state, row.slack_channel, row.card_ts = CardState.POSTED, CHANNEL, "1.000001"
    await check.run_once()
    assert [p.thread_ts for p in notifier.posts] == ["1.000001"]
