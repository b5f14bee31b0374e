"""Pure parsing of what Slack sends: which case a button or modal is about, who pressed it."""

from __future__ import annotations

from typing import Any

from bot.errors import CarebotError


class StaleRequest(CarebotError):
    """A button or modal that does not name a case we can read (old message, tampered payload)."""

    def __init__(self) -> None:
        super().__init__("That button is out of date; use the latest card.")


def case_id_of(action: dict[str, Any]) -> int:
    """Return the case id a card button carries in its value (`42` or `42:7`)."""
    return _button_value(action)[0]


def seen_version_of(action: dict[str, Any]) -> int | None:
    """Return the case's state version the pressed card showed (None: the button has none)."""
    return _button_value(action)[1]


def _button_value(action: dict[str, Any]) -> tuple[int, int | None]:
    case_id, colon, version = str(action.get("value") or "").partition(":")
    if not case_id.isdigit() or (colon and not version.isdigit()):
        raise StaleRequest()
    return int(case_id), int(version) if colon else None


def user_of(body: dict[str, Any]) -> str:
    """Return the Slack user id of whoever sent the request."""
    user = body.get("user") or {}
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise StaleRequest()
    return user_id
