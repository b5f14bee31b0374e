"""Streaming sources: for a network that pushes mentions (Mastodon's `user:notification`), one
task per process that ingests what the stream delivers within seconds, while the network's poll
job stays the backfill: it is woken on every (re)connect, because a stream does not replay what
was sent while it was down. A stream that fails is reopened after a pause; polling goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from sqlalchemy.exc import IntegrityError

from bot.errors import SourceError
from bot.ingest import IngestService
from bot.sources import Mention

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0


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
    ) -> None:
        self._source = source
        self._ingest = ingest
        self._key = source_key
        self._backfill = backfill
        self._on_new = on_new
        self._retry = retry_seconds

    async def run(self) -> None:
        """Stream until cancelled, reopening the stream after failures."""
        while True:
            try:
                await self._source.stream(on_mentions=self._store, on_connect=self._connected)
            except asyncio.CancelledError:
                raise
            except SourceError as exc:
                log.warning("%s stream unavailable (%s); polling goes on", self._key, exc)
            except Exception:
                # The stream is an accelerator: polling still reads every mention.
                log.exception("%s stream failed; polling goes on", self._key)
            await asyncio.sleep(self._retry)

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
