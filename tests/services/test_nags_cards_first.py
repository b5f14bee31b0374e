"""The SLA check's gate (`DeliveryService.nags_may_go` in the bot): while it is shut nothing is
claimed, so what comes due meanwhile is decided afresh (a stale warning collapses into the
breach); when it shuts in the middle of a check, the nags not yet posted are handed back and go
out, once each, on a later check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from bot.sla import NagStep
from storage.engine import SessionFactory
from tests.conftest import FakeClock
from tests.services.nag_helpers import T0, RecordingNotifier, add_case, checker, load


class Gate:
    """Answers the checker from a script, then stays open."""

    def __init__(self, *answers: bool) -> None:
        self._answers: Iterator[bool] = iter(answers)
        self.asked = 0

    async def __call__(self) -> bool:
        self.asked += 1
        return next(self._answers, True)


async def test_a_shut_gate_claims_nothing_and_stale_rungs_collapse(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    case = await add_case(sessions, 1)
    before = await load(sessions, case.id)
    notifier = RecordingNotifier()
    gate = Gate(False)
    check = checker(sessions, clock, notifier, gate=gate)
    clock.now = T0 + timedelta(minutes=50)  # the warning is due
    result = await check.run_once()
    assert result.deferred
    assert (result.examined, result.posted) == (0, 0)
    row = await load(sessions, case.id)
    assert (row.nag_step, row.next_nag_at) == (0, before.next_nag_at)
    # By the next open check the deadline has passed: the breach goes out, not the old warning.
    clock.now = T0 + timedelta(minutes=61)
    result = await check.run_once()
    assert (result.deferred, result.posted) == (False, 1)
    (breach,) = notifier.thread(str(case.card_ts))
    assert breach.text.startswith(":red_circle:")
    assert breach.broadcast
    assert (await load(sessions, case.id)).nag_step == NagStep.BREACH


async def test_a_gate_shut_mid_check_hands_the_rest_back(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    added = [await add_case(sessions, n) for n in range(1, 4)]
    notifier = RecordingNotifier()
    # Open for the check and its first nag, shut before the second (a new card came in).
    gate = Gate(True, False)
    check = checker(sessions, clock, notifier, gate=gate)
    clock.now = T0 + timedelta(minutes=50)
    result = await check.run_once()
    assert (result.posted, result.handed_back, result.deferred) == (1, 2, True)
    waiting = [await load(sessions, c.id) for c in added[1:]]
    assert [row.nag_step for row in waiting] == [0, 0]
    result = await check.run_once()
    assert (result.posted, result.handed_back, result.deferred) == (2, 0, False)
    for case in added:
        (warning,) = notifier.thread(str(case.card_ts))
        assert warning.text.startswith(":hourglass_flowing_sand:")
    assert len(notifier.posts) == 3
    # Asked before each check and before every nag after a check's first.
    assert gate.asked == 4
