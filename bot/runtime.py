"""The running bot: migrate, open clients, start the source and the scheduler, serve Slack over
HTTP or Socket Mode, and shut down cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp import ClientSession, web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Deps, build_app, build_slack_client
from bot.clock import Clock, utc_now
from bot.delivery import DeliveryService, process_id
from bot.ingest import IngestService, PriorityRules
from bot.pacing import ChannelPacer
from bot.poller import Poller
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.sla import ResponsePolicy
from bot.sources import Source
from storage.engine import create_engine, session_factory
from storage.migrate import current_revision, upgrade

log = logging.getLogger(__name__)

DELIVERY_JOB = "deliver"
DELIVERY_TICK = timedelta(seconds=1)


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
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._source_factory = source_factory
        self.engine: AsyncEngine | None = None
        self.delivery: DeliveryService | None = None
        self.pacing_per_second = pacing_per_second
        self._http: ClientSession | None = None
        self.deps: Deps | None = None
        self.app: AsyncApp | None = None
        self.scheduler = Scheduler()
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
        self.deps = Deps(
            settings=self.settings,
            sessions=session_factory(self.engine),
            slack=build_slack_client(self.settings, session=self._http),
            source=source,
            clock=self.clock,
        )
        self.app = build_app(self.settings, self.deps)
        self._schedule_jobs(self.deps)
        self.scheduler.start()
        self.ready = True
        log.info("carebot is ready (jobs: %s)", ", ".join(self.scheduler.job_ids()) or "none")

    def _schedule_jobs(self, deps: Deps) -> None:
        settings = self.settings
        assert settings.channel is not None
        assert self._http is not None
        holder = process_id()
        self.delivery = DeliveryService(
            sessions=deps.sessions,
            slack=build_slack_client(settings, retries=False, session=self._http),
            channel=settings.channel,
            clock=self.clock,
            pacer=ChannelPacer(per_second=self.pacing_per_second, burst=3),
            holder=holder,
        )
        self.scheduler.every(DELIVERY_JOB, DELIVERY_TICK, self.delivery.run_once)
        if deps.source is None:
            log.warning("no X credentials: Carebot will not read mentions (see README)")
            return
        policy = ResponsePolicy(
            normal=settings.sla_first_response,
            urgent=settings.sla_urgent,
            hours=settings.business_hours,
            zone=settings.zone,
            holidays=frozenset(settings.holidays),
        )
        rules = PriorityRules(
            urgent_words=settings.urgent_words, urgent_followers=settings.urgent_followers
        )
        ingest = IngestService(sessions=deps.sessions, clock=self.clock, policy=policy, rules=rules)
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
        )
        self.scheduler.every(f"poll:{poller.key}", settings.poll_interval, poller.run_once)

    async def stop(self) -> None:
        """Stop jobs (letting runs in flight finish), close the source, dispose the engine."""
        self.ready = False
        await self.scheduler.stop()
        if self.delivery is not None:
            await self.delivery.release()
        if self.deps is not None and self.deps.source is not None:
            await self.deps.source.close()
        if self._http is not None:
            await self._http.close()
        if self.engine is not None:
            await self.engine.dispose()
        log.info("carebot stopped")

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
    """Return the aiohttp app serving Bolt on POST /slack/events and GET /healthz."""
    assert runtime.app is not None
    app = runtime.app.web_app(path="/slack/events")

    async def healthz(_request: web.Request) -> web.Response:
        body = runtime.health()
        return web.json_response(body, status=200 if runtime.ready else 503)

    app.router.add_get("/healthz", healthz)
    return app


async def serve(settings: Settings, *, http: bool, host: str, port: int) -> None:
    """Run the bot until SIGTERM or SIGINT, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    runtime = Runtime(settings)
    await runtime.start()
    assert runtime.app is not None
    runner: web.AppRunner | None = None
    socket_handler: AsyncSocketModeHandler | None = None
    try:
        if http:
            runner = web.AppRunner(health_app(runtime), handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
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
