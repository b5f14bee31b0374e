"""Pure parsing of what Slack sends: which case a button or modal is about, who pressed it."""

from __future__ import annotations

from typing import Any

from bot.errors import CarebotError


class StaleRequest(CarebotError):
    """A button or modal that does not name a case we can read (old message, tampered payload)."""

    def __init__(self) -> None:
        super().__init__("That button is out of date; use the latest card.")


def case_id_of(action: dict[str, Any]) -> int:
    """Return the case id a card button carries in its value."""
    value = str(action.get("value") or "")
    if not value.isdigit():
        raise StaleRequest()
    return int(value)


def user_of(body: dict[str, Any]) -> str:
    """Return the Slack user id of whoever sent the request."""
    user = body.get("user") or {}
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise StaleRequest()
    return user_id
