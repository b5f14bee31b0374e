"""The one global error handler: domain errors become the user-facing message they carry;
anything unexpected becomes a short apology with a correlation id, and its traceback is logged."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import CarebotError

log = logging.getLogger(__name__)


def user_message_for(error: BaseException) -> tuple[str, str | None]:
    """Return the text to show for `error` and, for unexpected errors, its correlation id."""
    if isinstance(error, CarebotError):
        return error.user_message, None
    correlation = uuid.uuid4().hex[:8]
    return (
        f"Sorry, something went wrong on our side (reference {correlation}). "
        "Nothing was changed; please try again.",
        correlation,
    )


async def handle_error(
    error: Exception, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    """Tell the user what went wrong, ephemerally, and log unexpected errors with a reference."""
    text, correlation = user_message_for(error)
    if correlation:
        log.error("unhandled error (reference %s)", correlation, exc_info=error)
    else:
        log.info("domain error: %s", text)
    user = context.user_id
    channel = context.channel_id
    if user is None or channel is None:
        return
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning("could not tell %s about an error: %s", user, exc.response.get("error"))


def register(app: AsyncApp) -> None:
    """Install the global error handler."""
    app.error(handle_error)
