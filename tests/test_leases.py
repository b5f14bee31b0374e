"""The one lease helper of every replica-safe job (`bot.leases.Lease`) and its backoff: a lease
held locally until its TTL runs short, then renewed; given up on release; doubling waits."""

from __future__ import annotations

from datetime import timedelta

from bot import leases
from bot.leases import Backoff, Lease
from storage.engine import SessionFactory


async def test_a_lease_is_renewed_only_when_a_call_could_outlive_it(
    sessions: SessionFactory,
) -> None:
    me, other = leases.process_id(), "elsewhere:1:abcdef"
    ttl = timedelta(seconds=20)
    mine = Lease(sessions, name="delivery:C1", holder=me, ttl=ttl)
    theirs = Lease(sessions, name="delivery:C1", holder=other, ttl=ttl)
    assert await mine.acquire()
    assert not await theirs.acquire()
    assert await mine.hold_for(timedelta(seconds=16))  # 20 s left: no call to the database
    assert not await theirs.hold_for(timedelta(seconds=16))  # it asks, and is refused
    assert await mine.renew()
    assert not await theirs.renew()
    await mine.release()
    assert await theirs.acquire()
    assert not await mine.hold_for(timedelta(seconds=30))  # longer than the TTL: asks, refused
    leases.retire(me)


def test_backoff_doubles_between_a_floor_and_a_maximum_and_resets_on_success() -> None:
    backoff = Backoff(maximum=10.0)
    assert backoff.ready()
    assert [backoff.failed(at_least=1.0) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert not backoff.ready()
    backoff.succeeded()
    assert backoff.delay == 0.0
    assert backoff.failed(at_least=3.0) == 3.0
    backoff.wait(0.0)
    assert backoff.ready()
    backoff.wait(60.0)
    assert not backoff.ready()
