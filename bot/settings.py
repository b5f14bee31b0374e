"""The one validated `Settings` object, read from the environment and a `.env` file.

Names are the public contract in INTERFACE.md. A bad value fails at start-up with a `ConfigError`
that names the variable; secrets are `SecretStr` and never printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from yarl import URL as WebURL

from bot.durations import BusinessHours, parse_business_hours, parse_clock_time, parse_duration
from bot.errors import ConfigError

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


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], NoDecode, BeforeValidator(_csv)]

_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]+")
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


def _holiday(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"'{value}' is not a date; use YYYY-MM-DD, e.g. 2026-12-25") from None


def _holidays(value: Any) -> Any:
    items = _csv(value)
    return [_holiday(item) for item in items] if isinstance(items, list) else items


def _whole_number(value: Any) -> Any:
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


def _web_url(example: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        url = WebURL(value.strip())
        if url.scheme not in {"http", "https"} or not url.host:
            raise ValueError(f"'{value}' is not an http(s) URL; use e.g. {example}")
        return value.strip()

    return check


class Settings(BaseSettings):
    """Carebot's configuration; build it directly in tests, from the environment in `main()`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    channel: str | None = Field(
        default=None, validation_alias=AliasChoices("CAREBOT_CHANNEL", "channel")
    )
    leads: CsvList = Field(
        default_factory=list, validation_alias=AliasChoices("CAREBOT_LEADS", "leads")
    )
    agents: CsvList = Field(
        default_factory=list, validation_alias=AliasChoices("CAREBOT_AGENTS", "agents")
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///carebot.db",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    x_bearer_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("X_BEARER_TOKEN", "x_bearer_token")
    )
    x_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("X_API_KEY", "x_api_key")
    )
    x_api_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("X_API_SECRET", "x_api_secret")
    )
    x_access_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("X_ACCESS_TOKEN", "x_access_token")
    )
    x_access_token_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("X_ACCESS_TOKEN_SECRET", "x_access_token_secret"),
    )
    x_user_id: str | None = Field(
        default=None, validation_alias=AliasChoices("X_USER_ID", "x_user_id")
    )
    poll_interval: Duration = Field(
        default=timedelta(seconds=60),
        validation_alias=AliasChoices("CAREBOT_POLL_INTERVAL", "poll_interval"),
    )
    sla_first_response: Duration = Field(
        default=timedelta(minutes=60),
        validation_alias=AliasChoices("CAREBOT_SLA_FIRST_RESPONSE", "sla_first_response"),
    )
    sla_urgent: Duration = Field(
        default=timedelta(minutes=15),
        validation_alias=AliasChoices("CAREBOT_SLA_URGENT", "sla_urgent"),
    )
    backfill: Duration = Field(
        default=timedelta(hours=24),
        validation_alias=AliasChoices("CAREBOT_BACKFILL", "backfill"),
    )
    business_hours: Annotated[BusinessHours, NoDecode, BeforeValidator(parse_business_hours)] = (
        Field(
            default_factory=BusinessHours,
            validation_alias=AliasChoices("CAREBOT_BUSINESS_HOURS", "business_hours"),
        )
    )
    timezone: str = Field(
        default="UTC", validation_alias=AliasChoices("CAREBOT_TIMEZONE", "timezone")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        validation_alias=AliasChoices("CAREBOT_SLACK_API_URL", "slack_api_url"),
    )
    x_api_url: str = Field(
        default="https://api.twitter.com",
        validation_alias=AliasChoices("CAREBOT_X_API_URL", "x_api_url"),
    )
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("CAREBOT_LOG_LEVEL", "log_level")
    )
    bluesky_handle: str | None = Field(
        default=None, validation_alias=AliasChoices("BLUESKY_HANDLE", "bluesky_handle")
    )
    bluesky_app_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BLUESKY_APP_PASSWORD", "bluesky_app_password")
    )
    bluesky_api_url: str = Field(
        default="https://bsky.social",
        validation_alias=AliasChoices("CAREBOT_BLUESKY_API_URL", "bluesky_api_url"),
    )
    mastodon_api_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MASTODON_API_BASE_URL", "mastodon_api_base_url"),
    )
    mastodon_access_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MASTODON_ACCESS_TOKEN", "mastodon_access_token"),
    )
    # Settings beyond INTERFACE.md, documented in the README's configuration table.
    urgent_words: CsvList = Field(
        default_factory=lambda: list(DEFAULT_URGENT_WORDS),
        validation_alias=AliasChoices("CAREBOT_URGENT_WORDS", "urgent_words"),
    )
    urgent_followers: Annotated[int, BeforeValidator(_whole_number)] = Field(
        default=10_000,
        ge=0,
        validation_alias=AliasChoices("CAREBOT_URGENT_FOLLOWERS", "urgent_followers"),
    )
    sla_check_interval: Duration = Field(
        default=timedelta(seconds=30),
        validation_alias=AliasChoices("CAREBOT_SLA_CHECK_INTERVAL", "sla_check_interval"),
    )
    holidays: Annotated[list[date], NoDecode, BeforeValidator(_holidays)] = Field(
        default_factory=list, validation_alias=AliasChoices("CAREBOT_HOLIDAYS", "holidays")
    )
    digest_at: Annotated[time | None, BeforeValidator(lambda v: _optional_time(v))] = Field(
        default=None, validation_alias=AliasChoices("CAREBOT_DIGEST_AT", "digest_at")
    )
    digest_channel: str | None = Field(
        default=None, validation_alias=AliasChoices("CAREBOT_DIGEST_CHANNEL", "digest_channel")
    )
    compliance_interval: Duration = Field(
        default=timedelta(hours=1),
        validation_alias=AliasChoices("CAREBOT_COMPLIANCE_INTERVAL", "compliance_interval"),
    )
    retention: Duration = Field(
        default=timedelta(days=90),
        validation_alias=AliasChoices("CAREBOT_RETENTION", "retention"),
    )
    # X's pay-per-use prices in US dollars (the developer console shows your plan's figures).
    x_price_read: float = Field(
        default=0.001, ge=0, validation_alias=AliasChoices("CAREBOT_X_PRICE_READ", "x_price_read")
    )
    x_price_request: float = Field(
        default=0.0,
        ge=0,
        validation_alias=AliasChoices("CAREBOT_X_PRICE_REQUEST", "x_price_request"),
    )
    x_price_post: float = Field(
        default=0.015, ge=0, validation_alias=AliasChoices("CAREBOT_X_PRICE_POST", "x_price_post")
    )
    x_price_post_link: float = Field(
        default=0.20,
        ge=0,
        validation_alias=AliasChoices("CAREBOT_X_PRICE_POST_LINK", "x_price_post_link"),
    )
    x_monthly_budget: Annotated[float | None, BeforeValidator(lambda v: _optional_number(v))] = (
        Field(
            default=None,
            gt=0,
            validation_alias=AliasChoices("CAREBOT_X_MONTHLY_BUDGET", "x_monthly_budget"),
        )
    )
    x_budget_poll_floor: Duration = Field(
        default=timedelta(minutes=15),
        validation_alias=AliasChoices("CAREBOT_X_BUDGET_POLL_FLOOR", "x_budget_poll_floor"),
    )

    @field_validator(
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "channel",
        "x_bearer_token",
        "x_api_key",
        "x_api_secret",
        "x_access_token",
        "x_access_token_secret",
        "x_user_id",
        "digest_channel",
        "bluesky_handle",
        "bluesky_app_password",
        "mastodon_api_base_url",
        "mastodon_access_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `CAREBOT_CHANNEL=` (an .env line left blank) means "not set", never "the channel ''".
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("channel", "digest_channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL_ID.fullmatch(value):
            raise ValueError(
                f"'{value}' is not a channel ID; use the ID (C…) shown at the bottom of the "
                "channel's details in Slack, not its name"
            )
        return value

    @field_validator("x_user_id")
    @classmethod
    def _numeric_user_id(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            raise ValueError(
                f"'{value}' is not a numeric X user id (the handle is not the id); leave it "
                "empty and Carebot looks it up"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Berlin)") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"'{value}' is not a log level; use DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("leads", "agents")
    @classmethod
    def _slack_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if item[:1] not in {"U", "W", "S"} or not item.isalnum():
                raise ValueError(f"'{item}' is not a Slack user (U…/W…) or user-group (S…) ID")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        value = _web_url("https://slack.com/api/")(value)
        return value if value.endswith("/") else value + "/"

    @field_validator("x_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return _web_url("https://api.twitter.com")(value).rstrip("/")

    @field_validator("bluesky_api_url", "mastodon_api_base_url")
    @classmethod
    def _service_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = value.strip().rstrip("/")
        if not cleaned.startswith(("https://", "http://")) or cleaned.count("/") < 2:
            raise ValueError(f"'{value}' is not an http(s) URL (e.g. https://mastodon.social)")
        return cleaned

    @field_validator("bluesky_handle")
    @classmethod
    def _bluesky_handle(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        handle = value.strip().removeprefix("@")
        if "." not in handle or " " in handle:
            raise ValueError(f"'{value}' is not a Bluesky handle (e.g. acme.bsky.social)")
        return handle

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @property
    def zone(self) -> ZoneInfo:
        """Return the configured time zone."""
        return ZoneInfo(self.timezone)

    def x_problems(self) -> list[tuple[str, str]]:
        """Return what is missing from a half-configured X (reads need the bearer token; replies
        and `users/me` need all four OAuth 1.0a user-context keys)."""
        user_context = {
            "X_API_KEY": self.x_api_key,
            "X_API_SECRET": self.x_api_secret,
            "X_ACCESS_TOKEN": self.x_access_token,
            "X_ACCESS_TOKEN_SECRET": self.x_access_token_secret,
        }
        missing = [name for name, value in user_context.items() if value is None]
        if self.x_bearer_token is None:
            if len(missing) == len(user_context):
                return []  # X is simply off
            return [
                (
                    "X_BEARER_TOKEN",
                    "is required when the X user-context keys are set: Carebot reads mentions "
                    "with the app's bearer token (developer console → Keys and tokens)",
                )
            ]
        return [
            (
                name,
                "is required with X_BEARER_TOKEN: replies on X and looking up the brand account "
                "need all four OAuth 1.0a user-context keys (X_API_KEY, X_API_SECRET, "
                "X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET)",
            )
            for name in missing
        ]

    def networks(self) -> list[str]:
        """Return the networks that are switched on: X when X_BEARER_TOKEN is set, Bluesky and
        Mastodon when both of their variables are."""
        on = {
            "x": self.x_enabled,
            "bluesky": self.bluesky_enabled,
            "mastodon": self.mastodon_enabled,
        }
        return [network for network, enabled in on.items() if enabled]

    def network_problems(self) -> list[tuple[str, str]]:
        """Return what is missing from a half-configured X, Bluesky or Mastodon, and, when no
        network is on at all, the variables that would turn one on."""
        problems = self.x_problems()
        pairs = (
            (
                "BLUESKY_HANDLE",
                self.bluesky_handle,
                "BLUESKY_APP_PASSWORD",
                self.bluesky_app_password,
            ),
            (
                "MASTODON_API_BASE_URL",
                self.mastodon_api_base_url,
                "MASTODON_ACCESS_TOKEN",
                self.mastodon_access_token,
            ),
        )
        for first, first_value, second, second_value in pairs:
            if (first_value is None) != (second_value is None):
                missing, given = (first, second) if first_value is None else (second, first)
                problems.append((missing, f"is required with {given} to turn that network on"))
        if not problems and not self.networks():
            problems.append(
                (
                    "X_BEARER_TOKEN",
                    "is not set, and no other network is either, so Carebot would read no "
                    "mentions: set X_BEARER_TOKEN and the four X user-context keys (X), or "
                    "BLUESKY_HANDLE and BLUESKY_APP_PASSWORD (Bluesky), or MASTODON_API_BASE_URL "
                    "and MASTODON_ACCESS_TOKEN (Mastodon)",
                )
            )
        return problems

    def run_problems(self, *, http: bool) -> list[tuple[str, str]]:
        """Return every `(variable, problem)` that stops `carebot run` (in this mode) working."""
        problems: list[tuple[str, str]] = []
        if self.slack_bot_token is None:
            problems.append(("SLACK_BOT_TOKEN", "is required (the bot token, xoxb-…)"))
        if self.channel is None:
            problems.append(
                ("CAREBOT_CHANNEL", "is required (the ID of the channel where cards go, C…)")
            )
        if http and self.slack_signing_secret is None:
            problems.append(("SLACK_SIGNING_SECRET", "is required with --http"))
        if not http and self.slack_app_token is None:
            problems.append(
                (
                    "SLACK_APP_TOKEN",
                    "is required for Socket Mode (xapp-…); or run with --http and "
                    "SLACK_SIGNING_SECRET",
                )
            )
        return problems + self.network_problems()

    def require_for_run(self, *, http: bool) -> None:
        """Raise one ConfigError naming every variable `carebot run` needs and lacks."""
        problems = self.run_problems(http=http)
        if problems:
            raise ConfigError.of(problems)

    @property
    def x_enabled(self) -> bool:
        """Return True when X is on (X_BEARER_TOKEN is set; x_problems names a missing half)."""
        return self.x_bearer_token is not None

    @property
    def bluesky_enabled(self) -> bool:
        """Return True when Bluesky is on (BLUESKY_HANDLE and BLUESKY_APP_PASSWORD are set)."""
        return self.bluesky_handle is not None and self.bluesky_app_password is not None

    @property
    def mastodon_enabled(self) -> bool:
        """Return True when Mastodon is on (MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN)."""
        return self.mastodon_api_base_url is not None and self.mastodon_access_token is not None

    def require_network(self) -> None:
        """Raise one ConfigError naming what is missing for the networks (none on, or half)."""
        problems = self.network_problems()
        if problems:
            raise ConfigError.of(problems)

    def secrets(self) -> list[str]:
        """Return every secret value that is set, for log redaction."""
        values = [
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.x_bearer_token,
            self.x_api_key,
            self.x_api_secret,
            self.x_access_token,
            self.x_access_token_secret,
            self.bluesky_app_password,
            self.mastodon_access_token,
        ]
        # Not the database password: SQLAlchemy and the drivers never print it, and redacting a
        # short one ("carebot") everywhere would garble the logs.
        return [v.get_secret_value() for v in values if v and v.get_secret_value()]


def _optional_number(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _optional_time(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        return parse_clock_time(value)
    return value


def _env_name(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return name.upper()


_ALIASES = {name: _env_name(name) for name in Settings.model_fields}


# Secrets whose value an error message must never show.
_SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if field.annotation == SecretStr | None
)


def _problem(error: ErrorDetails) -> tuple[str, str]:
    """Return the variable and Carebot's own words for one pydantic validation error."""
    loc = str(error["loc"][0]) if error["loc"] else ""
    variable = _ALIASES.get(loc, loc.upper() or "configuration")
    kind = error.get("type", "")
    given = error.get("input")
    shown = "the value given" if loc in _SECRET_FIELDS else f"'{given}'"
    context = error.get("ctx") or {}
    if kind == "missing":
        return variable, "is required"
    if kind == "value_error":
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if loc in _SECRET_FIELDS and isinstance(given, str):
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


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment and `.env`; raise one ConfigError naming every bad
    value (so one run shows all there is to fix)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems: list[tuple[str, str]] = []
        for error in exc.errors():
            problem = _problem(error)
            if problem not in problems:
                problems.append(problem)
        raise ConfigError.of(problems) from None
    except SettingsError as exc:
        # Raised before validation when a value cannot be decoded at all; it names the field.
        field = str(exc).split('"')[1] if '"' in str(exc) else "configuration"
        raise ConfigError(_ALIASES.get(field, field.upper()), "cannot be read") from None


def load_settings_leniently() -> tuple[Settings, list[tuple[str, str]]]:
    """Return Settings with every bad value replaced by its default, and the problems found.

    For `carebot check`, which reports everything wrong in one run: one malformed variable must
    not hide what is wrong with Slack, the database or a network.
    """
    try:
        return load_settings(), []
    except ConfigError as exc:
        problems = exc.problems
    fields = {alias: name for name, alias in _ALIASES.items()}
    defaults: dict[str, Any] = {}
    for variable, _ in problems:
        name = fields.get(variable)
        if name is not None:
            defaults[name] = Settings.model_fields[name].get_default(call_default_factory=True)
    try:
        return Settings(**defaults), problems
    except (ValidationError, SettingsError):
        return Settings(_env_file=None), problems
