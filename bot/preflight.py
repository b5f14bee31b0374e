"""Probes of what `carebot run` depends on outside the process: Slack (the token, the channels and
the bot's membership) and each network's credentials. Each answer is a `Finding` in plain words
that names the variable to fix; `carebot check`, start-up and /healthz all ask the same probes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.networks import network_label
from bot.errors import ConfigError, NetworkAuthError, SourceError
from bot.setting_values import mask
from bot.settings import Settings
from bot.sources import Source

log = logging.getLogger(__name__)

SLACK_ERRORS = {
    "invalid_auth": "the token is not valid (revoked, or copied wrongly)",
    "not_authed": "no token was sent",
    "account_inactive": "the token belongs to a deleted app or user",
    "token_revoked": "the token was revoked (reinstall the app to get a new one)",
    "token_expired": "the token has expired (reinstall the app, or turn off token rotation)",
    "missing_scope": "the app lacks a scope it needs (compare its scopes with manifest.yml)",
    "channel_not_found": "no channel with this ID exists that the bot can see "
    "(a private channel must invite the bot first)",
}
# Errors that mean the token itself is wrong (as opposed to Slack being down).
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing probed: which part, whether it is fine, and why, in words.

    `variable` names the setting to fix when a problem is the configuration's (a wrong token, a
    channel the bot is not in); it is None when the service is merely unreachable.
    """

    part: str
    ok: bool
    text: str
    variable: str | None = None
    # The service answered and refused these credentials (as opposed to not answering).
    rejected: bool = False


def slack_error_words(error: str) -> str:
    """Return what a Slack error code means, in words (with the code for searching)."""
    return f"{SLACK_ERRORS.get(error, 'Slack refused')} ({error})"


async def probe_slack(settings: Settings, slack: AsyncWebClient) -> list[Finding]:
    """Check the token (`auth.test`), then the card channel and the digest channel."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    try:
        auth = await slack.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        variable = "SLACK_BOT_TOKEN" if error in TOKEN_ERRORS else None
        tried = f"; tried {mask(token)}" if variable else ""
        return [Finding("Slack", False, f"{slack_error_words(error)}{tried}", variable)]
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        return [Finding("Slack", False, unreachable(settings.slack_api_url, exc))]
    findings = [
        Finding("Slack", True, f"connected as @{auth.get('user')} in {auth.get('team')}"),
    ]
    channels = [("CAREBOT_CHANNEL", settings.channel, "cards will go to")]
    if settings.digest_channel and settings.digest_channel != settings.channel:
        channels.append(("CAREBOT_DIGEST_CHANNEL", settings.digest_channel, "digests will go to"))
    for variable, channel, purpose in channels:
        if channel is not None:
            findings.append(await _probe_channel(settings, slack, variable, channel, purpose))
    return findings


async def _probe_channel(
    settings: Settings, slack: AsyncWebClient, variable: str, channel: str, purpose: str
) -> Finding:
    try:
        info = await slack.conversations_info(channel=channel)
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        return Finding("Slack", False, f"{channel}: {slack_error_words(error)}", variable)
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Finding("Slack", False, unreachable(settings.slack_api_url, exc))
    found: dict[str, Any] = info.get("channel") or {}
    name = found.get("name", channel)
    if found.get("is_archived"):
        return Finding("Slack", False, f"#{name} ({channel}) is archived", variable)
    if not found.get("is_member"):
        return Finding(
            "Slack",
            False,
            f"the bot is not a member of #{name} ({channel}): type `/invite @Carebot` there",
            variable,
        )
    return Finding("Slack", True, f"{purpose} #{name} ({channel}); the bot is a member")


def unreachable(url: str, exc: BaseException) -> str:
    """Say that a service at `url` did not answer, and how it failed."""
    detail = str(exc).strip() or type(exc).__name__
    return f"cannot reach {url} ({detail})"


async def probe_sources(sources: Sequence[Source]) -> list[Finding]:
    """Ask each source who its credentials act as (`whoami`); one finding per network."""
    findings = []
    for source in sources:
        label = network_label(source.network)
        try:
            await source.start()
            me = await source.whoami()
            findings.append(
                Finding(label, True, f"authenticated as @{me.handle} (id {me.external_id})")
            )
        except ConfigError as exc:
            findings.append(Finding(label, False, exc.problem, exc.variable))
        except NetworkAuthError as exc:
            findings.append(Finding(label, False, exc.user_message, rejected=True))
        except SourceError as exc:
            findings.append(Finding(label, False, exc.user_message))
        finally:
            await source.close()
    return findings


def config_error(findings: Sequence[Finding]) -> ConfigError | None:
    """Return one ConfigError for every finding that names a variable to fix, or None."""
    problems = [(f.variable, f.text) for f in findings if not f.ok and f.variable is not None]
    return ConfigError.of(problems) if problems else None
