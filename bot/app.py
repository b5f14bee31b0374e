"""Wiring: build the Slack client, the Bolt app and its dependencies. No handler code lives here,
and nothing is created at import time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import ClientSession
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import AccessPolicy
from bot.clock import Clock
from bot.delivery import DeliveryService
from bot.digest import DigestService
from bot.ownership import OwnershipService
from bot.replies import ReplyService
from bot.settings import Settings
from bot.sources import Source
from storage.engine import SessionFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Deps:
    """What listeners and jobs need, handed to listeners through Bolt's context as `deps`."""

    settings: Settings
    sessions: SessionFactory
    slack: AsyncWebClient
    source: Source | None
    clock: Clock
    access: AccessPolicy
    delivery: DeliveryService
    ownership: OwnershipService
    replies: ReplyService
    digest: DigestService


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


def build_app(settings: Settings, deps: Deps) -> AsyncApp:
    """Build the Bolt app with request verification on and every listener registered."""
    # Imported here so that nothing in bot/ imports the Slack edge at module load (data flows
    # handlers -> bot -> storage; only this wiring function knows about handlers).
    import handlers

    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    app = AsyncApp(
        client=deps.slack,
        signing_secret=secret,
        # Socket Mode has no signatures; HTTP mode always verifies them.
        request_verification_enabled=secret is not None,
        logger=logging.getLogger("carebot.bolt"),
    )

    async def inject_deps(context: AsyncBoltContext, next: object) -> None:
        context["deps"] = deps
        await next()  # type: ignore[operator]

    app.middleware(inject_deps)
    handlers.register(app)
    return app
