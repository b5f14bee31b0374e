"""InFlight: acks go before the work of requests already answered; shutdown waits for the work."""

from __future__ import annotations

import asyncio

from bot.inflight import QUIET_SECONDS, InFlight


async def test_work_waits_until_every_request_waiting_for_its_answer_has_it() -> None:
    in_flight = InFlight(yield_seconds=5)
    order: list[str] = []
    first, second = in_flight.answering(), in_flight.answering()

    async def work() -> None:
        await in_flight.after_answers()
        order.append("work")

    first()  # the first request is answered; its work may not start while the second waits
    task = in_flight.start(work(), name="work")
    await asyncio.sleep(0.05)
    assert order == []
    order.append("second answered")
    second()
    await task
    assert order == ["second answered", "work"]


async def test_a_request_arriving_just_after_the_last_answer_still_goes_first() -> None:
    in_flight = InFlight(yield_seconds=5)
    in_flight.answering()()  # one request, answered
    done: list[str] = []

    async def work() -> None:
        await in_flight.after_answers()
        done.append("work")

    # The work only waits when something is unanswered; start it while one is.
    late = in_flight.answering()
    task = in_flight.start(work(), name="work")
    await asyncio.sleep(0)  # the work is waiting now
    late()  # all answered: the work wakes, but first waits QUIET_SECONDS for stragglers
    later = in_flight.answering()  # the burst was not over: one more arrives in that time
    await asyncio.sleep(QUIET_SECONDS * 3)
    assert done == []
    later()
    await task
    assert done == ["work"]


async def test_answering_twice_counts_once_and_idle_work_does_not_wait() -> None:
    in_flight = InFlight(yield_seconds=5)
    done = in_flight.answering()
    done()
    done()  # a second call (the done callback after ack) must not unbalance the count
    await asyncio.wait_for(in_flight.after_answers(), timeout=1)


async def test_work_waits_at_most_yield_seconds_under_a_steady_stream() -> None:
    in_flight = InFlight(yield_seconds=0.05)
    in_flight.answering()  # never answered: the work still goes ahead after 50 ms
    await asyncio.wait_for(in_flight.after_answers(), timeout=1)


async def test_drain_waits_for_work_and_cancels_what_outlives_it() -> None:
    in_flight = InFlight()
    quick = in_flight.start(asyncio.sleep(0.01), name="quick")
    stuck = in_flight.start(asyncio.Event().wait(), name="stuck")
    assert len(in_flight) == 2
    assert await in_flight.drain(0.2) == 1
    assert quick.done()
    assert not quick.cancelled()
    assert stuck.cancelled()
    assert len(in_flight) == 0
