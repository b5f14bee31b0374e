"""How every listener runs. Each is registered through `guarded`, which runs it in a task of its
own and answers Slack the moment the listener calls `ack()`; the rest of the listener (the claim,
the send, the card update) goes on in that task, tracked by `Deps.in_flight` so shutdown waits for
it. Bolt's own way (process_before_response off) polls for the ack every 10 ms, and under a burst
of presses those polls wait behind everything else on the event loop. `guarded` also reports the
listener's errors itself (`handlers.errors.report_error`), and acks first if the listener had
not, so an error never reaches Bolt as a failed request that leaves the user's button spinning.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.response import BoltResponse

from handlers.errors import report_error

Listener = Callable[..., Awaitable[None]]


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
