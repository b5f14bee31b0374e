"""The one validated `Settings` object, read from the environment and a `.env` file.

Names are the public contract in INTERFACE.md. A bad value fails at start-up with a `ConfigError`
that names the variable; secrets are `SecretStr` and never printed. How each kind of value is
read and checked is `bot.setting_values`; building it from the environment with every bad value
named is `bot.settings_loading`.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import network_settings
from bot.durations import BusinessHours, parse_business_hours
from bot.errors import ConfigError
from bot.setting_values import (
    DEFAULT_URGENT_WORDS,
    CsvList,
    Duration,
    app_token,
    bluesky_handle_value,
    bot_token,
    channel_id,
    holidays_list,
    known_log_level,
    known_zone,
    normalise_database_url,
    numeric_x_user_id,
    optional_number,
    optional_time,
    service_url,
    slack_api_base_url,
    slack_ids,
    whole_number,
    x_api_base_url,
)


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
    urgent_followers: Annotated[int, BeforeValidator(whole_number)] = Field(
        default=10_000,
        ge=0,
        validation_alias=AliasChoices("CAREBOT_URGENT_FOLLOWERS", "urgent_followers"),
    )
    sla_check_interval: Duration = Field(
        default=timedelta(seconds=30),
        validation_alias=AliasChoices("CAREBOT_SLA_CHECK_INTERVAL", "sla_check_interval"),
    )
    holidays: Annotated[list[date], NoDecode, BeforeValidator(holidays_list)] = Field(
        default_factory=list, validation_alias=AliasChoices("CAREBOT_HOLIDAYS", "holidays")
    )
    digest_at: Annotated[time | None, BeforeValidator(lambda v: optional_time(v))] = Field(
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
    x_monthly_budget: Annotated[float | None, BeforeValidator(lambda v: optional_number(v))] = (
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
        return channel_id(value)

    @field_validator("x_user_id")
    @classmethod
    def _numeric_user_id(cls, value: str | None) -> str | None:
        return numeric_x_user_id(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return known_log_level(value)

    @field_validator("leads", "agents")
    @classmethod
    def _slack_ids(cls, value: list[str]) -> list[str]:
        return slack_ids(value)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return slack_api_base_url(value)

    @field_validator("x_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return x_api_base_url(value)

    @field_validator("bluesky_api_url", "mastodon_api_base_url")
    @classmethod
    def _service_url(cls, value: str | None) -> str | None:
        return service_url(value)

    @field_validator("bluesky_handle")
    @classmethod
    def _bluesky_handle(cls, value: str | None) -> str | None:
        return bluesky_handle_value(value)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        return bot_token(value)

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        return app_token(value)

    @property
    def zone(self) -> ZoneInfo:
        """Return the configured time zone."""
        return ZoneInfo(self.timezone)

    def x_problems(self) -> list[tuple[str, str]]:
        """Return what is missing from a half-configured X (reads need the bearer token; replies
        and `users/me` need all four OAuth 1.0a user-context keys)."""
        return network_settings.x_problems(self)

    def networks(self) -> list[str]:
        """Return the networks that are switched on: X when X_BEARER_TOKEN is set, Bluesky and
        Mastodon when both of their variables are."""
        return network_settings.networks(self)

    def network_problems(self) -> list[tuple[str, str]]:
        """Return what is missing from a half-configured X, Bluesky or Mastodon, and, when no
        network is on at all, the variables that would turn one on."""
        return network_settings.network_problems(self)

    def run_problems(self, *, http: bool) -> list[tuple[str, str]]:
        """Return every `(variable, problem)` that stops `carebot run` (in this mode) working."""
        return network_settings.run_problems(self, http=http)

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
