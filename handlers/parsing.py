"""Pure parsing of what Slack sends: which case a button is about (through its codec in
bot/blocks/codecs.py), who pressed it."""

from __future__ import annotations

from typing import Any

from bot.blocks.codecs import CaseButton

# Re-exported: listeners and tests name the error of an unreadable payload from here too.
from bot.blocks.codecs import StaleRequest as StaleRequest


def case_id_of(action: dict[str, Any]) -> int:
    """Return the case id a card button carries in its value (`42` or `42:7`)."""
    return CaseButton.parse(action.get("value")).case_id


def seen_version_of(action: dict[str, Any]) -> int | None:
    """Return the case's state version the pressed card showed (None: the button has none)."""
    return CaseButton.parse(action.get("value")).version


def user_of(body: dict[str, Any]) -> str:
    """Return the Slack user id of whoever sent the request."""
    user = body.get("user") or {}
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise StaleRequest()
    return user_id
