"""Settings errors in Carebot's own words, every problem at once, DATABASE_URL forms, and the
half-configured network that must never start as "ready"."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.setting_values import normalise_database_url
from bot.settings import Settings
from bot.settings_loading import load_settings

# pydantic's own phrases, which must never reach a user.
PYDANTIC_WORDS = ("Input should", "input is too short", "valid integer", "Field required", "ctx")

X_USER_CONTEXT: dict[str, Any] = {
    "X_API_KEY": "key",
    "X_API_SECRET": "secret",
    "X_ACCESS_TOKEN": "access",
    "X_ACCESS_TOKEN_SECRET": "access-secret",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("CAREBOT_", "SLACK_", "X_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def problems_of(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[tuple[str, str]]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    return info.value.problems


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CAREBOT_HOLIDAYS", "xmas", "'xmas' is not a date; use YYYY-MM-DD"),
        ("CAREBOT_HOLIDAYS", "2026-12-25,boxing day", "'boxing day' is not a date"),
        ("CAREBOT_URGENT_FOLLOWERS", "-5", "'-5' is not a whole number of 0 or more"),
        ("CAREBOT_URGENT_FOLLOWERS", "lots", "'lots' is not a whole number"),
        ("CAREBOT_SLACK_API_URL", "notaurl", "'notaurl' is not an http(s) URL"),
        ("CAREBOT_X_API_URL", "ftp://x.example", "is not an http(s) URL"),
        ("CAREBOT_CHANNEL", "#social-care", "is not a channel ID"),
        ("CAREBOT_DIGEST_CHANNEL", "leads", "is not a channel ID"),
        ("CAREBOT_DIGEST_AT", "noon", "is not a time of day"),
        ("DATABASE_URL", "mysql://u@h/db", "uses 'mysql', which Carebot does not support"),
        ("DATABASE_URL", "postgresql+psycopg2://u@h/db", "does not support"),
        ("DATABASE_URL", "not a url at all", "is not a database URL"),
        ("DATABASE_URL", "postgresql:///nohost", "names no host"),
        ("DATABASE_URL", "   ", "is empty"),
        ("X_USER_ID", "@acmehelp", "is not a numeric X user id"),
    ],
)
def test_every_bad_value_is_named_in_carebots_words(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    problems = problems_of(monkeypatch, **{variable: value})
    assert [name for name, _ in problems] == [variable]
    message = problems[0][1]
    assert expected in message
    assert not any(word in message for word in PYDANTIC_WORDS), message


def test_all_bad_values_are_reported_in_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_of(
        monkeypatch,
        CAREBOT_POLL_INTERVAL="soon",
        CAREBOT_TIMEZONE="Mars/Olympus",
        CAREBOT_HOLIDAYS="xmas",
        CAREBOT_SLACK_API_URL="notaurl",
        DATABASE_URL="oracle://db",
    )
    assert sorted(name for name, _ in problems) == [
        "CAREBOT_HOLIDAYS",
        "CAREBOT_POLL_INTERVAL",
        "CAREBOT_SLACK_API_URL",
        "CAREBOT_TIMEZONE",
        "DATABASE_URL",
    ]


def test_a_secret_is_never_echoed_in_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_of(monkeypatch, SLACK_BOT_TOKEN="xoxp-personal-secret-123")
    assert problems[0][0] == "SLACK_BOT_TOKEN"
    assert "personal-secret" not in problems[0][1]


def test_a_database_password_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_of(monkeypatch, DATABASE_URL="mysql://carebot:hunter2@db/care")
    assert "hunter2" not in problems[0][1]
    assert "mysql://carebot:***@db/care" in problems[0][1]


def test_an_empty_environment_lists_every_missing_variable_at_once() -> None:
    settings = load_settings()
    socket_mode = [name for name, _ in settings.run_problems(http=False)]
    assert socket_mode == [
        "SLACK_BOT_TOKEN",
        "CAREBOT_CHANNEL",
        "SLACK_APP_TOKEN",
        "X_BEARER_TOKEN",
    ]
    http = [name for name, _ in settings.run_problems(http=True)]
    assert http == ["SLACK_BOT_TOKEN", "CAREBOT_CHANNEL", "SLACK_SIGNING_SECRET", "X_BEARER_TOKEN"]
    with pytest.raises(ConfigError) as info:
        settings.require_for_run(http=True)
    assert [line.split()[0] for line in info.value.lines()] == http


def test_an_empty_channel_is_unset_not_the_channel_named_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAREBOT_CHANNEL", "")
    monkeypatch.setenv("X_BEARER_TOKEN", " ")
    settings = load_settings()
    assert settings.channel is None
    assert settings.x_bearer_token is None
    assert "CAREBOT_CHANNEL" in [name for name, _ in settings.run_problems(http=True)]


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgres://care:pw@db.example:5432/care",
            "postgresql+asyncpg://care:pw@db.example:5432/care",
        ),
        ("postgresql://care@db/care", "postgresql+asyncpg://care@db/care"),
        ("postgresql+asyncpg://care@db/care", "postgresql+asyncpg://care@db/care"),
        ("postgres://u:p@h/d?sslmode=require", "postgresql+asyncpg://u:p@h/d?ssl=require"),
        ("sqlite:///carebot.db", "sqlite+aiosqlite:///carebot.db"),
        (
            "sqlite+aiosqlite:////var/lib/carebot/carebot.db",
            "sqlite+aiosqlite:////var/lib/carebot/carebot.db",
        ),
    ],
)
def test_database_urls_hosted_postgresql_hands_out_are_understood(given: str, used: str) -> None:
    assert normalise_database_url(given) == used
    assert Settings(database_url=given).database_url == used


def test_a_bearer_token_without_the_user_context_keys_names_each_missing_key() -> None:
    settings = Settings(x_bearer_token="bearer", x_api_key="key")
    missing = [name for name, _ in settings.x_problems()]
    assert missing == ["X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"]
    run = [name for name, _ in settings.run_problems(http=True)]
    assert run[-3:] == missing


def test_user_context_keys_without_a_bearer_token_name_the_bearer_token() -> None:
    settings = Settings(**{name.lower(): value for name, value in X_USER_CONTEXT.items()})
    assert [name for name, _ in settings.x_problems()] == ["X_BEARER_TOKEN"]


def test_a_complete_x_configuration_has_no_problems() -> None:
    settings = Settings(
        x_bearer_token="bearer", **{name.lower(): value for name, value in X_USER_CONTEXT.items()}
    )
    assert settings.x_problems() == []
    assert settings.networks() == ["x"]
