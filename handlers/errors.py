"""The one error handler: domain errors become the user-facing message they carry; anything
unexpected becomes a short apology with a correlation id, and its traceback is logged.

Every listener is registered through `guarded`, which sends its errors here instead of letting
them escape into Bolt: when a listener raises within ~10 ms of calling `ack()`, Bolt's async
runner resets the acknowledgement and answers Slack 404 ("didn't call ack()"), which leaves the
user's button spinning. Errors raised elsewhere (middleware) reach the same code via `app.error`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import CarebotError, UnexpectedError

log = logging.getLogger(__name__)

Listener = Callable[..., Awaitable[None]]


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
    channel = context.channel_id or (deps.settings.channel if deps is not None else None)
    if user is None or channel is None:
        return
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning("could not tell %s about an error: %s", user, exc.response.get("error"))


async def handle_error(error: Exception, context: AsyncBoltContext, client: AsyncWebClient) -> None:
    """Bolt's global error handler: errors that did not pass through `guarded`."""
    await report_error(error, context, client)


def guarded(listener: Listener) -> Listener:
    """Wrap `listener` so that its errors are reported to the user instead of escaping to Bolt."""
    wanted = list(inspect.signature(listener).parameters)

    async def run(args: AsyncArgs) -> None:
        kwargs = {
            name: getattr(args, name) if hasattr(args, name) else args.context.get(name)
            for name in wanted
        }
        try:
            await listener(**kwargs)
        except Exception as exc:  # the one place listener errors become replies (see above)
            if args.ack.response is None:
                await args.ack()  # never leave a button spinning
            await report_error(exc, args.context, args.client)

    run.__name__ = run.__qualname__ = listener.__name__
    return run


def register(app: AsyncApp) -> None:
    """Install the global error handler."""
    app.error(handle_error)
