"""The App Home tab: published fresh each time a user opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import home_view
from bot.deps import Deps
from handlers.listener import guarded


async def on_app_home_opened(event: dict[str, Any], client: AsyncWebClient, deps: Deps) -> None:
    """Publish the user's Home view (their cases, the queue, today's SLA attainment)."""
    if event.get("tab") != "home":
        return  # the Messages tab has nothing to draw
    user = str(event["user"])
    data = await deps.digest.home(user=user)
    await client.views_publish(user_id=user, view=home_view(data))


def register(app: AsyncApp) -> None:
    """Register the App Home listener."""
    app.event("app_home_opened")(guarded(on_app_home_opened))
