"""Streaming sources: for a network that pushes mentions (Mastodon's `user:notification`), one
task per process that ingests what the stream delivers within seconds, while the network's poll
job stays the backfill: it is woken on every (re)connect, because a stream does not replay what
was sent while it was down. A stream that fails is reopened after a pause; polling goes on.
Given the database, one replica streams at a time: it holds the lease `stream:<source>` and
renews it while the stream is open; the others wait, and one takes over once that lease lapses
(or at once, if its holder died on the same host), polling to backfill as every connect does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy.exc import IntegrityError

from bot import leases
from bot.errors import SourceError
from bot.ingest import IngestService
from bot.sources import Mention
from storage import claims
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0
# As the polling lease: a replica that vanishes hands the stream on within 20 s.
STREAM_LEASE_TTL = timedelta(seconds=20)
STREAM_HEARTBEAT_SECONDS = 5.0


class _LeaseLost(Exception):
    """Another replica holds the stream lease now."""


@runtime_checkable
class StreamingSource(Protocol):
    """A source that can also push mentions as they happen."""

    network: str

    async def stream(
        self,
        *,
        on_mentions: Callable[[list[Mention]], Awaitable[object]],
        on_connect: Callable[[], object],
    ) -> None:
        """Deliver mentions until cancelled; call `on_connect` after every (re)connect."""


class StreamRunner:
    """Keeps one source's stream open and ingests what it delivers."""

    def __init__(
        self,
        *,
        source: StreamingSource,
        ingest: IngestService,
        source_key: str,
        backfill: Callable[[], None],
        on_new: Callable[[], None],
        retry_seconds: float = RETRY_SECONDS,
        sessions: SessionFactory | None = None,
        holder: str | None = None,
        heartbeat_seconds: float = STREAM_HEARTBEAT_SECONDS,
    ) -> None:
        self._source = source
        self._ingest = ingest
        self._key = source_key
        self._backfill = backfill
        self._on_new = on_new
        self._retry = retry_seconds
        # Without both, every process streams (a single process, or tests of the stream alone).
        self._sessions = sessions if holder is not None else None
        self._holder = holder or ""
        self._heartbeat = heartbeat_seconds

    @property
    def lease(self) -> str:
        """Return the name of the lease the streaming replica holds."""
        return f"stream:{self._key}"

    async def run(self) -> None:
        """Stream until cancelled (while holding the lease), reopening it after failures."""
        while True:
            if not await self._take_lease():
                await asyncio.sleep(self._heartbeat)
                continue
            try:
                await self._stream_while_leased()
            except asyncio.CancelledError:
                raise
            except _LeaseLost:
                log.info("%s: another replica streams now", self._key)
                continue
            except SourceError as exc:
                log.warning("%s stream unavailable (%s); polling goes on", self._key, exc)
            except Exception:
                # The stream is an accelerator: polling still reads every mention.
                log.exception("%s stream failed; polling goes on", self._key)
            # Another replica may manage where this one failed: let it try during the pause.
            try:
                await self.release()
            except Exception:
                log.exception("%s: could not give up the stream lease; it lapses", self._key)
            await asyncio.sleep(self._retry)

    async def release(self) -> None:
        """Give up the stream lease (on shutdown or failure), so another replica streams."""
        if self._sessions is None:
            return
        async with self._sessions() as s, s.begin():
            await claims.release_lease(s, name=self.lease, holder=self._holder)

    async def _take_lease(self) -> bool:
        if self._sessions is None:
            return True
        try:
            return await leases.acquire(
                self._sessions, name=self.lease, holder=self._holder, ttl=STREAM_LEASE_TTL
            )
        except Exception:
            log.exception("%s: could not read the stream lease; trying again", self._key)
            return False

    async def _stream_while_leased(self) -> None:
        stream = asyncio.create_task(
            self._source.stream(on_mentions=self._store, on_connect=self._connected),
            name=f"stream-connection:{self._key}",
        )
        try:
            while True:
                done, _ = await asyncio.wait({stream}, timeout=self._heartbeat)
                if done:
                    return stream.result()
                if self._sessions is not None and not await leases.renew(
                    self._sessions, name=self.lease, holder=self._holder, ttl=STREAM_LEASE_TTL
                ):
                    raise _LeaseLost()
        finally:
            stream.cancel()
            await asyncio.gather(stream, return_exceptions=True)

    def _connected(self) -> None:
        log.info("%s stream connected; polling once to backfill", self._key)
        self._backfill()

    async def _store(self, mentions: Sequence[Mention]) -> None:
        try:
            # No cursor: the poller's cursor still marks what polling has read.
            stored = await self._ingest.ingest(source_key=self._key, mentions=mentions, cursor=None)
        except IntegrityError:
            log.debug("%s: another replica stored the streamed mention first", self._key)
            return
        if stored.new_cases or stored.follow_ups:
            self._on_new()
