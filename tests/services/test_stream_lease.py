"""One replica streams at a time: the stream lease, its hand-over on release, and on lapse."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import cast

from sqlalchemy import update

from bot import leases
from bot.ingest import IngestService
from bot.sources import Mention
from bot.streams import StreamRunner
from storage import claims
from storage.engine import SessionFactory
from storage.models import Lease


class CountingStream:
    """A streaming source that counts the connections open at once and ever opened."""

    network = "mastodon"

    def __init__(self) -> None:
        self.open = 0
        self.most_open = 0
        self.connections = 0

    async def stream(
        self,
        *,
        on_mentions: Callable[[list[Mention]], Awaitable[object]],
        on_connect: Callable[[], object],
    ) -> None:
        self.open += 1
        self.connections += 1
        self.most_open = max(self.most_open, self.open)
        on_connect()
        try:
            await asyncio.Event().wait()
        finally:
            self.open -= 1


def runner(source: CountingStream, sessions: SessionFactory, backfills: list[str]) -> StreamRunner:
    holder = leases.process_id()
    return StreamRunner(
        source=source,
        ingest=cast(IngestService, None),  # never used: the stream delivers no mention
        source_key="mastodon",
        backfill=lambda: backfills.append(holder),
        on_new=lambda: None,
        retry_seconds=0.05,
        sessions=sessions,
        holder=holder,
        heartbeat_seconds=0.05,
    )


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (state changed by the runners' tasks)
            await asyncio.sleep(0.01)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_one_replica_streams_and_the_other_takes_over_on_release(
    sessions: SessionFactory,
) -> None:
    source, backfills = CountingStream(), list[str]()
    first, second = runner(source, sessions, backfills), runner(source, sessions, backfills)
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    await wait_until(lambda: source.connections == 1)
    await asyncio.sleep(0.3)  # several heartbeats: the waiting replica must not connect
    assert (source.connections, source.most_open, len(backfills)) == (1, 1, 1)
    streaming = 0 if backfills[0] == first._holder else 1
    await stop(tasks[streaming])
    await (first, second)[streaming].release()
    # The other replica streams, and polls to backfill what the hand-over missed.
    await wait_until(lambda: source.connections == 2)
    assert source.most_open == 1
    assert backfills[1] == (first, second)[1 - streaming]._holder
    await stop(tasks[1 - streaming])


async def test_a_lapsed_stream_lease_is_taken_over(sessions: SessionFactory) -> None:
    source, backfills = CountingStream(), list[str]()
    gone = "elsewhere:1:abcdef"  # a replica on another host that stopped renewing
    assert await leases.acquire(
        sessions, name="stream:mastodon", holder=gone, ttl=timedelta(seconds=20)
    )
    task = asyncio.create_task(runner(source, sessions, backfills).run())
    await asyncio.sleep(0.3)
    assert source.connections == 0  # the lease is still another replica's
    async with sessions() as s, s.begin():
        now = await claims.database_now(s)
        await s.execute(update(Lease).values(expires_at=now - timedelta(seconds=1)))
    await wait_until(lambda: source.connections == 1)
    assert len(backfills) == 1
    await stop(task)
