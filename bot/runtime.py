"""The running bot: migrate, open clients, start the source and the scheduler, serve Slack over
HTTP or Socket Mode, and shut down cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import ClientSession, web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import leases
from bot.access import AccessPolicy
from bot.app import Deps, build_app, build_slack_client
from bot.blocks.digest import digest_message
from bot.clock import Clock, utc_now
from bot.delivery import DeliveryService, process_id
from bot.digest import DAILY_CHECK, DAILY_JOB, DailyDigest, DigestService, slack_poster
from bot.edge import EVENTS_PATH, slack_events_handler
from bot.errors import ConfigError
from bot.inflight import InFlight
from bot.ingest import IngestService, PriorityRules
from bot.nags import SlaChecker
from bot.ownership import OwnershipService
from bot.pacing import ChannelPacer
from bot.poller import HEARTBEAT, Poller, source_checks
from bot.replies import ReplyService
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.sla import ResponsePolicy, start_deadline
from bot.sources import Source
from storage.engine import SessionFactory, create_engine, session_factory
from storage.migrate import current_revision, upgrade
from storage.models import Case, Priority

log = logging.getLogger(__name__)

DELIVERY_JOB = "deliver"
DELIVERY_TICK = timedelta(seconds=1)
AUTH_RETRY = timedelta(minutes=5)
# Listeners still running this long after SIGTERM are cancelled (a reply send gives X 15 s; one
# cut short stays pending and its idempotency key makes the agent's retry safe).
LISTENER_DRAIN_SECONDS = 15.0
# Connections Slack may open at once before the kernel drops some and they retry a second later
# (aiohttp's default is 128; 200 agents pressing Claim together waited 1.1 s for it). The kernel
# caps it at net.core.somaxconn (4096 on current Linux).
LISTEN_BACKLOG = 1024
SLA_JOB = "sla"


def response_policy(settings: Settings) -> ResponsePolicy:
    """Return the response targets and calendar the settings describe."""
    return ResponsePolicy(
        normal=settings.sla_first_response,
        urgent=settings.sla_urgent,
        hours=settings.business_hours,
        zone=settings.zone,
        holidays=frozenset(settings.holidays),
    )


def build_ingest(settings: Settings, *, sessions: SessionFactory, clock: Clock) -> IngestService:
    """Return the ingest service the settings describe (targets, calendar, urgency rules)."""
    rules = PriorityRules(
        urgent_words=settings.urgent_words, urgent_followers=settings.urgent_followers
    )
    return IngestService(
        sessions=sessions, clock=clock, policy=response_policy(settings), rules=rules
    )


def build_source(settings: Settings) -> Source | None:
    """Return the X source when X credentials are configured, else None (Slack-only mode)."""
    if settings.x_bearer_token is None and settings.x_api_key is None:
        return None
    from bot.sources.x import XSource

    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    return XSource(
        api_url=settings.x_api_url,
        bearer_token=secret(settings.x_bearer_token),
        api_key=secret(settings.x_api_key),
        api_secret=secret(settings.x_api_secret),
        access_token=secret(settings.x_access_token),
        access_token_secret=secret(settings.x_access_token_secret),
        user_id=settings.x_user_id,
    )


class Runtime:
    """Owns every long-lived resource of one bot process, from start-up to clean shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        source_factory: Callable[[Settings], Source | None] = build_source,
        pacing_per_second: float | None = 1.0,
        auth_retry: timedelta = AUTH_RETRY,
    ) -> None:
        self.settings = settings
        self.clock = clock
        # How often a source that rejected our credentials is tried again (tests shorten it).
        self.auth_retry = auth_retry
        self._source_factory = source_factory
        self.engine: AsyncEngine | None = None
        self.delivery: DeliveryService | None = None
        self.poller: Poller | None = None
        self.pacing_per_second = pacing_per_second
        self.holder = process_id()
        self.policy: ResponsePolicy | None = None
        self._http: ClientSession | None = None
        self.deps: Deps | None = None
        self.app: AsyncApp | None = None
        self.scheduler = Scheduler()
        self.in_flight = InFlight()
        self.ready = False
        self.revision: str | None = None

    async def start(self) -> None:
        """Migrate the database, open clients and sources, and start the periodic jobs."""
        self.engine = create_engine(self.settings.database_url)
        await upgrade(self.engine)
        self.revision = await current_revision(self.engine)
        log.info("database migrated to revision %s", self.revision)
        source = self._source_factory(self.settings)
        if source is not None:
            await source.start()
        self._http = ClientSession()
        self.deps = self._build_deps(source)
        self.app = build_app(self.settings, self.deps)
        self._schedule_jobs(self.deps)
        self.scheduler.start()
        self.ready = True
        log.info("carebot is ready (jobs: %s)", ", ".join(self.scheduler.job_ids()) or "none")

    def _build_deps(self, source: Source | None) -> Deps:
        settings = self.settings
        assert self.engine is not None
        assert self._http is not None
        assert settings.channel is not None
        sessions = session_factory(self.engine)
        slack = build_slack_client(settings, session=self._http)
        self.policy = response_policy(settings)
        self.delivery = DeliveryService(
            sessions=sessions,
            slack=build_slack_client(settings, retries=False, session=self._http),
            channel=settings.channel,
            clock=self.clock,
            pacer=ChannelPacer(per_second=self.pacing_per_second, burst=3),
            holder=self.holder,
            # Who hears, by DM, that the channel itself is out of reach.
            alert_to=settings.leads or settings.agents,
        )
        access = AccessPolicy(slack=slack, agents=settings.agents, leads=settings.leads)
        return Deps(
            settings=settings,
            sessions=sessions,
            slack=slack,
            source=source,
            clock=self.clock,
            access=access,
            delivery=self.delivery,
            ownership=OwnershipService(
                sessions=sessions, clock=self.clock, access=access, reschedule=self._reschedule
            ),
            replies=ReplyService(sessions=sessions, clock=self.clock, access=access, source=source),
            digest=DigestService(
                sessions=sessions, clock=self.clock, access=access, policy=self.policy
            ),
            in_flight=self.in_flight,
        )

    def _reschedule(self, case: Case, now: datetime) -> tuple[datetime, datetime | None]:
        assert self.policy is not None
        deadline = start_deadline(self.policy, start=now, urgent=case.priority == Priority.URGENT)
        return deadline.due_at, deadline.first_nag_at

    def _schedule_jobs(self, deps: Deps) -> None:
        settings = self.settings
        assert self.delivery is not None
        assert self.policy is not None
        holder = self.holder
        policy = self.policy
        self.scheduler.every(DELIVERY_JOB, DELIVERY_TICK, self.delivery.run_once)
        sla = SlaChecker(
            sessions=deps.sessions,
            clock=self.clock,
            policy=policy,
            notifier=self.delivery,
            leads=settings.leads,
        )
        self.scheduler.every(SLA_JOB, settings.sla_check_interval, sla.run_once)
        if settings.digest_at is not None:
            daily = DailyDigest(
                sessions=deps.sessions,
                clock=self.clock,
                service=deps.digest,
                at=settings.digest_at,
                channel=settings.digest_channel or deps.delivery.channel,
                post=slack_poster(deps.slack),
                render=digest_message,
                holder=holder,
            )
            # Checked every minute rather than fired once, so a restart or a replica that was
            # down at the hour still posts the day's digest (the database keeps it to one).
            self.scheduler.every(DAILY_JOB, DAILY_CHECK, daily.run_once)
        if deps.source is None:
            log.warning("no X credentials: Carebot will not read mentions (see README)")
            return
        ingest = build_ingest(settings, sessions=deps.sessions, clock=self.clock)
        poller = Poller(
            source=deps.source,
            ingest=ingest,
            sessions=deps.sessions,
            clock=self.clock,
            notify=self.delivery.notify,
            backfill=settings.backfill,
            interval=settings.poll_interval,
            holder=holder,
            on_new=lambda: self.scheduler.wake(DELIVERY_JOB),
            auth_retry=self.auth_retry,
        )
        self.scheduler.every(f"poll:{poller.key}", settings.poll_interval, poller.run_once)
        self.scheduler.every(f"lease:{poller.key}", HEARTBEAT, poller.heartbeat, run_now=False)
        self.poller = poller

    async def stop(self) -> None:
        """Stop jobs (letting runs in flight finish), close the source, dispose the engine."""
        self.ready = False
        # Claims, sends and card updates of requests already answered finish before the engine
        # and clients they use are closed.
        await asyncio.gather(self.in_flight.drain(LISTENER_DRAIN_SECONDS), self.scheduler.stop())
        if self.delivery is not None:
            await self.delivery.release()
        if self.poller is not None:
            await self.poller.release()
        leases.retire(self.holder)
        if self.deps is not None and self.deps.source is not None:
            await self.deps.source.close()
        if self._http is not None:
            await self._http.close()
        if self.engine is not None:
            await self.engine.dispose()
        log.info("carebot stopped")

    async def health_checks(self) -> dict[str, dict[str, object]]:
        """Return what delivery and the sources know of their health, as /healthz checks:
        `{"slack": {"status": "ok" | "degraded", "reason": …}, "<network>": {…}}`."""
        checks: dict[str, dict[str, object]] = {}
        if self.delivery is not None:
            checks["slack"] = self.delivery.health().as_check()
        if self.deps is not None:
            checks.update(await source_checks(self.deps.sessions))
        return checks

    def health(self) -> dict[str, Any]:
        """Return the /healthz body."""
        source = self.deps.source if self.deps else None
        return {
            "status": "ok" if self.ready else "starting",
            "database": {"revision": self.revision},
            "sources": [source.network] if source else [],
            "jobs": self.scheduler.job_ids(),
        }


