"""Serving the bot: Slack over HTTP (`POST /slack/events`) or Socket Mode, `GET /healthz`, until
SIGTERM or SIGINT, then a clean shutdown of the `Runtime`. Every wait races the signal."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from bot.edge import EVENTS_PATH, slack_events_handler
from bot.errors import ConfigError
from bot.health import healthz_handler
from bot.runtime import Runtime
from bot.settings import Settings
from bot.socket_mode import SocketModeLink

log = logging.getLogger(__name__)

# Connections Slack may open at once before the kernel drops some and they retry a second later
# (aiohttp's default is 128, too few for a whole team pressing Claim together). The kernel caps
# it at net.core.somaxconn.
LISTEN_BACKLOG = 1024


def health_app(runtime: Runtime) -> web.Application:
    """Return the aiohttp app serving Slack on POST /slack/events and GET /healthz."""
    assert runtime.app is not None
    secret = runtime.settings.slack_signing_secret
    if secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET", "is required to serve Slack over HTTP")
    app = web.Application()
    app.router.add_post(EVENTS_PATH, slack_events_handler(runtime.app, secret.get_secret_value()))
    app.router.add_get("/healthz", healthz_handler(runtime))
    return app


def healthz_app(runtime: Runtime) -> web.Application:
    """Return the aiohttp app serving only GET /healthz (Socket Mode's `--health-port`)."""
    app = web.Application()
    app.router.add_get("/healthz", healthz_handler(runtime))
    return app


def tune_garbage_collector() -> None:
    """Keep the garbage collector's pauses out of the ack latency of a burst of presses.

    What start-up built lives as long as the process: frozen, it is no longer walked by every
    full collection. Young collections run every 20,000 allocations instead of every 700, so a
    burst of presses sees a few of them instead of dozens (`bench/ack_latency.py` measures the
    effect; its figures are in the README and bench/results/).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


async def serve(
    settings: Settings, *, http: bool, host: str, port: int, health_port: int | None = None
) -> None:
    """Run the bot until SIGTERM or SIGINT, then shut down cleanly.

    Every wait (start-up, connecting to Slack, running) races the signal: a bot that cannot reach
    its database or Slack still stops at once when told to.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    runtime = Runtime(settings)
    runner: web.AppRunner | None = None
    link: SocketModeLink | None = None
    try:
        # Inside the try: a start that fails half-way still closes what it opened.
        if not await _unless_stopped(runtime.start(), stop):
            log.info("shutting down before start-up finished")
            return
        assert runtime.app is not None
        tune_garbage_collector()
        if http:
            runner = web.AppRunner(health_app(runtime), handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG).start()
            log.info("listening on http://%s:%d (POST /slack/events, GET /healthz)", host, port)
            await stop.wait()
        else:
            assert settings.slack_app_token is not None
            link = SocketModeLink(
                runtime.app,
                settings.slack_app_token.get_secret_value(),
                api_url=settings.slack_api_url,
            )
            runtime.socket_mode = link
            if health_port is not None:
                runner = web.AppRunner(healthz_app(runtime), handle_signals=False)
                await runner.setup()
                await web.TCPSite(runner, host, health_port).start()
                log.info("serving GET /healthz on http://%s:%d", host, health_port)
            # Returns only when stopped; raises ConfigError if Slack refuses the app token.
            await _unless_stopped(link.run(), stop)
        log.info("shutting down")
    finally:
        if link is not None:
            await link.close()
        if runner is not None:
            await runner.cleanup()
        await runtime.stop()


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` until it ends or `stop` is set (then cancel it); tell whether it ended."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return False
    task.result()  # its exception, if it failed
    return True
