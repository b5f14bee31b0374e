"""The Slack Web API edge of everything Carebot posts on its own (cards, redraws, thread lines,
nags, alerts, the daily digest, history lookups): `post_message` and `update_message`, and
Slack's failures, classified once. Every such call maps its exception through
`classify_slack_error` to one of three kinds, and each kind has one meaning everywhere:

- *retry* (`SlackRateLimited`, `SlackUnavailable`): HTTP 429, `ratelimited` and `rate_limited`
  bodies (Slack answers "Application has posted too many messages" with HTTP 200), 5xx,
  `internal_error`-style bodies, timeouts and connection errors. Nothing is given up; a rate
  limit waits as long as Slack's `Retry-After` asks.
- *permanent for this message* (`SlackMessageRefused`): the message or thread is gone, the text
  is too long, the blocks are refused. That one item is skipped (or, for a deleted card of an
  open case, a new card is posted) and everything behind it goes on.
- *permanent for the install* (`SlackInstallBroken`): the token is revoked or wrong, the app
  lacks a scope, or the bot is not in the channel. Nothing will work until a person fixes it:
  delivery pauses, health says why, one alert goes where it can still be seen, and the first
  call that works again ends it.
"""

from __future__ import annotations

import math
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

# Everything a Slack Web API call can raise; `classify_slack_error` sorts them into outcomes.
SLACK_CALL_ERRORS = (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError, OSError)

RATE_LIMITED = frozenset({"ratelimited", "rate_limited", "message_limit_exceeded"})
TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "timeout"}
)
INSTALL = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "not_allowed_token_type",
        "missing_scope",
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "team_access_not_granted",
        "ekm_access_denied",
        "org_login_required",
        "restricted_action",
        "restricted_action_read_only_channel",
        "app_uninstalled",
    }
)
# The message (or its thread) no longer exists: for a card, a new one can be posted.
GONE = frozenset({"message_not_found", "thread_not_found", "cant_update_message"})
# Waiting longer than this for one rate limit is a sick Slack; the caller backs off instead.
MAX_RETRY_AFTER = 300.0
DEFAULT_RETRY_AFTER = 1.0


class SlackDeliveryError(Exception):
    """Base of the outcomes below; `error` is Slack's error code (or the exception's name)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class SlackUnavailable(SlackDeliveryError):
    """Slack failed in a way that may or may not have done the work (5xx, timeout, refused)."""


class SlackRateLimited(SlackDeliveryError):
    """Slack asked us to slow down; nothing was done. Retry after `retry_after` seconds."""

    def __init__(self, retry_after: float, error: str = "ratelimited") -> None:
        super().__init__(error)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"rate limited for {self.retry_after}s"


class SlackRejected(SlackDeliveryError):
    """Slack refused the call for a reason retrying as is will not fix."""


class SlackMessageRefused(SlackRejected):
    """Permanent for this one message: skip it and go on with the rest."""

    @property
    def gone(self) -> bool:
        """Tell whether the message or thread no longer exists (a card can be posted anew)."""
        return self.error in GONE


class SlackInstallBroken(SlackRejected):
    """Permanent for the install: nothing works until someone fixes the app or the channel."""

    @property
    def channel_problem(self) -> bool:
        """Tell whether only the channel is out of reach (a DM to someone can still be seen)."""
        return self.error in {"not_in_channel", "channel_not_found", "is_archived"}

    def advice(self) -> str:
        """Return what a person should do about it, in words."""
        if self.error == "missing_scope":
            return "the Slack app lacks a permission; reinstall it from manifest.yml"
        if self.channel_problem:
            return "invite Carebot to CAREBOT_CHANNEL (or fix the channel ID)"
        return "the Slack token was refused; check SLACK_BOT_TOKEN (run `carebot check`)"


def retry_after_seconds(value: object) -> float:
    """Return a `Retry-After` header's wait in seconds; garbage means the default second."""
    try:
        seconds = float(str(value))
    except ValueError:
        return DEFAULT_RETRY_AFTER
    if not math.isfinite(seconds) or seconds < 0:
        return DEFAULT_RETRY_AFTER
    return min(seconds, MAX_RETRY_AFTER)


def classify_slack_error(exc: BaseException) -> SlackDeliveryError:
    """Map a Slack client exception to the outcome callers act on (see the module's rules)."""
    if isinstance(exc, SlackDeliveryError):
        return exc
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"http_{status}")
        if status == 429 or error in RATE_LIMITED:
            headers = exc.response.headers or {}
            retry = headers.get("Retry-After") or headers.get("retry-after")
            wait = retry_after_seconds(retry) if retry is not None else DEFAULT_RETRY_AFTER
            return SlackRateLimited(wait, error)
        if status >= 500 or error in TRANSIENT:
            return SlackUnavailable(f"Slack answered {status} {error}")
        if error in INSTALL:
            return SlackInstallBroken(error)
        return SlackMessageRefused(error)
    if isinstance(exc, SlackClientError | aiohttp.ClientError | TimeoutError | OSError):
        return SlackUnavailable(type(exc).__name__)
    raise exc


async def post_message(
    client: AsyncWebClient,
    *,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    thread_ts: str | None = None,
    broadcast: bool = False,
) -> str:
    """Post a message (links never unfurled) and return its ts; failures raise an outcome above."""
    try:
        response = await client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            metadata=metadata,
            thread_ts=thread_ts,
            reply_broadcast=broadcast or None,
            unfurl_links=False,
            unfurl_media=False,
        )
    except SLACK_CALL_ERRORS as exc:
        raise classify_slack_error(exc) from exc
    return str(response["ts"])


async def update_message(
    client: AsyncWebClient,
    *,
    channel: str,
    ts: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Replace the message `ts` in `channel` (`chat.update`); failures raise an outcome above."""
    try:
        await client.chat_update(
            channel=channel, ts=ts, text=text, blocks=blocks, metadata=metadata
        )
    except SLACK_CALL_ERRORS as exc:
        raise classify_slack_error(exc) from exc
