"""Wiring: build the Slack client, the Bolt app (every listener registered, `deps` in every
request's context), and the services and sources the settings describe. No handler code lives
here, and nothing is created at import time. This is the one module outside handlers/ that
imports handlers/ (tests/test_imports.py checks it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import ClientSession
from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot.clock import Clock
from bot.deps import Deps
from bot.ingest import IngestService, PriorityRules
from bot.settings import Settings
from bot.sla import ResponsePolicy
from bot.sources import Source
from bot.sources.registry import SourceContext, SourceRegistry, build_sources, network_spec
from storage.engine import SessionFactory

log = logging.getLogger(__name__)


def build_slack_client(
    settings: Settings, *, retries: bool = True, session: ClientSession | None = None
) -> AsyncWebClient:
    """Return a Web API client for `CAREBOT_SLACK_API_URL`, retrying connection errors, 429, 5xx.

    Delivery passes `retries=False`: it paces itself and honours Retry-After on its own. A shared
    `session` (created inside the running loop) saves a TCP connection per call.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(
        token=token, base_url=settings.slack_api_url, timeout=15, session=session
    )
    if retries:
        client.retry_handlers = [
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ]
    else:
        client.retry_handlers = []
    return client


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
    """Return the X source when X credentials are configured, else None."""
    spec = network_spec("x")
    assert spec is not None
    return spec.build(settings, SourceContext()) if spec.enabled(settings) else None


def build_registry(settings: Settings, sessions: SessionFactory, clock: Clock) -> SourceRegistry:
    """Return the sources of every network the settings turn on."""
    return build_sources(settings, SourceContext(sessions=sessions, clock=clock))


class InjectDeps(AsyncMiddleware):
    """Put `deps` into every request's context, for listeners to take as a `deps` argument.

    A class rather than a function middleware: Bolt inspects and builds the keyword arguments of
    a function middleware on every request; a class gets the request as it is.
    """

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        """Add `deps` to the request's context and go on."""
        req.context["deps"] = self.deps
        return await next()


def build_app(settings: Settings, deps: Deps, *, client: AsyncWebClient) -> AsyncApp:
    """Build the Bolt app with every listener registered (HTTP requests arrive via `bot.edge`).

    `client` is the Web API client Bolt hands listeners; `deps` reach them through the context.
    """
    app = AsyncApp(
        client=client,
        # HTTP requests are verified by `bot.edge` on the raw bytes before they are decoded, and
        # reach Bolt only through it; Socket Mode has no signatures.
        request_verification_enabled=False,
        # Bolt answers when the listener returns; `handlers.listener.guarded` returns at `ack()`
        # and finishes the listener in a task, so the answer never waits for a 10 ms poll.
        process_before_response=True,
        logger=logging.getLogger("carebot.bolt"),
    )

    app.middleware(InjectDeps(deps))
    handlers.register(app)
    return app
