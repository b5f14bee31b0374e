"""Polling a source: fetch what is new since the saved cursor, ingest it, and keep the loop alive
through rate limits, outages and revoked credentials, telling the channel once when the source
breaks and once when it recovers. One process polls a source at a time (a DB lease)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.clock import Clock, ensure_utc
from bot.domain.networks import network_label
from bot.durations import format_duration
from bot.errors import NetworkAuthError, NetworkRateLimited, SourceError
from bot.ingest import IngestService
from bot.leases import Backoff, Lease
from bot.slack_api import SlackRejected, SlackUnavailable
from bot.sources import Source
from bot.sources.base import Rejected
from storage import intake
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[object]]

HEALTH_OK = "ok"
HEALTH_AUTH = "auth_failed"
HEALTH_DOWN = "unavailable"
MAX_BACKOFF = 300.0
# Short, and renewed by `heartbeat` while this process lives: a replica on another host takes
# over within this long of a crash (one on the same host recognises the dead holder at once).
POLL_LEASE_TTL = timedelta(seconds=20)
HEARTBEAT = timedelta(seconds=5)
# A network failing for this many poll intervals is an outage people should hear about.
ALERT_AFTER = 3


class Poller:
    """Runs one poll of one source per call to `run_once`."""

    def __init__(
        self,
        *,
        source: Source,
        ingest: IngestService,
        sessions: SessionFactory,
        clock: Clock,
        notify: Notify,
        backfill: timedelta,
        interval: timedelta,
        holder: str,
        on_new: Callable[[], None] = lambda: None,
        auth_retry: timedelta = timedelta(minutes=5),
    ) -> None:
        self._source = source
        self._ingest = ingest
        self._sessions = sessions
        self._clock = clock
        self._notify = notify
        self._backfill = backfill
        self._interval = interval
        self._on_new = on_new
        self._auth_retry = auth_retry
        self._backoff = Backoff(maximum=MAX_BACKOFF)
        self._quarantined: set[str] = set()
        self.key = source.network
        self._lease = Lease(sessions, name=f"poll:{self.key}", holder=holder, ttl=POLL_LEASE_TTL)

    async def run_once(self) -> None:
        """Poll once, unless backing off or another replica holds the source."""
        if not self._backoff.ready():
            return
        now = self._clock()
        if not await self._lease.acquire():
            return
        async with self._sessions() as s:
            saved = await intake.get_cursor(s, source=self.key)
        cursor = saved.cursor if saved else None
        health = saved.health if saved else HEALTH_OK
        try:
            result = await self._source.fetch_since(cursor, not_before=now - self._backfill)
        except NetworkRateLimited as exc:
            wait = (exc.reset_at - self._clock()).total_seconds() if exc.reset_at else 60.0
            self._wait(max(1.0, wait))
            log.warning("%s is rate-limiting us; next poll in %.0fs", self.key, max(1.0, wait))
            return
        except NetworkAuthError as exc:
            # Fixed credentials must work at the next poll, so this waits no longer than one.
            self._wait(min(self._auth_retry, self._interval).total_seconds())
            await self._set_health(HEALTH_AUTH, exc.user_message)
            if await self._claim_alert():
                await self._notify(
                    f":warning: Carebot cannot read {self._label} mentions: "
                    f"{exc.user_message} Check the credentials (run `carebot check`). "
                    "Carebot tries again at every poll and says here when it works."
                )
            log.error("%s rejected our credentials: %s", self.key, exc.user_message)
            return
        except SourceError as exc:
            delay = self._backoff.failed(at_least=self._interval.total_seconds())
            await self._set_health(HEALTH_DOWN, exc.user_message)
            await self._alert_if_long(exc.user_message)
            log.warning("%s unavailable (%s); next poll in %.0fs", self.key, exc, delay)
            return
        self._backoff.succeeded()
        stored = await self._ingest.ingest(
            source_key=self.key,
            mentions=result.mentions,
            cursor=result.cursor,
            backfill=cursor is None,
        )
        if stored.overdue:
            await self._summarise_backfill(stored.new_cases, stored.overdue)
        await self._quarantine([*result.rejected, *stored.rejected])
        if health != HEALTH_OK and await self._recovered():
            await self._notify(
                f":white_check_mark: Carebot is reading {self._label} mentions again."
            )
        if stored.new_cases or stored.follow_ups:
            log.info(
                "%s: %d new case(s), %d follow-up(s)", self.key, stored.new_cases, stored.follow_ups
            )
            self._on_new()

    async def _summarise_backfill(self, taken: int, overdue: int) -> None:
        """Say once, in the channel, what the first poll took in that was already overdue."""
        text = (
            f":inbox_tray: First look at {self._label}: Carebot took in {taken} "
            f"mention{'s' if taken != 1 else ''} from the last {format_duration(self._backfill)}. "
            f"{overdue} of them {'were' if overdue != 1 else 'was'} already past the response "
            "target before Carebot was running: their cards say *Overdue*, and no breach "
            "alert was sent for them."
        )
        try:
            await self._notify(text)
        except (SlackUnavailable, SlackRejected) as exc:
            # The cases and their cards are safe in the database; only this note is lost.
            log.warning("could not post the first-poll summary: %s", exc)

    async def _alert_if_long(self, detail: str) -> None:
        """Tell the channel once when the source has been failing for ALERT_AFTER polls."""
        async with self._sessions() as s:
            saved = await intake.get_cursor(s, source=self.key)
        if saved is None or saved.health_since is None or saved.health_alerted:
            return
        failing = self._clock() - ensure_utc(saved.health_since)
        if failing < self._interval * ALERT_AFTER:
            return  # a blip: polls retry on their own, and nobody needs to hear of it
        if await self._claim_alert():
            minutes = max(1, round(failing.total_seconds() / 60))
            await self._notify(
                f":warning: Carebot cannot read {self._label} mentions: {self._label} has been "
                f"failing for {minutes} min ({detail}). New mentions will become cards as soon "
                "as it answers again; Carebot will say so here."
            )

    async def _claim_alert(self) -> bool:
        """Mark the current failure as told; True for the one caller (replica) that should."""
        async with self._sessions() as s, s.begin():
            return await intake.claim_health_alert(s, source=self.key)

    async def _recovered(self) -> bool:
        """Mark the source healthy; return whether the channel had been told it was not."""
        async with self._sessions() as s, s.begin():
            return await intake.recover_source(s, source=self.key, now=self._clock())

    async def _quarantine(self, rejected: list[Rejected]) -> None:
        """Log each skipped post once, with its id, and count it in the source's health."""
        new = [r for r in rejected if r.external_id not in self._quarantined]
        if not new:
            return
        for post in new:
            self._quarantined.add(post.external_id)
            log.error("%s: skipped post %s: %s", self.key, post.external_id, post.reason)
        last = f"{new[-1].external_id}: {new[-1].reason}"
        async with self._sessions() as s, s.begin():
            await intake.record_quarantined(
                s, source=self.key, count=len(new), last=last, now=self._clock()
            )

    async def heartbeat(self) -> None:
        """Keep the polling lease alive between polls, if this process holds it."""
        await self._lease.renew()

    async def release(self) -> None:
        """Give up the polling lease (on shutdown), so another replica polls at once."""
        await self._lease.release()

    @property
    def _label(self) -> str:
        return network_label(self.key)

    def _wait(self, seconds: float) -> None:
        self._backoff.wait(seconds)

    async def _set_health(self, health: str, detail: str | None) -> bool:
        async with self._sessions() as s, s.begin():
            return await intake.set_source_health(
                s, source=self.key, health=health, detail=detail, now=self._clock()
            )


async def source_checks(sessions: SessionFactory) -> dict[str, dict[str, object]]:
    """Return each source's health as /healthz checks: ok or degraded, why in words, since
    when, and how many unreadable posts were skipped (the latest of them)."""
    async with sessions() as s:
        rows = await intake.source_rows(s)
    checks: dict[str, dict[str, object]] = {}
    for row in rows:
        check: dict[str, object] = {"status": "ok" if row.health == HEALTH_OK else "degraded"}
        if row.health != HEALTH_OK:
            check["reason"] = row.health_detail or row.health
            check["since"] = ensure_utc(row.health_since).isoformat() if row.health_since else None
        if row.quarantined:
            check["skipped_posts"] = row.quarantined
            check["last_skipped"] = row.quarantined_last
        checks[row.source] = check
    return checks
