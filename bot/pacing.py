"""Per-channel pacing for `chat.postMessage`: Slack allows about one message per second per
channel with short bursts, so delivery spends tokens from a bucket per channel and pauses the
bucket whenever Slack answers 429 with Retry-After (ARCHITECTURE rule 4)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    paused_until: float = 0.0


class ChannelPacer:
    """Token buckets keyed by channel; `per_second=None` turns pacing off (benchmarks, tests)."""

    def __init__(
        self,
        *,
        per_second: float | None = 1.0,
        burst: int = 3,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._now = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def delay(self, channel: str) -> float:
        """Return how long a post to `channel` must wait now (0 when it may go at once)."""
        bucket = self._bucket(channel)
        now = self._now()
        wait = max(0.0, bucket.paused_until - now)
        if self._rate is None:
            return wait
        self._refill(bucket, now)
        if bucket.tokens < 1.0:
            wait = max(wait, (1.0 - bucket.tokens) / self._rate)
        return wait

    async def acquire(self, channel: str) -> None:
        """Wait until a post to `channel` is allowed, then spend a token."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            # Waiting on time, not on another task: a pause may be extended while we sleep.
            while (wait := self.delay(channel)) > 0:  # noqa: ASYNC110
                await asyncio.sleep(wait)
            if self._rate is not None:
                self._bucket(channel).tokens -= 1.0

    def pause(self, channel: str, seconds: float) -> None:
        """Stop posting to `channel` for `seconds` (Slack's Retry-After) and drain its burst."""
        bucket = self._bucket(channel)
        bucket.paused_until = max(bucket.paused_until, self._now() + seconds)
        bucket.tokens = min(bucket.tokens, 0.0)
        bucket.updated = max(bucket.updated, bucket.paused_until)

    def _bucket(self, channel: str) -> _Bucket:
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = _Bucket(tokens=self._burst, updated=self._now())
        return bucket

    def _refill(self, bucket: _Bucket, now: float) -> None:
        assert self._rate is not None
        if now > bucket.updated:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
