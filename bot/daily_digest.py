"""The daily digest job and its poster: yesterday's digest posted at CAREBOT_DIGEST_AT (local
time) once per day across replicas and restarts. A conditional insert into `digest_runs` decides
who posts; a claim whose post never got recorded is retried once it goes stale.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.digest import Digest, DigestService
from bot.domain.digest import Period
from bot.slack_api import SlackRateLimited, SlackRejected, SlackUnavailable, post_message
from storage import claims
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

# A claim on a day that never recorded its post is retried after this long (the poster died).
STALE_CLAIM = timedelta(minutes=10)
DAILY_CHECK = timedelta(minutes=1)
DAILY_JOB = "daily_digest"


class DigestPoster(Protocol):
    """Posts a message to a channel and returns its ts (raising the delivery errors)."""

    def __call__(
        self, *, channel: str, text: str, blocks: list[dict[str, Any]]
    ) -> Awaitable[str]: ...


def slack_poster(client: AsyncWebClient) -> DigestPoster:
    """Return a poster that sends through `client`, its failures mapped to delivery's errors."""

    async def post(*, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        return await post_message(client, channel=channel, text=text, blocks=blocks)

    return post


Render = Callable[[Digest], tuple[str, list[dict[str, Any]]]]


class ChartPoster(Protocol):
    """Shares a digest's charts in the thread of its posted message (failures are its own)."""

    def __call__(self, digest: Digest, *, channel: str, thread_ts: str) -> Awaitable[object]: ...


class DailyDigest:
    """Posts yesterday's digest at `at` (local time) once per day, whichever replica sees it."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        service: DigestService,
        at: time,
        channel: str,
        post: DigestPoster,
        render: Render,
        holder: str,
        charts: ChartPoster | None = None,
    ) -> None:
        self._sessions = sessions
        self._charts = charts
        self._clock = clock
        self._service = service
        self._at = at
        self._channel = channel
        self._post = post
        self._render = render
        self._holder = holder

    def due_day(self, now: datetime) -> date | None:
        """Return the day whose digest is due at `now` (yesterday once `at` has passed)."""
        local = now.astimezone(self._service.zone)
        if local.timetz().replace(tzinfo=None) < self._at:
            return None
        return local.date() - timedelta(days=1)

    async def run_once(self) -> bool:
        """Post the due digest if nobody has; return whether this call posted it."""
        now = self._clock()
        day = self.due_day(now)
        if day is None:
            return False
        async with self._sessions() as s, s.begin():
            # A read first: on every other minute of the day the answer is "posted already".
            if await claims.digest_day_posted(s, day=day):
                return False
            if not await claims.claim_digest_day(
                s, day=day, holder=self._holder, now=now, retry_before=now - STALE_CLAIM
            ):
                return False
        digest = await self._service.compute(Period.YESTERDAY, at=now)
        text, blocks = self._render(digest)
        try:
            ts = await self._post(channel=self._channel, text=text, blocks=blocks)
        except (SlackUnavailable, SlackRateLimited) as exc:
            log.warning("daily digest for %s not posted yet (%s); will retry", day, exc)
            async with self._sessions() as s, s.begin():
                await claims.release_digest_day(s, day=day, holder=self._holder)
            return False
        except SlackRejected as exc:
            # Retrying at once will not help (e.g. the bot is not in the channel): the claim
            # stays, so the next try comes when it goes stale.
            log.error(
                "daily digest for %s refused by Slack in %s: %s (invite the bot to the channel)",
                day,
                self._channel,
                exc,
            )
            return False
        async with self._sessions() as s, s.begin():
            await claims.record_digest_posted(
                s, day=day, holder=self._holder, channel=self._channel, ts=ts, now=self._clock()
            )
        log.info("daily digest for %s posted to %s", day, self._channel)
        if self._charts is not None:
            # After the record: a failed upload is logged by the poster and never reposts the day.
            await self._charts(digest, channel=self._channel, thread_ts=ts)
        return True
