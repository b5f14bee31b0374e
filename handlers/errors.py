"""How every listener runs, and the one error handler: domain errors become the user-facing
message they carry; anything unexpected becomes a short apology with a correlation id, and its
traceback is logged.

Every listener is registered through `guarded`. It runs the listener in a task of its own and
answers Slack the moment the listener calls `ack()`; the rest of the listener (the claim, the
send, the card update) goes on in that task, tracked by `Deps.in_flight` so shutdown waits for it.
Bolt's own way (process_before_response off) polls for the ack every 10 ms, and under a burst of
presses those polls wait behind everything else on the event loop; 200 simultaneous Claim presses
were answered after ~350 ms that way. `guarded` also reports the listener's errors itself, and
acks first if the listener had not, so an error never reaches Bolt as a failed request that
leaves the user's button spinning. Errors raised elsewhere (middleware) reach the same code via
`app.error`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.response import BoltResponse
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
    """Wrap `listener`: answer Slack as soon as it acks, finish it in a tracked task, and report
    its errors to the user instead of letting them escape to Bolt."""
    wanted = list(inspect.signature(listener).parameters)

    async def run(args: AsyncArgs) -> None:
        in_flight = args.context["deps"].in_flight
        uncount = in_flight.answering()
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def answer(_task: object = None) -> None:
            if not answered.done():
                answered.set_result(None)
                uncount()

        async def ack(*ack_args: Any, **ack_kwargs: Any) -> BoltResponse:
            response = await args.ack(*ack_args, **ack_kwargs)
            if not answered.done():
                answer()
                await in_flight.after_answers()  # requests still waiting for an answer go first
            return response

        kwargs = {
            name: getattr(args, name) if hasattr(args, name) else args.context.get(name)
            for name in wanted
        }
        if "ack" in kwargs:
            kwargs["ack"] = ack

        async def finish() -> None:
            try:
                await listener(**kwargs)
            except Exception as exc:  # the one place listener errors become replies (see above)
                if args.ack.response is None:
                    await ack()  # never leave a button spinning
                await report_error(exc, args.context, args.client)

        task = in_flight.start(finish(), name=listener.__name__)
        task.add_done_callback(answer)
        await answered  # Bolt sends the ack's response as soon as this returns

    run.__name__ = run.__qualname__ = listener.__name__
    return run


def register(app: AsyncApp) -> None:
    """Install the global error handler."""
    app.error(handle_error)