def health_app(runtime: Runtime) -> web.Application:
    """Return the aiohttp app serving Slack on POST /slack/events and GET /healthz."""
    assert runtime.app is not None
    secret = runtime.settings.slack_signing_secret
    if secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET", "is required to serve Slack over HTTP")
    app = web.Application()
    app.router.add_post(EVENTS_PATH, slack_events_handler(runtime.app, secret.get_secret_value()))

    async def healthz(_request: web.Request) -> web.Response:
        body = runtime.health()
        return web.json_response(body, status=200 if runtime.ready else 503)

    app.router.add_get("/healthz", healthz)
    return app


def tune_garbage_collector() -> None:
    """Keep the garbage collector's pauses out of the ack latency of a burst of presses.

    What start-up built lives as long as the process: frozen, it is no longer walked by every
    full collection, which took 55-70 ms here and takes 4-9 ms after this. Young collections run
    every 20,000 allocations instead of every 700: two or three per burst of 200 presses instead
    of ~70 (and 7 of the middle generation). Measured on 2 CPUs, p99 ack of a burst of 200
    simultaneous presses went from 85-150 ms to 80-90 ms (`bench/ack_latency.py`).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


async def serve(settings: Settings, *, http: bool, host: str, port: int) -> None:
    """Run the bot until SIGTERM or SIGINT, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    runtime = Runtime(settings)
    runner: web.AppRunner | None = None
    socket_handler: AsyncSocketModeHandler | None = None
    try:
        # Inside the try: a start that fails half-way still closes what it opened.
        await runtime.start()
        assert runtime.app is not None
        tune_garbage_collector()
        if http:
            runner = web.AppRunner(health_app(runtime), handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG).start()
            log.info("listening on http://%s:%d (POST /slack/events, GET /healthz)", host, port)
        else:
            assert settings.slack_app_token is not None
            socket_handler = AsyncSocketModeHandler(
                runtime.app, settings.slack_app_token.get_secret_value()
            )
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("connected to Slack over Socket Mode")
        await stop.wait()
        log.info("shutting down")
    finally:
        if socket_handler is not None:
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
        if runner is not None:
            await runner.cleanup()
        await runtime.stop()
