"""The running bot: migrate, open clients, start the sources and the scheduler with every job, and
shut down cleanly. Serving Slack over HTTP or Socket Mode until SIGTERM/SIGINT is `bot.serve`; what
the process says of its own health (the start-up Slack probe, /healthz) is `bot.runtime_health`."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import ClientSession
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import leases
from bot.access import AccessPolicy
from bot.app import build_app, build_ingest, build_registry, build_slack_client, response_policy
from bot.blocks.digest import digest_message
from bot.charts import post_charts
from bot.clock import Clock, utc_now
from bot.compliance import ComplianceService
from bot.cost import CostTracker, Prices, spend_text
from bot.daily_digest import DAILY_CHECK, DAILY_JOB, DailyDigest, slack_poster
from bot.delivery import DeliveryService, process_id
from bot.deps import Deps
from bot.digest import DigestService
from bot.health import HEALTH_JOB, HEALTH_TICK, HealthMonitor
from bot.inflight import InFlight
from bot.nags import SlaChecker
from bot.ownership import OwnershipService
from bot.pacing import ChannelPacer
from bot.poller import HEARTBEAT, Poller, source_checks
from bot.replies import ReplyService
from bot.runtime_health import health_body, start_monitor
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.settler import PENDING_GRACE, ReplySettler
from bot.sla import ResponsePolicy, start_deadline
from bot.socket_mode import SocketModeLink
from bot.sources.checks import CheckingSource
from bot.sources.registry import (
    SourceRegistry,
)
from bot.sources.x_meter import XMeter
from bot.streams import StreamingSource, StreamRunner
from storage.engine import SessionFactory, session_factory
from storage.models import Case, Priority
from storage.probe import open_migrated

log = logging.getLogger(__name__)

DELIVERY_JOB = "deliver"
DELIVERY_TICK = timedelta(seconds=1)
AUTH_RETRY = timedelta(minutes=5)
# Listeners and jobs still running this long after SIGTERM are cancelled, so the process is gone
# within the 10 s the contract promises whatever it was doing (a reply send gives X 15 s; one cut
# short stays pending and its idempotency key makes the agent's retry safe). The rest of the stop
# (leases, the source, the engine, the Socket Mode close) takes well under the remaining time.
LISTENER_DRAIN_SECONDS = 6.0
SLA_JOB = "sla"
COMPLIANCE_JOB = "compliance"
USAGE_JOB = "x-usage"
USAGE_TICK = timedelta(seconds=30)
REPLIES_JOB = "replies"
# Replies in doubt are looked for this often; with X's 30 s visibility delay and the 20 s a
# pending send is given, every reply left by a crash is settled within a minute of start-up.
REPLIES_TICK = timedelta(seconds=5)


class Runtime:
    """Owns every long-lived resource of one bot process, from start-up to clean shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        source_factory: Callable[
            [Settings, SessionFactory, Clock], SourceRegistry
        ] = build_registry,
        pacing_per_second: float | None = 1.0,
        auth_retry: timedelta = AUTH_RETRY,
        reply_pending_grace: timedelta = PENDING_GRACE,
        reply_visible_after: timedelta | None = None,
    ) -> None:
        self.settings = settings
        # When a pending send counts as abandoned, and (None: the source's own figure) when a
        # reply not found on the network counts as not posted; tests shorten them.
        self.reply_pending_grace = reply_pending_grace
        self.reply_visible_after = reply_visible_after
        self.clock = clock
        # How often a source that rejected our credentials is tried again (tests shorten it).
        self.auth_retry = auth_retry
        self._source_factory = source_factory
        self.engine: AsyncEngine | None = None
        self.delivery: DeliveryService | None = None
        self.pollers: list[Poller] = []
        self._streams: list[asyncio.Task[None]] = []
        self.stream_runners: list[StreamRunner] = []
        self.settler: ReplySettler | None = None
        self.pacing_per_second = pacing_per_second
        self.holder = process_id()
        self.policy: ResponsePolicy | None = None
        self._http: ClientSession | None = None
        self.deps: Deps | None = None
        # The jobs' wiring, set by `start` (listeners see only `deps`).
        self._sessions: SessionFactory | None = None
        self._slack: AsyncWebClient | None = None
        self.access: AccessPolicy | None = None
        self.app: AsyncApp | None = None
        self.scheduler = Scheduler()
        self.sources = SourceRegistry()
        self.in_flight = InFlight()
        self.ready = False
        self.revision: str | None = None
        self.monitor: HealthMonitor | None = None
        self.cost: CostTracker | None = None
        # Set by `serve` in Socket Mode: the link to Slack, for /healthz to report on.
        self.socket_mode: SocketModeLink | None = None

    async def start(self) -> None:
        """Migrate the database, open clients and sources, and start the periodic jobs."""
        self.engine, self.revision = await open_migrated(self.settings.database_url)
        log.info("database migrated to revision %s", self.revision)
        sources = self._source_factory(self.settings, session_factory(self.engine), self.clock)
        await sources.start()
        self.sources = sources
        self._http = ClientSession()
        self.deps = self._build_deps(sources)
        await self._start_health()
        self.app = build_app(self.settings, self.deps, client=self.slack)
        self._schedule_jobs(self.deps)
        self.scheduler.start()
        self.ready = True
        log.info("carebot is ready (jobs: %s)", ", ".join(self.scheduler.job_ids()) or "none")

    @property
    def sessions(self) -> SessionFactory:
        """Return the session factory of the started runtime."""
        if self._sessions is None:
            raise RuntimeError("the runtime has not started")
        return self._sessions

    @property
    def slack(self) -> AsyncWebClient:
        """Return the Web API client listeners and jobs share (with retries)."""
        if self._slack is None:
            raise RuntimeError("the runtime has not started")
        return self._slack

    async def _start_health(self) -> None:
        """Prove Slack takes the token and the channels before anything says "ready", then
        start watching the health of every part for /healthz."""
        assert self.deps is not None
        assert self.engine is not None
        self.monitor = await start_monitor(
            self.settings,
            slack=self.slack,
            http=self._http,
            engine=self.engine,
            sessions=self.sessions,
            networks=[source.network for source in self.sources],
            clock=self.clock,
            revision=self.revision,
        )
        self.scheduler.every(HEALTH_JOB, HEALTH_TICK, self.monitor.refresh)

    def _build_deps(self, sources: SourceRegistry) -> Deps:
        settings = self.settings
        assert self.engine is not None
        assert self._http is not None
        assert settings.channel is not None
        sessions = self._sessions = session_factory(self.engine)
        slack = self._slack = build_slack_client(settings, session=self._http)
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
        access = self.access = AccessPolicy(
            slack=slack, agents=settings.agents, leads=settings.leads
        )
        meter = getattr(sources.get("x"), "meter", None)
        if isinstance(meter, XMeter):
            self.cost = CostTracker(
                sessions=sessions,
                clock=self.clock,
                meter=meter,
                prices=Prices.from_settings(settings),
                budget=settings.x_monthly_budget,
                floor=settings.x_budget_poll_floor,
                notify=self.delivery.notify,
                leads=settings.leads,
            )
        cost = self.cost

        async def spend() -> str | None:
            return spend_text(await cost.spend()) if cost is not None else None

        return Deps(
            channel=settings.channel,
            delivery=self.delivery,
            ownership=OwnershipService(
                sessions=sessions, clock=self.clock, access=access, reschedule=self._reschedule
            ),
            replies=ReplyService(
                sessions=sessions,
                clock=self.clock,
                access=access,
                sources=sources,
                on_change=self._reply_changed,
            ),
            digest=DigestService(
                sessions=sessions,
                clock=self.clock,
                access=access,
                policy=self.policy,
                spend=spend if cost is not None else None,
            ),
            in_flight=self.in_flight,
        )

    def _reply_changed(self) -> None:
        # The settler says it in the thread and by DM; delivery redraws the card.
        self.scheduler.wake(REPLIES_JOB)
        self.scheduler.wake(DELIVERY_JOB)

    def _reschedule(self, case: Case, now: datetime) -> tuple[datetime, datetime | None]:
        assert self.policy is not None
        deadline = start_deadline(self.policy, start=now, urgent=case.priority == Priority.URGENT)
        return deadline.due_at, deadline.first_nag_at

    def _schedule_jobs(self, deps: Deps) -> None:
        settings = self.settings
        sessions, slack, sources = self.sessions, self.slack, self.sources
        assert self.delivery is not None
        assert self.policy is not None
        holder = self.holder
        policy = self.policy
        self.scheduler.every(DELIVERY_JOB, DELIVERY_TICK, self.delivery.run_once)
        sla = SlaChecker(
            sessions=sessions,
            clock=self.clock,
            policy=policy,
            notifier=self.delivery,
            leads=settings.leads,
            gate=self.delivery.nags_may_go,
        )
        self.scheduler.every(SLA_JOB, settings.sla_check_interval, sla.run_once)
        self.settler = ReplySettler(
            sessions=sessions,
            clock=self.clock,
            sources={source.network: source for source in sources},
            delivery=self.delivery,
            slack=slack,
            holder=holder,
            pending_grace=self.reply_pending_grace,
            visible_after=self.reply_visible_after,
        )
        self.scheduler.every(REPLIES_JOB, REPLIES_TICK, self.settler.run_once)
        if settings.digest_at is not None:
            daily = DailyDigest(
                sessions=sessions,
                clock=self.clock,
                service=deps.digest,
                at=settings.digest_at,
                channel=settings.digest_channel or deps.delivery.channel,
                post=slack_poster(slack),
                render=digest_message,
                holder=holder,
                charts=functools.partial(post_charts, slack),
            )
            # Checked every minute rather than fired once, so a restart or a replica that was
            # down at the hour still posts the day's digest (the database keeps it to one).
            self.scheduler.every(DAILY_JOB, DAILY_CHECK, daily.run_once)
        self._schedule_compliance()
        if not sources:
            log.warning("no network credentials: Carebot will not read mentions (see README)")
            return
        ingest = build_ingest(settings, sessions=sessions, clock=self.clock)
        if self.cost is not None:
            self.scheduler.every(USAGE_JOB, USAGE_TICK, self.cost.run_once)
        # One job per network, each under its own DB lease: a network that fails, stalls or
        # rate-limits us never holds up the others.
        for source in sources:
            poller = Poller(
                source=source,
                ingest=ingest,
                sessions=sessions,
                clock=self.clock,
                notify=self.delivery.notify,
                backfill=settings.backfill,
                interval=settings.poll_interval,
                holder=holder,
                on_new=lambda: self.scheduler.wake(DELIVERY_JOB),
                auth_retry=self.auth_retry,
            )
            poll = poller.run_once
            if self.cost is not None and source.network == "x":
                poll = functools.partial(_metered_poll, self.cost, poller)
            self.scheduler.every(f"poll:{poller.key}", settings.poll_interval, poll)
            self.scheduler.every(f"lease:{poller.key}", HEARTBEAT, poller.heartbeat, run_now=False)
            self.pollers.append(poller)
            if isinstance(source, StreamingSource):
                runner = StreamRunner(
                    source=source,
                    ingest=ingest,
                    source_key=poller.key,
                    backfill=functools.partial(self.scheduler.wake, f"poll:{poller.key}"),
                    on_new=lambda: self.scheduler.wake(DELIVERY_JOB),
                    sessions=self.sessions,
                    holder=holder,
                )
                self.stream_runners.append(runner)
                self._streams.append(asyncio.create_task(runner.run(), name=f"stream:{poller.key}"))

    def _schedule_compliance(self) -> None:
        # Retention runs with or without a network; checks need a source that can look posts up.
        checking = [s for s in self.sources if isinstance(s, CheckingSource)]
        compliance = ComplianceService(
            sessions=self.sessions,
            clock=self.clock,
            sources=checking,
            interval=self.settings.compliance_interval,
            retention=self.settings.retention,
            holder=self.holder,
            on_change=lambda: self.scheduler.wake(DELIVERY_JOB),
        )
        self.scheduler.every(COMPLIANCE_JOB, self.settings.compliance_interval, compliance.run_once)

    async def stop(self) -> None:
        """Stop jobs (letting runs in flight finish), close the source, dispose the engine."""
        self.ready = False
        # Claims, sends and card updates of requests already answered finish before the engine
        # and clients they use are closed.
        await asyncio.gather(
            self.in_flight.drain(LISTENER_DRAIN_SECONDS),
            self.scheduler.stop(grace_seconds=LISTENER_DRAIN_SECONDS),
        )
        if self.delivery is not None:
            await self.delivery.release()
        for stream in self._streams:
            stream.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)
        for runner in self.stream_runners:
            await runner.release()
        for poller in self.pollers:
            await poller.release()
        if self.cost is not None:
            # Calls counted since the last tick are billed too.
            await self.cost.flush()
        await self.sources.close()
        leases.retire(self.holder)
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
            checks.update(await source_checks(self.sessions))
        return checks

    def health(self) -> dict[str, Any]:
        """Return the /healthz body (INTERFACE.md: status ok or degraded, a check per part)."""
        return health_body(
            monitor=self.monitor,
            ready=self.ready,
            revision=self.revision,
            sources=self.sources.networks,
            jobs=self.scheduler.job_ids(),
            delivery=self.delivery,
            socket_mode=self.socket_mode,
        )


async def _metered_poll(cost: CostTracker, poller: Poller) -> None:
    """Poll X unless the month's budget is spent (then at the floor's pace, bot/cost.py)."""
    if await cost.may_poll():
        await poller.run_once()
        await cost.run_once()
