"""The Socket Mode link's reconnect backoff, as pure arithmetic."""

from __future__ import annotations

import pytest

from bot.socket_mode import BACKOFF_MAX, backoff


def test_the_first_try_after_a_loss_is_at_once() -> None:
    assert backoff(0) == 0.0


@pytest.mark.parametrize("failures", range(1, 12))
def test_each_wait_is_jittered_within_half_its_step_and_capped(failures: int) -> None:
    step = min(BACKOFF_MAX, 2.0 ** (failures - 1))
    for _ in range(50):
        wait = backoff(failures)
        assert step / 2 <= wait <= step


def test_the_steps_double_until_the_cap() -> None:
    lows = [backoff(n, first=1.0, cap=30.0) for n in (1, 2, 3, 4, 5, 6, 7)]
    assert lows[0] <= 1.0
    assert 8.0 <= lows[4] <= 16.0
    assert 15.0 <= lows[6] <= 30.0
