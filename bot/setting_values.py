"""How each kind of setting's value is read and checked before it reaches `Settings`: lists,
durations, dates, whole numbers, IDs, tokens, web and database URLs, and how a secret may be
shown. Each check raises ValueError with words a person can act on; `validation_problem` turns
pydantic's errors into those words, and `Settings` names the variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, SecretStr
from pydantic_core import ErrorDetails
from pydantic_settings import NoDecode
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from yarl import URL as WebURL

from bot.durations import parse_clock_time, parse_duration

DEFAULT_URGENT_WORDS = (
    "refund",
    "cancel",
    "broken",
    "outage",
    "down",
    "scam",
    "fraud",
    "charged twice",
    "hacked",
    "lawsuit",
    "not working",
    "urgent",
)

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def csv_items(value: Any) -> Any:
    """Split a comma-separated value into its non-empty items (other values pass as they are)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], NoDecode, BeforeValidator(csv_items)]

CHANNEL_ID = re.compile(r"[CG][A-Z0-9]+")
# What hosted PostgreSQL hands out (`postgres://`, `postgresql://`) means asyncpg here.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
_DATABASE_EXAMPLES = (
    "postgresql://user:password@host:5432/carebot or sqlite+aiosqlite:///carebot.db"
)


def holiday(value: Any) -> Any:
    """Read one holiday, `YYYY-MM-DD`, or raise ValueError saying how to write it."""
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"'{value}' is not a date; use YYYY-MM-DD, e.g. 2026-12-25") from None


def holidays_list(value: Any) -> Any:
    """Read a comma-separated list of holidays."""
    items = csv_items(value)
    return [holiday(item) for item in items] if isinstance(items, list) else items


def whole_number(value: Any) -> Any:
    """Read a whole number of 0 or more (`10_000` allowed), or raise ValueError."""
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if not text.isdigit():
            raise ValueError(f"'{value}' is not a whole number of 0 or more, e.g. 10000")
        return int(text)
    return value


def normalise_database_url(value: str) -> str:
    """Return `value` as the async SQLAlchemy URL Carebot uses, or raise ValueError saying why.

    `postgres://` and `postgresql://` mean asyncpg, `sqlite://` means aiosqlite, and libpq's
    `sslmode=` is asyncpg's `ssl=`. The error never shows a password.
    """
    text = value.strip()
    if not text:
        raise ValueError(f"is empty; use e.g. {_DATABASE_EXAMPLES}")
    try:
        url = make_url(text)
    except ArgumentError:
        raise ValueError(f"is not a database URL; use e.g. {_DATABASE_EXAMPLES}") from None
    shown = url.render_as_string(hide_password=True)
    driver = _ASYNC_DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(
            f"'{shown}' uses '{url.drivername}', which Carebot does not support; "
            f"use PostgreSQL or SQLite, e.g. {_DATABASE_EXAMPLES}"
        )
    url = url.set(drivername=driver)
    if driver.startswith("postgresql"):
        if not url.host and "host" not in url.query:
            raise ValueError(f"'{shown}' names no host; use e.g. {_DATABASE_EXAMPLES}")
        if "sslmode" in url.query:
            query = dict(url.query)
            query.setdefault("ssl", query.pop("sslmode"))
            url = url.set(query=query)
    return url.render_as_string(hide_password=False)


def mask(value: str) -> str:
    """Return a secret as people may see it: its kind and length, never enough to use it."""
    if len(value) < 12:
        return f"({len(value)} characters)"
    return f"{value[:5]}…{value[-2:]} ({len(value)} characters)"


def web_url(example: str) -> Callable[[str], str]:
    """Return a check that a value is an http(s) URL, its error showing `example`."""

    def check(value: str) -> str:
        url = WebURL(value.strip())
        if url.scheme not in {"http", "https"} or not url.host:
            raise ValueError(f"'{value}' is not an http(s) URL; use e.g. {example}")
        return value.strip()

    return check


def optional_number(value: Any) -> Any:
    """Read an empty value as unset (None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def optional_time(value: Any) -> Any:
    """Read an empty value as unset, anything else as a clock time (`09:00`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        return parse_clock_time(value)
    return value


def channel_id(value: str | None) -> str | None:
    """Check a channel ID (C… or G…), not a channel name."""
    if value is not None and not CHANNEL_ID.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a channel ID; use the ID (C…) shown at the bottom of the "
            "channel's details in Slack, not its name"
        )
    return value


