"""Showing a change on its card: redraw the card from the row and say what happened in its
thread. If Slack is down the card stays marked dirty and delivery redraws it later."""

from __future__ import annotations

import logging

from bot.delivery import DeliveryService
from bot.slack_errors import SlackDeliveryError
from storage.models import Case

log = logging.getLogger(__name__)


async def publish_change(delivery: DeliveryService, case: Case, line: str | None) -> None:
    """Redraw `case`'s card and post `line` in its thread (nothing to do before it is posted)."""
    if case.card_ts is None:
        return  # delivery will post the card as the row is now
    try:
        await delivery.update_card(case)
        if line:
            await delivery.notify(line, thread_ts=case.card_ts)
    except SlackDeliveryError as exc:
        # The change itself is committed; only its display is late. The sync job catches up.
        log.warning("case %d: card not redrawn yet (%s)", case.id, exc)
