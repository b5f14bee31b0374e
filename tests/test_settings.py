"""Settings follow INTERFACE.md: names, defaults, durations, errors naming the variable."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.durations import format_duration, parse_business_hours, parse_duration
from bot.errors import ConfigError
from bot.settings import Settings
from bot.settings_loading import load_settings

ALL_VARS = [
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "CAREBOT_CHANNEL",
    "CAREBOT_LEADS",
    "CAREBOT_AGENTS",
    "DATABASE_URL",
    "X_BEARER_TOKEN",
    "X_API_KEY",
    "X_API_SECRET",
    "X_ACCESS_TOKEN",
    "X_ACCESS_TOKEN_SECRET",
    "X_USER_ID",
    "CAREBOT_POLL_INTERVAL",
    "CAREBOT_SLA_FIRST_RESPONSE",
    "CAREBOT_SLA_URGENT",
    "CAREBOT_BACKFILL",
    "CAREBOT_BUSINESS_HOURS",
    "CAREBOT_TIMEZONE",
    "CAREBOT_SLACK_API_URL",
    "CAREBOT_X_API_URL",
    "CAREBOT_LOG_LEVEL",
]


X_KEYS: dict[str, Any] = {
    "x_bearer_token": "bearer",
    "x_api_key": "key",
    "x_api_secret": "secret",
    "x_access_token": "access",
    "x_access_token_secret": "access-secret",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_match_the_interface() -> None:
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///carebot.db"
    assert s.poll_interval == timedelta(seconds=60)
    assert s.sla_first_response == timedelta(minutes=60)
    assert s.sla_urgent == timedelta(minutes=15)
    assert s.backfill == timedelta(hours=24)
    assert s.business_hours.always_open
    assert s.timezone == "UTC"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.x_api_url == "https://api.twitter.com"
    assert s.log_level == "INFO"
    assert s.leads == []
    assert s.agents == []


def test_every_interface_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1-abc",
        "SLACK_APP_TOKEN": "xapp-1-abc",
        "SLACK_SIGNING_SECRET": "shh",
        "CAREBOT_CHANNEL": "C123",
        "CAREBOT_LEADS": "U1, S2",
        "CAREBOT_AGENTS": "U3,U4",
        "DATABASE_URL": "postgresql+asyncpg://u@h/db",
        "X_BEARER_TOKEN": "bearer",
        "X_API_KEY": "key",
        "X_API_SECRET": "secret",
        "X_ACCESS_TOKEN": "access",
        "X_ACCESS_TOKEN_SECRET": "access-secret",
        "X_USER_ID": "12345",
        "CAREBOT_POLL_INTERVAL": "45s",
        "CAREBOT_SLA_FIRST_RESPONSE": "2h",
        "CAREBOT_SLA_URGENT": "900",
        "CAREBOT_BACKFILL": "1d",
        "CAREBOT_BUSINESS_HOURS": "Mon-Fri 09:00-17:00",
        "CAREBOT_TIMEZONE": "Europe/Berlin",
        "CAREBOT_SLACK_API_URL": "http://127.0.0.1:9/api",
        "CAREBOT_X_API_URL": "http://127.0.0.1:9/",
        "CAREBOT_LOG_LEVEL": "debug",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings()
    assert s.slack_bot_token is not None
    assert s.slack_bot_token.get_secret_value() == "xoxb-1-abc"
    assert s.channel == "C123"
    assert s.leads == ["U1", "S2"]
    assert s.agents == ["U3", "U4"]
    assert s.database_url == "postgresql+asyncpg://u@h/db"
    assert s.x_user_id == "12345"
    assert s.poll_interval == timedelta(seconds=45)
    assert s.sla_first_response == timedelta(hours=2)
    assert s.sla_urgent == timedelta(minutes=15)
    assert s.backfill == timedelta(days=1)
    assert s.business_hours.windows[0] == ((time(9), time(17)),)
    assert 5 not in s.business_hours.windows
    assert s.zone.key == "Europe/Berlin"
    assert s.slack_api_url == "http://127.0.0.1:9/api/"
    assert s.x_api_url == "http://127.0.0.1:9"
    assert s.log_level == "DEBUG"
    assert sorted(s.secrets()) == sorted(
        ["xoxb-1-abc", "xapp-1-abc", "shh", "bearer", "key", "secret", "access", "access-secret"]
    )


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CAREBOT_CHANNEL=C999\nCAREBOT_POLL_INTERVAL=2m\n")
    s = load_settings()
    assert s.channel == "C999"
    assert s.poll_interval == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CAREBOT_POLL_INTERVAL", "soon", "'soon' is not a duration"),
        ("CAREBOT_SLA_URGENT", "-5m", "not a duration"),
        ("CAREBOT_BACKFILL", "0", "longer than zero"),
        ("CAREBOT_TIMEZONE", "Mars/Olympus", "not an IANA time zone"),
        ("CAREBOT_LEADS", "U1,nobody", "'nobody' is not a Slack user"),
        ("CAREBOT_BUSINESS_HOURS", "weekdays 9-5", "not a business-hours segment"),
        ("CAREBOT_LOG_LEVEL", "loud", "not a log level"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-1", "xapp-"),
    ],
)
def test_malformed_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.variable == variable
    assert expected in info.value.problem
    assert value not in str(info.value) or not variable.endswith("TOKEN")


def test_run_requirements_name_the_missing_variable() -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        Settings(channel="C1").require_for_run(http=True)
    with pytest.raises(ConfigError, match="CAREBOT_CHANNEL"):
        Settings(slack_bot_token="xoxb-1").require_for_run(http=True)
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        Settings(slack_bot_token="xoxb-1", channel="C1").require_for_run(http=True)
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        Settings(slack_bot_token="xoxb-1", channel="C1").require_for_run(http=False)
    # INTERFACE.md: at least one network must be on for `carebot run`.
    with pytest.raises(ConfigError, match="X_BEARER_TOKEN"):
        Settings(slack_bot_token="xoxb-1", channel="C1", slack_signing_secret="s").require_for_run(
            http=True
        )
    Settings(
        slack_bot_token="xoxb-1", channel="C1", slack_signing_secret="s", **X_KEYS
    ).require_for_run(http=True)


def test_tokens_are_never_in_repr() -> None:
    s = Settings(slack_bot_token="xoxb-very-secret", x_bearer_token="bearer-very-secret")
    assert "very-secret" not in repr(s)
    assert "very-secret" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("15m", 900), ("2h", 7200), ("1d", 86400), ("90", 90), (" 1.5h ", 5400)],
)
def test_duration_forms(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@given(st.integers(min_value=1, max_value=10**7))
def test_bare_seconds_round_trip(seconds: int) -> None:
    assert parse_duration(str(seconds)) == timedelta(seconds=seconds)
    assert format_duration(timedelta(seconds=seconds))


def test_business_hours_forms() -> None:
    hours = parse_business_hours("Mon-Fri 09:00-17:00, Sat 10:00-14:00")
    assert hours.windows[5] == ((time(10), time(14)),)
    assert hours.describe().startswith("Mon 09:00-17:00")
    wrap = parse_business_hours("Fri-Mon 08:00-20:00")
    assert sorted(wrap.windows) == [0, 4, 5, 6]
    with pytest.raises(ValueError, match="closes before it opens"):
        parse_business_hours("Mon 17:00-09:00")


X_RULES_VARS = [
    "CAREBOT_COMPLIANCE_INTERVAL",
    "CAREBOT_RETENTION",
    "CAREBOT_X_PRICE_READ",
    "CAREBOT_X_PRICE_REQUEST",
    "CAREBOT_X_PRICE_POST",
    "CAREBOT_X_PRICE_POST_LINK",
    "CAREBOT_X_MONTHLY_BUDGET",
    "CAREBOT_X_BUDGET_POLL_FLOOR",
]


def test_x_rules_settings_defaults_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in X_RULES_VARS:
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert s.compliance_interval == timedelta(hours=1)
    assert s.retention == timedelta(days=90)
    assert (s.x_price_read, s.x_price_request, s.x_price_post, s.x_price_post_link) == (
        0.001,
        0.0,
        0.015,
        0.20,
    )
    assert s.x_monthly_budget is None
    assert s.x_budget_poll_floor == timedelta(minutes=15)
    for key, value in {
        "CAREBOT_COMPLIANCE_INTERVAL": "6h",
        "CAREBOT_RETENTION": "30d",
        "CAREBOT_X_PRICE_READ": "0.005",
        "CAREBOT_X_MONTHLY_BUDGET": "200",
        "CAREBOT_X_BUDGET_POLL_FLOOR": "30m",
    }.items():
        monkeypatch.setenv(key, value)
    s = load_settings()
    assert s.compliance_interval == timedelta(hours=6)
    assert s.retention == timedelta(days=30)
    assert s.x_price_read == 0.005
    assert s.x_monthly_budget == 200.0
    assert s.x_budget_poll_floor == timedelta(minutes=30)
    monkeypatch.setenv("CAREBOT_X_MONTHLY_BUDGET", "")
    assert load_settings().x_monthly_budget is None


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CAREBOT_COMPLIANCE_INTERVAL", "hourly", "'hourly' is not a duration"),
        ("CAREBOT_RETENTION", "forever", "'forever' is not a duration"),
        ("CAREBOT_X_PRICE_POST", "-1", "'-1' is too small; use 0.0 or more"),
        ("CAREBOT_X_PRICE_READ", "cheap", "'cheap' is not a number"),
        ("CAREBOT_X_MONTHLY_BUDGET", "0", "'0' is too small; use more than 0"),
    ],
)
def test_x_rules_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.variable == variable
    assert expected in info.value.problem
