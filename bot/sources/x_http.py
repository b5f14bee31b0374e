"""Where X requests go and what their failures mean: the aiohttp middleware that sends tweepy's
hard-coded api.twitter.com to `CAREBOT_X_API_URL`, and the translation of every tweepy error into
a domain error whose message a support agent can act on.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
import tweepy
from aiohttp import hdrs
from aiohttp.client_middlewares import ClientHandlerType, ClientMiddlewareType
from yarl import URL

from bot.clock import Clock, ensure_utc
from bot.errors import (
    ConfigError,
    NetworkAuthError,
    NetworkRateLimited,
    NetworkUnavailable,
    ReplyNotAllowed,
    ReplyRejected,
    SourceError,
)

__all__ = ["translate_error", "x_api_rewrite"]

_X_HOSTS: Final = frozenset({"api.twitter.com", "api.x.com"})
_REPLY_RULE: Final = "You can only reply to or quote posts where you are mentioned"
_NOT_ALLOWED: Final = (
    "X only lets the brand reply to posts that mention or quote it, and this one doesn't. "
    "Answer the customer on X directly, or wait for a post that mentions the brand."
)


def x_api_rewrite(api_url: str) -> ClientMiddlewareType:
    """Return an aiohttp client middleware sending api.twitter.com and api.x.com to `api_url`."""
    base = URL(api_url)
    if not base.is_absolute() or base.scheme not in {"http", "https"}:
        raise ConfigError("CAREBOT_X_API_URL", f"{api_url!r} is not an http(s) URL")
    prefix = base.raw_path.rstrip("/")

    async def rewrite(
        request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if request.url.host in _X_HOSTS:
            # tweepy hard-codes https://api.twitter.com; keep its encoded path and query (the OAuth
            # signature covers them) and swap only where the request goes.
            request.url = URL.build(
                scheme=base.scheme,
                host=base.raw_host or "",
                port=base.explicit_port,
                path=prefix + request.url.raw_path,
                query_string=request.url.raw_query_string,
                encoded=True,
            )
            # ClientRequest computed Host from the original URL before middlewares ran.
            request.headers[hdrs.HOST] = request.url.host_port_subcomponent or ""
        return await handler(request)

    return rewrite


def translate_error(exc: Any, *, replying: bool, clock: Clock) -> SourceError:
    """Return the domain error, with a message an agent can act on, for one tweepy failure."""
    status = int(getattr(exc.response, "status", 0))
    reason = _api_message(exc)
    if isinstance(exc, tweepy.errors.TooManyRequests):
        reset_at = _reset_at(exc)
        return NetworkRateLimited(
            f"X is rate-limiting us; try again {_wait_phrase(reset_at, clock)}.",
            reset_at=reset_at,
        )
    if isinstance(exc, tweepy.errors.Unauthorized):
        return NetworkAuthError(
            "X rejected Carebot's credentials (they may have been revoked or mistyped); "
            "check the X API keys and tokens."
        )
    if isinstance(exc, tweepy.errors.TwitterServerError):
        return NetworkUnavailable(f"X is having trouble (error {status}).")
    if replying and status == 403 and _REPLY_RULE in " ".join(_all_messages(exc)):
        return ReplyNotAllowed(_NOT_ALLOWED)
    if replying and isinstance(exc, tweepy.errors.HTTPException) and 400 <= status < 500:
        return ReplyRejected(f"X refused the reply: {reason}")
    if isinstance(exc, tweepy.errors.Forbidden):
        return NetworkAuthError(f"X refused access to the brand account: {reason}")
    return SourceError(f"X did not accept Carebot's request (error {status}): {reason}")


def _wait_phrase(reset_at: datetime | None, clock: Clock) -> str:
    if reset_at is None:
        return "in a few minutes"
    seconds = (reset_at - ensure_utc(clock())).total_seconds()
    if seconds <= 60:
        return "in a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"in {minutes} min"
    return f"after {reset_at:%H:%M} UTC"


def _all_messages(exc: Any) -> list[str]:
    return [str(m) for m in getattr(exc, "api_messages", []) if m]


def _api_message(exc: Any) -> str:
    messages = [str(m) for m in getattr(exc, "api_messages", []) if m]
    if messages:
        return messages[0].rstrip(".") + "."
    return f"{exc.response.status} {exc.response.reason}"


def _reset_at(exc: Any) -> datetime | None:
    reset: Any = getattr(exc, "reset_time", None)
    if reset is None:
        reset = exc.response.headers.get("x-rate-limit-reset")
    try:
        return datetime.fromtimestamp(int(reset), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