def numeric_x_user_id(value: str | None) -> str | None:
    """Check an X user id is numeric (a handle is not an id)."""
    if value is not None and not value.isdigit():
        raise ValueError(
            f"'{value}' is not a numeric X user id (the handle is not the id); leave it "
            "empty and Carebot looks it up"
        )
    return value


def known_zone(value: str) -> str:
    """Check the name is an IANA time zone."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Berlin)") from exc
    return value


def known_log_level(value: str) -> str:
    """Return the log level in capitals, or raise ValueError if it is none."""
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"'{value}' is not a log level; use DEBUG, INFO, WARNING or ERROR")
    return level


def slack_ids(value: list[str]) -> list[str]:
    """Check every item is a Slack user (U…/W…) or user-group (S…) ID."""
    for item in value:
        if item[:1] not in {"U", "W", "S"} or not item.isalnum():
            raise ValueError(f"'{item}' is not a Slack user (U…/W…) or user-group (S…) ID")
    return value


def slack_api_base_url(value: str) -> str:
    """Check the Slack Web API base URL and end it with a slash."""
    value = web_url("https://slack.com/api/")(value)
    return value if value.endswith("/") else value + "/"


def x_api_base_url(value: str) -> str:
    """Check the X API base URL and drop its trailing slash."""
    return web_url("https://api.twitter.com")(value).rstrip("/")


def service_url(value: str | None) -> str | None:
    """Check an http(s) service base URL and drop its trailing slash."""
    if value is None:
        return None
    cleaned = value.strip().rstrip("/")
    if not cleaned.startswith(("https://", "http://")) or cleaned.count("/") < 2:
        raise ValueError(f"'{value}' is not an http(s) URL (e.g. https://mastodon.social)")
    return cleaned


def bluesky_handle_value(value: str | None) -> str | None:
    """Return a Bluesky handle without its `@`, or raise ValueError."""
    if value is None or not value.strip():
        return None
    handle = value.strip().removeprefix("@")
    if "." not in handle or " " in handle:
        raise ValueError(f"'{value}' is not a Bluesky handle (e.g. acme.bsky.social)")
    return handle


def bot_token(value: SecretStr | None) -> SecretStr | None:
    """Check a bot token starts with xoxb-."""
    if value is not None and not value.get_secret_value().startswith("xoxb-"):
        raise ValueError("must be a bot token starting with xoxb-")
    return value


def app_token(value: SecretStr | None) -> SecretStr | None:
    """Check an app-level token starts with xapp-."""
    if value is not None and not value.get_secret_value().startswith("xapp-"):
        raise ValueError("must be an app-level token starting with xapp-")
    return value


def validation_problem(
    error: ErrorDetails, *, aliases: Mapping[str, str], secrets: Collection[str]
) -> tuple[str, str]:
    """Return the variable (`aliases` maps field to variable) and Carebot's own words for one
    pydantic validation error; the value of a field in `secrets` is never shown."""
    loc = str(error["loc"][0]) if error["loc"] else ""
    variable = aliases.get(loc, loc.upper() or "configuration")
    kind = error.get("type", "")
    given = error.get("input")
    shown = "the value given" if loc in secrets else f"'{given}'"
    context = error.get("ctx") or {}
    if kind == "missing":
        return variable, "is required"
    if kind == "value_error":
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if loc in secrets and isinstance(given, str):
            message += f" (got {mask(given)})"
        return variable, message
    if kind == "greater_than_equal":
        return variable, f"{shown} is too small; use {context.get('ge')} or more"
    if kind == "greater_than":
        return variable, f"{shown} is too small; use more than {context.get('gt')}"
    if kind.startswith("int_"):
        return variable, f"{shown} is not a whole number"
    if kind.startswith(("float_", "decimal_")):
        return variable, f"{shown} is not a number (e.g. 0.015)"
    if kind.startswith(("date_", "datetime_")):
        return variable, f"{shown} is not a date; use YYYY-MM-DD"
    if kind.startswith("time_"):
        return variable, f"{shown} is not a time of day; use HH:MM"
    if kind.startswith(("string_", "list_", "model_")):
        return variable, f"{shown} is not a value Carebot can read here (see .env.example)"
    return variable, f"{shown} is not valid (see the README's configuration table)"
