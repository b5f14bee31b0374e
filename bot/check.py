"""`carebot check [--http]`: everything `carebot run` needs, checked in one go and told in plain
words: every variable the mode requires, the database (reachable, writable, migrated), Slack (the
token, the app-level token in Socket Mode, the card and digest channels and the bot's membership)
and each configured network's credentials. Every problem is reported, not just the first.

Exit codes: 0 when `run` would start and work; 2 when the configuration itself is incomplete or
the database unusable (as `run` would exit); 1 when a service rejects or cannot be reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import build_slack_client, build_source
from bot.cost import poll_cost_lines
from bot.domain.networks import network_label
from bot.preflight import (
    TOKEN_ERRORS,
    Finding,
    probe_slack,
    probe_sources,
    slack_error_words,
    unreachable,
)
from bot.setting_values import mask
from bot.settings import Settings
from bot.settings_loading import load_settings_leniently
from storage.probe import DatabaseUnusable, probe

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the report; `config` marks a problem of the configuration itself (exit 2)."""

    mark: str
    text: str
    config: bool = False


def _finding_line(finding: Finding) -> Line:
    if finding.ok:
        return Line("ok", f"{finding.part}: {finding.text}")
    fix = f" (set {finding.variable})" if finding.variable else ""
    return Line("FAIL", f"{finding.part}: {finding.text}{fix}")


def _x_credentials(settings: Settings) -> str:
    values = {
        "X_API_KEY": settings.x_api_key,
        "X_API_SECRET": settings.x_api_secret,
        "X_ACCESS_TOKEN": settings.x_access_token,
        "X_ACCESS_TOKEN_SECRET": settings.x_access_token_secret,
    }
    return ", ".join(
        f"{name}={mask(value.get_secret_value())}" for name, value in values.items() if value
    )


async def _check_app_token(settings: Settings) -> Finding:
    """In Socket Mode, ask Slack for a WebSocket URL with the app-level token."""
    assert settings.slack_app_token is not None
    token = settings.slack_app_token.get_secret_value()
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=15)
    try:
        await client.apps_connections_open(app_token=token)
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        variable = "SLACK_APP_TOKEN" if error in TOKEN_ERRORS else None
        if error == "not_allowed_token_type":
            variable = "SLACK_APP_TOKEN"
        return Finding(
            "Slack",
            False,
            f"Socket Mode: {slack_error_words(error)}; tried {mask(token)}",
            variable,
        )
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Finding("Slack", False, f"Socket Mode: {unreachable(settings.slack_api_url, exc)}")
    return Finding("Slack", True, "Socket Mode: the app-level token opens a connection")


async def collect(
    settings: Settings, problems: Sequence[tuple[str, str]], *, http: bool
) -> list[Line]:
    """Run every check and return the report's lines (`problems`: settings already found bad)."""
    lines = [Line("FAIL", f"{variable} {problem}", config=True) for variable, problem in problems]
    named = {variable for variable, _ in problems}
    for variable, problem in settings.run_problems(http=http):
        if variable not in named:
            lines.append(Line("FAIL", f"{variable} {problem}", config=True))
            named.add(variable)

    if "DATABASE_URL" not in named:
        try:
            status = await probe(settings.database_url)
            lines.append(Line("ok", f"database: {status.describe()}"))
        except DatabaseUnusable as exc:
            lines.append(Line("FAIL", f"DATABASE_URL: {exc}", config=True))

    if settings.slack_bot_token is not None:
        slack = build_slack_client(settings, retries=False)
        lines += [_finding_line(f) for f in await probe_slack(settings, slack)]
        if not http and settings.slack_app_token is not None:
            lines.append(_finding_line(await _check_app_token(settings)))

    if "x" in settings.networks() and not settings.x_problems():
        source = build_source(settings)
        assert source is not None
        for finding in await probe_sources([source]):
            if finding.rejected:
                finding = Finding(
                    finding.part, False, f"{finding.text} Tried {_x_credentials(settings)}."
                )
            lines.append(_finding_line(finding))
    elif settings.x_problems():
        lines.append(Line("skip", f"{network_label('x')}: not checked until its keys are complete"))
    if "x" in settings.networks():
        lines += [Line("info", line) for line in poll_cost_lines(settings)]
    return lines


async def run_check(
    settings: Settings | None = None,
    *,
    out: TextIO,
    err: TextIO | None = None,
    http: bool = False,
    problems: Sequence[tuple[str, str]] = (),
) -> int:
    """Check everything `carebot run` needs, print one line per check, return the exit code.

    Without `settings` they are read from the environment, leniently: a bad value is reported
    with the rest instead of stopping the check. Configuration problems also go to `err`.
    """
    if settings is None:
        settings, problems = load_settings_leniently()
    lines = await collect(settings, problems, http=http)
    for line in lines:
        print(f"{line.mark:<5} {line.text}", file=out)
    failed = [line for line in lines if line.mark == "FAIL"]
    print("all checks passed" if not failed else f"{len(failed)} check(s) failed", file=out)
    config = [line for line in failed if line.config]
    if err is not None:
        for line in config:
            print(f"carebot: configuration error: {line.text}", file=err)
    if config:
        return EXIT_CONFIG
    return EXIT_FAILURE if failed else EXIT_OK
