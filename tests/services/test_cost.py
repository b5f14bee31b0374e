"""What X costs: calls counted by kind through the real adapter against the sandbox X, priced with
the configured prices, summed across replicas in the database (both kinds), and the budget ladder
walked with an injected clock: a warning at 80 %, then polling at the floor and the channel told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.cost import BudgetLevel, CostTracker, Prices, poll_cost_lines, price, spend_text
from bot.errors import NetworkRateLimited
from bot.sandbox.x import FakeX
from bot.settings import Settings
from bot.sources.x import XSource
from bot.sources.x_meter import RateWindow, XMeter, has_link
from storage.engine import SessionFactory
from tests.conftest import FakeClock
from tests.factories import fake_x_and_source

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PRICES = Prices(read=0.001, request=0.0, post=0.015, post_link=0.20)


@pytest.fixture
async def x_source() -> AsyncIterator[tuple[FakeX, XSource, FakeClock]]:
    clock = FakeClock(T0)
    async with fake_x_and_source(clock) as (x, source):
        yield x, source, clock


async def test_calls_are_counted_by_kind(x_source: tuple[FakeX, XSource, FakeClock]) -> None:
    x, source, _ = x_source
    first = x.add_mention("@acmehelp one")
    x.add_mention("@acmehelp two")
    await source.fetch_since(None, not_before=T0 - timedelta(days=1))
    await source.fetch_since(None, not_before=T0 - timedelta(days=1))
    await source.reply(to_external_id=first.id, text="Sorry!")
    await source.reply(to_external_id=first.id, text="See https://acme.example/help")
    await source.check_posts([first.id])
    counted = {kind: (calls, items) for _, kind, calls, items in source.meter.drain()}
    assert counted == {
        "mentions": (2, 4),
        "post": (1, 1),
        "post_link": (1, 1),
        "lookup": (1, 1),
    }
    spend = price("2026-11", counted, PRICES, budget=None)
    assert spend.amount == pytest.approx(5 * 0.001 + 0.015 + 0.20)


async def test_no_call_is_made_once_x_says_none_remain(
    x_source: tuple[FakeX, XSource, FakeClock],
) -> None:
    x, source, clock = x_source
    x.fail_next("/2/users/", 429, reset_in=120)
    with pytest.raises(NetworkRateLimited):
        await source.fetch_since(None, not_before=T0)
    asked = len(x.requests)
    # X said 0 remain until the reset: Carebot waits for it instead of collecting another 429.
    with pytest.raises(NetworkRateLimited, match="pacing itself") as caught:
        await source.fetch_since(None, not_before=T0)
    assert len(x.requests) == asked
    assert caught.value.reset_at == datetime.fromtimestamp(int(T0.timestamp() + 120), tz=UTC)
    clock.advance(seconds=121)
    await source.fetch_since(None, not_before=T0)
    assert len(x.requests) == asked + 1


def test_reads_spread_out_when_a_window_runs_low() -> None:
    clock = FakeClock(T0)
    meter = XMeter(clock=clock)
    meter.check_headroom("mentions")  # nothing known yet: go
    reset = T0 + timedelta(minutes=10)
    meter.windows["mentions"] = RateWindow(limit=450, remaining=300, reset=reset, last_call=T0)
    meter.check_headroom("mentions")  # plenty left
    meter.windows["mentions"] = RateWindow(limit=450, remaining=9, reset=reset, last_call=T0)
    with pytest.raises(NetworkRateLimited) as caught:
        meter.check_headroom("mentions")
    # Nine left for ten minutes: one a minute.
    assert caught.value.reset_at == T0 + timedelta(minutes=1)
    clock.advance(minutes=1)
    meter.check_headroom("mentions")
    # Posting is never spread out, only stopped when nothing remains.
    meter.windows["post"] = RateWindow(limit=200, remaining=1, reset=reset, last_call=clock())
    meter.check_headroom("post")


def test_links_and_prices() -> None:
    assert has_link("see https://acme.example/x")
    assert has_link("go to acme.com/help")
    assert not has_link("no link here, just AT&T")
    spend = price(
        "2026-11",
        {"mentions": (100, 40), "post": (3, 3), "post_link": (1, 1)},
        PRICES,
        budget=1.0,
    )
    assert spend.amount == pytest.approx(0.04 + 0.045 + 0.2)
    assert spend.level == BudgetLevel.OK
    assert spend_text(spend).startswith("*X this month*: $0.285 (40 reads, 4 replies)")
    assert "of a $1.00 budget (28%)" in spend_text(spend)


def test_check_says_what_the_poll_interval_costs() -> None:
    settings = Settings(
        _env_file=None,
        poll_interval="60s",
        x_price_request="0.001",
        x_monthly_budget="50",
    )
    lines = poll_cost_lines(settings)
    assert lines[0].startswith("X: polling every 1m is 43,200 mention calls a month ($43.20")
    assert "per post kept" in lines[1]
    assert "budget $50.00 a month" in lines[2]
    assert "console.x.com" in lines[-1]


async def test_budget_ladder(sessions: SessionFactory) -> None:
    clock = FakeClock(T0)
    meter = XMeter(clock=clock)
    said: list[str] = []

    async def notify(text: str) -> None:
        said.append(text)

    def tracker() -> CostTracker:
        return CostTracker(
            sessions=sessions,
            clock=clock,
            meter=meter,
            prices=PRICES,
            budget=1.0,
            floor=timedelta(minutes=15),
            notify=notify,
            leads=["U0LEAD1", "S0LEADS"],
        )

    cost, replica = tracker(), tracker()
    meter.record("mentions", items=500)  # $0.50
    assert (await cost.run_once()).level == BudgetLevel.OK
    assert said == []
    assert await cost.may_poll()
    assert await cost.may_poll()  # under budget every poll runs
    meter.record("mentions", items=300)  # $0.80
    assert (await cost.run_once()).level == BudgetLevel.WARN
    assert len(said) == 1
    assert said[0].startswith(":money_with_wings: <@U0LEAD1> <!subteam^S0LEADS> Carebot has spent")
    assert "$0.800 of this month's $1.00 X budget (80%)" in said[0]
    await replica.run_once()  # another replica: the warning is not repeated
    assert len(said) == 1
    meter.record("post_link", items=1)  # $1.00
    assert (await cost.run_once()).level == BudgetLevel.CAP
    assert len(said) == 2
    assert "reached this month's $1.00 X budget" in said[1]
    assert "every 15m" in said[1]
    # At the budget, polls run at the floor's pace: the last one ran just now.
    assert not await cost.may_poll()
    clock.advance(minutes=15)
    assert await cost.may_poll()
    clock.advance(minutes=5)
    assert not await cost.may_poll()
    clock.advance(minutes=10)
    assert await cost.may_poll()
    await cost.run_once()
    assert len(said) == 2
    # A new month starts from nothing.
    clock.now = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    spend = await cost.run_once()
    assert (spend.month, spend.amount, spend.level) == ("2026-12", 0, BudgetLevel.OK)
    assert await cost.may_poll()
    assert await cost.may_poll()
