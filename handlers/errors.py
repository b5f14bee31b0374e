"""The one error handler: domain errors become the user-facing message they carry; anything
unexpected becomes a short apology with a correlation id, and its traceback is logged. Listener
errors arrive here from `handlers.listener.guarded`; errors raised elsewhere (middleware) through
`app.error`.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import CarebotError, UnexpectedError

log = logging.getLogger(__name__)


async def report_error(
    error: BaseException, context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    """Tell the user what went wrong, ephemerally, and log unexpected errors with a reference."""
    known = error if isinstance(error, CarebotError) else UnexpectedError(error)
    text = known.user_message
    if known is error:
        log.info("refused: %s", text)
    user = context.user_id
    # Modal submissions carry no channel; tell the user in the care channel instead.
    deps = context.get("deps")
    channel = context.channel_id or (deps.channel if deps is not None else None)
    if user is None or channel is None:
        return
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning("could not tell %s about an error: %s", user, exc.response.get("error"))


async def handle_error(error: Exception, context: AsyncBoltContext, client: AsyncWebClient) -> None:
    """Bolt's global error handler: errors that did not pass through `guarded`."""
    await report_error(error, context, client)


def register(app: AsyncApp) -> None:
    """Install the global error handler."""
    app.error(handle_error)
