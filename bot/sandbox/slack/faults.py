"""The sandbox Slack's failure knobs: revoked tokens, outages, one-off errors and rate limits.

Every failure real Slack produces that Carebot must survive: `invalid_auth` after a revoke, HTTP
503 during an outage, the next N calls to a method failing with a chosen status and error (a 429
with `Retry-After`, or Slack's HTTP-200 `rate_limited`), and a per-channel token bucket on
chat.postMessage driven by the fake's clock.
"""

from __future__ import annotations

import math
from collections import deque

from bot.sandbox.slack.records import SlackApiFailure, _Bucket, _Failure
from bot.sandbox.slack.state import SlackState


class FaultKnobs(SlackState):
    """Inject Slack's failures, and apply them when a method is called."""

    # -- knobs -------------------------------------------------------------------------------

    def revoke_token(self, token: str | None = None) -> None:
        """Revoke a token (the bot token by default): later calls get `invalid_auth`."""
        self.valid_tokens.discard(token if token is not None else self.bot_token)

    def rate_limit_channel(self, channel: str, per_second: float = 1.0, burst: int = 3) -> None:
        """Rate-limit chat.postMessage in one channel with a token bucket on the fake's clock."""
        self._buckets[channel] = _Bucket(
            per_second=per_second, burst=burst, tokens=float(burst), updated=self.clock()
        )

    def outage(self, seconds: float) -> None:
        """Answer every API method with HTTP 503 for the next `seconds` of the fake's clock."""
        self._outage_until = self.clock() + seconds

    def start_outage(self) -> None:
        """Answer every API method with HTTP 503 until `end_outage()`."""
        self._outage_until = math.inf

    def end_outage(self) -> None:
        """End an outage now."""
        self._outage_until = None

    def fail_next(
        self,
        method: str,
        *,
        status: int = 200,
        error: str = "internal_error",
        count: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Make the next `count` calls to `method` fail with this HTTP status and Slack error.

        A 429 carries `Retry-After` (1 s unless `retry_after` says otherwise). Slack's other
        rate-limit answer, `rate_limited` ("Application has posted too many messages"), comes
        with HTTP 200 and no header: `fail_next(m, error="rate_limited")`.
        """
        self._failures.setdefault(method, deque()).append(
            _Failure(status=status, error=error, remaining=count, retry_after=retry_after)
        )

    def _raise_injected_failure(self, method: str) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        headers = {}
        if failure.status == 429:
            wait = failure.retry_after if failure.retry_after is not None else 1
            headers["Retry-After"] = f"{wait:g}"
        raise SlackApiFailure(failure.error, status=failure.status, headers=headers)

    def _take_rate_token(self, channel: str) -> None:
        bucket = self._buckets.get(channel)
        if bucket is None:
            return
        now = self.clock()
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(bucket.burst), bucket.tokens + elapsed * bucket.per_second)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        self.ratelimited_count += 1
        wait = max(1, math.ceil((1.0 - bucket.tokens) / bucket.per_second))
        raise SlackApiFailure("ratelimited", status=429, headers={"Retry-After": str(wait)})
