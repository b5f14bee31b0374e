"""Showing a change on its card: redraw the card from the case and say what happened in its
thread (the domain event, rendered by `bot.blocks.lines`). The thread line is stored before
anything is sent; if the card is not posted yet or Slack is down, the card stays marked dirty and
the line queued, and delivery catches up."""

from __future__ import annotations

import logging

from bot.blocks.lines import thread_line
from bot.delivery import DeliveryService
from bot.domain import Case, CaseEvent
from bot.slack_api import SlackDeliveryError

log = logging.getLogger(__name__)


async def publish_change(delivery: DeliveryService, case: Case, event: CaseEvent | None) -> None:
    """Queue the event's line for the case's thread, then redraw the card and post what waits.

    The line is stored first: if the card is not in Slack yet (its ts not recorded) or Slack
    fails, it waits in the database and delivery posts it once the card exists."""
    if event is not None:
        await delivery.add_line(case.id, thread_line(event))
    if case.card_ts is None:
        return  # delivery will post the card as the row is now, then the line
    try:
        await delivery.update_card(case)
        # The line goes out now if this process delivers to the channel; otherwise the one
        # that does posts it within its next tick (a second), paced with everything else.
        if await delivery.delivers_here():
            await delivery.post_card_lines(case_id=case.id)
    except SlackDeliveryError as exc:
        # The change itself is committed; only its display is late. Delivery catches up.
        log.warning("case %d: card not redrawn yet (%s)", case.id, exc)
