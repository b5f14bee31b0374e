"""The Slack edge: thin listeners. This file shows every route Carebot registers."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import actions, commands, errors, home, views


def register(app: AsyncApp) -> None:
    """Register every listener and the global error handler on `app`."""
    errors.register(app)
    actions.register(app)
    views.register(app)
    commands.register(app)
    home.register(app)
