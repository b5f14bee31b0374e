"""The one validated `Settings` object, read from the environment and a `.env` file.

Names are the public contract in INTERFACE.md. A bad value fails at start-up with a `ConfigError`
that names the variable; secrets are `SecretStr` and never printed.
"""

from __future__ import annotations

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
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

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
    urgent_followers: int = Field(
        default=10_000,
        ge=0,
        validation_alias=AliasChoices("CAREBOT_URGENT_FOLLOWERS", "urgent_followers"),
    )
    sla_check_interval: Duration = Field(
        default=timedelta(seconds=30),
        validation_alias=AliasChoices("CAREBOT_SLA_CHECK_INTERVAL", "sla_check_interval"),
    )
    holidays: Annotated[list[date], NoDecode, BeforeValidator(_csv)] = Field(
        default_factory=list, validation_alias=AliasChoices("CAREBOT_HOLIDAYS", "holidays")
    )
    digest_at: Annotated[time | None, BeforeValidator(lambda v: _optional_time(v))] = Field(
        default=None, validation_alias=AliasChoices("CAREBOT_DIGEST_AT", "digest_at")
    )
    digest_channel: str | None = Field(
        default=None, validation_alias=AliasChoices("CAREBOT_DIGEST_CHANNEL", "digest_channel")
    )

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
        return value if value.endswith("/") else value + "/"

    @field_validator("x_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

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

    def require_for_run(self, *, http: bool) -> None:
        """Raise ConfigError naming the first variable `carebot run` needs and lacks."""
        if self.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN", "is required (the bot token, xoxb-…)")
        if self.channel is None:
            raise ConfigError("CAREBOT_CHANNEL", "is required (the channel ID where cards go)")
        if http and self.slack_signing_secret is None:
            raise ConfigError("SLACK_SIGNING_SECRET", "is required with --http")
        if not http and self.slack_app_token is None:
            raise ConfigError(
                "SLACK_APP_TOKEN",
                "is required for Socket Mode (xapp-…); or run with --http and SLACK_SIGNING_SECRET",
            )

    @property
    def x_enabled(self) -> bool:
        """Return True when X is on (X_BEARER_TOKEN, or the OAuth 1.0a user keys, are set)."""
        return self.x_bearer_token is not None or self.x_api_key is not None

    @property
    def bluesky_enabled(self) -> bool:
        """Return True when Bluesky is on (BLUESKY_HANDLE and BLUESKY_APP_PASSWORD are set)."""
        return self.bluesky_handle is not None and self.bluesky_app_password is not None

    @property
    def mastodon_enabled(self) -> bool:
        """Return True when Mastodon is on (MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN)."""
        return self.mastodon_api_base_url is not None and self.mastodon_access_token is not None

    def require_network(self) -> None:
        """Raise ConfigError naming the variables to set when no network is on."""
        if self.x_enabled or self.bluesky_enabled or self.mastodon_enabled:
            return
        half = (
            ("BLUESKY_APP_PASSWORD", self.bluesky_handle is not None),
            ("BLUESKY_HANDLE", self.bluesky_app_password is not None),
            ("MASTODON_ACCESS_TOKEN", self.mastodon_api_base_url is not None),
            ("MASTODON_API_BASE_URL", self.mastodon_access_token is not None),
        )
        for variable, other_half_set in half:
            if other_half_set:
                raise ConfigError(variable, "is required with its pair to turn that network on")
        raise ConfigError(
            "X_BEARER_TOKEN",
            "no network is on: set X_BEARER_TOKEN (X), or BLUESKY_HANDLE and "
            "BLUESKY_APP_PASSWORD (Bluesky), or MASTODON_API_BASE_URL and "
            "MASTODON_ACCESS_TOKEN (Mastodon)",
        )

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
        return [v.get_secret_value() for v in values if v and v.get_secret_value()]


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


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment and `.env`; raise ConfigError on a bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = str(error["loc"][0]) if error["loc"] else ""
        variable = _ALIASES.get(loc, loc.upper() or "configuration")
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if error.get("type") == "missing":
            message = "is required"
        raise ConfigError(variable, message) from None
    except SettingsError as exc:
        # Raised before validation when a value cannot be decoded at all; it names the field.
        field = str(exc).split('"')[1] if '"' in str(exc) else "configuration"
        raise ConfigError(_ALIASES.get(field, field.upper()), "cannot be read") from None
