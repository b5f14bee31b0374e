"""`XSource`: the X (Twitter) adapter behind the `Source` protocol, built on tweepy's AsyncClient.

It owns the HTTP session tweepy uses (so all X traffic can be sent to `CAREBOT_X_API_URL`), turns
the mentions timeline into `Mention`s, posts replies, and maps every tweepy and aiohttp failure to
a domain error whose message a support agent can act on. tweepy is untyped, so its calls are kept
inside `_call`, which hands back plain JSON dicts (`return_type=dict`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
import tweepy
import tweepy.asynchronous
from aiohttp import hdrs
from aiohttp.client_middlewares import ClientHandlerType, ClientMiddlewareType
from yarl import URL

from bot.clock import Clock, ensure_utc, utc_now
from bot.errors import (
    ConfigError,
    NetworkAuthError,
    NetworkRateLimited,
    NetworkUnavailable,
    ReplyEmpty,
    ReplyRejected,
    ReplyTooLong,
    SourceError,
)
from bot.sources.base import Author, FetchResult, Mention, Rejected, SentReply, SourceLimits
from bot.sources.x_text import X_REPLY_LIMIT, x_weighted_length

__all__ = ["XSource", "x_api_rewrite"]

_X_HOSTS: Final = frozenset({"api.twitter.com", "api.x.com"})
_TWEET_FIELDS: Final = [
    "created_at",
    "conversation_id",
    "referenced_tweets",
    "author_id",
    "in_reply_to_user_id",
]
_USER_FIELDS: Final = ["username", "name", "verified", "public_metrics"]
_EXPANSIONS: Final = ["author_id", "referenced_tweets.id"]
_UNREACHABLE: Final = "Can't reach X right now; Carebot will try again shortly."


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


class XSource:
    """Read the brand's X mentions and reply to them through X API v2."""

    network = "x"
    limits = SourceLimits(reply_max=X_REPLY_LIMIT, measure=x_weighted_length, min_poll_seconds=15)

    def __init__(
        self,
        *,
        api_url: str,
        bearer_token: str | None,
        api_key: str | None,
        api_secret: str | None,
        access_token: str | None,
        access_token_secret: str | None,
        user_id: str | None = None,
        timeout: float = 15.0,
        clock: Clock = utc_now,
    ) -> None:
        self._rewrite = x_api_rewrite(api_url)
        self._bearer_token = bearer_token
        self._user_keys = (api_key, api_secret, access_token, access_token_secret)
        self._user_id = user_id
        self._timeout = timeout
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._client: Any = None

    @property
    def _has_user_context(self) -> bool:
        return all(self._user_keys)

    async def start(self) -> None:
        """Open the HTTP session tweepy will use; call inside the running event loop."""
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(
            middlewares=(self._rewrite,), timeout=aiohttp.ClientTimeout(total=self._timeout)
        )
        api_key, api_secret, access_token, access_token_secret = self._user_keys
        client = tweepy.asynchronous.AsyncClient(
            bearer_token=self._bearer_token,
            consumer_key=api_key,
            consumer_secret=api_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            return_type=dict,
        )
        # tweepy uses `client.session` when set and then leaves it open; otherwise it would open
        # (and close) a session per request straight to api.twitter.com.
        client.session = self._session
        self._client = client

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._client = None

    async def whoami(self) -> Author:
        """Return the brand account the user credentials act as."""
        self._require_user_context("X_API_KEY", "looking up the brand account")
        payload = await self._call(
            lambda c: c.get_me(user_auth=True, user_fields=_USER_FIELDS), replying=False
        )
        data = payload.get("data")
        if not isinstance(data, dict):
            raise SourceError(f"X did not describe the brand account: {_first_error(payload)}")
        return _author(data)

    async def fetch_since(self, cursor: str | None, *, not_before: datetime) -> FetchResult:
        """Return mentions newer than `cursor` (with no cursor: posted since `not_before`)."""
        brand_id = await self._brand_id()
        mentions: dict[str, Mention] = {}
        rejected: list[Rejected] = []
        newest: int | None = None
        token: str | None = None
        first_page = True
        while first_page or token:
            payload = await self._mentions_page(brand_id, cursor, not_before, token)
            tweets = [t for t in _list(payload.get("data")) if isinstance(t, dict)]
            if not tweets and "errors" in payload and "meta" not in payload:
                raise SourceError(f"X could not list the brand's mentions: {_first_error(payload)}")
            ids = [int(str(t.get("id"))) for t in tweets if str(t.get("id")).isdigit()]
            if first_page and ids:
                newest = max(ids)
            includes = payload.get("includes")
            found = _list(includes.get("users")) if isinstance(includes, dict) else []
            users = {u.get("id"): u for u in found if isinstance(u, dict)}
            for tweet in tweets:
                # One unreadable post is quarantined; it must not hold up everyone behind it.
                try:
                    tweet_id = _tweet_id(tweet)
                    if tweet_id not in mentions and _is_customer_mention(tweet, brand_id):
                        mentions[tweet_id] = _mention(tweet, users.get(tweet.get("author_id")))
                except (SourceError, KeyError, TypeError, ValueError, AttributeError) as exc:
                    reason = exc.user_message if isinstance(exc, SourceError) else repr(exc)
                    rejected.append(Rejected(str(tweet.get("id"))[:64], reason))
            meta = payload.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            first_page = False
        ordered = sorted(mentions.values(), key=lambda m: int(m.external_id))
        return FetchResult(
            mentions=ordered, cursor=None if newest is None else str(newest), rejected=rejected
        )

    async def reply(self, *, to_external_id: str, text: str) -> SentReply:
        """Post `text` as a reply to the post `to_external_id`."""
        if not text.strip():
            raise ReplyEmpty()
        length = x_weighted_length(text)
        if length > X_REPLY_LIMIT:
            raise ReplyTooLong(length, X_REPLY_LIMIT)
        self._require_user_context("X_ACCESS_TOKEN", "replying on X")
        payload = await self._call(
            lambda c: c.create_tweet(
                text=text, in_reply_to_tweet_id=to_external_id, user_auth=True
            ),
            replying=True,
        )
        data = payload.get("data")
        if not isinstance(data, dict) or "id" not in data:
            raise ReplyRejected(f"X did not confirm the reply: {_first_error(payload)}")
        reply_id = str(data["id"])
        return SentReply(external_id=reply_id, url=f"https://x.com/i/web/status/{reply_id}")

    async def _brand_id(self) -> str:
        if self._user_id is None:
            if not self._has_user_context:
                raise ConfigError(
                    "X_USER_ID",
                    "not set, and looking it up needs X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN "
                    "and X_ACCESS_TOKEN_SECRET",
                )
            self._user_id = (await self.whoami()).external_id
        return self._user_id

    async def _mentions_page(
        self, brand_id: str, cursor: str | None, not_before: datetime, token: str | None
    ) -> dict[str, Any]:
        use_bearer = bool(self._bearer_token)
        if not use_bearer:
            self._require_user_context("X_BEARER_TOKEN", "reading mentions")
        return await self._call(
            lambda c: c.get_users_mentions(
                brand_id,
                since_id=cursor or None,
                start_time=None if cursor else ensure_utc(not_before),
                max_results=100,
                expansions=_EXPANSIONS,
                tweet_fields=_TWEET_FIELDS,
                user_fields=_USER_FIELDS,
                pagination_token=token,
                user_auth=not use_bearer,
            ),
            replying=False,
        )

    def _require_user_context(self, variable: str, purpose: str) -> None:
        if not self._has_user_context:
            raise ConfigError(
                variable,
                f"{purpose} needs X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and "
                "X_ACCESS_TOKEN_SECRET",
            )

    async def _call(
        self, request: Callable[[Any], Awaitable[Any]], *, replying: bool
    ) -> dict[str, Any]:
        """Run one tweepy call (`request(client)`), translating every failure to a domain error."""
        if self._client is None:
            raise RuntimeError("XSource.start() was not called")
        try:
            payload = await request(self._client)
        except tweepy.errors.HTTPException as exc:
            raise self._translate(exc, replying=replying) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NetworkUnavailable(_UNREACHABLE) from exc
        except json.JSONDecodeError as exc:
            raise NetworkUnavailable("X sent an answer Carebot could not read; try again.") from exc
        except tweepy.errors.TweepyException as exc:
            raise SourceError(f"X request failed: {exc}") from exc
        if not isinstance(payload, dict):
            raise NetworkUnavailable("X sent an answer Carebot could not read; try again.")
        return payload

    def _translate(self, exc: Any, *, replying: bool) -> SourceError:
        status = int(getattr(exc.response, "status", 0))
        reason = _api_message(exc)
        if isinstance(exc, tweepy.errors.TooManyRequests):
            reset_at = _reset_at(exc)
            return NetworkRateLimited(
                f"X is rate-limiting us; try again {self._wait_phrase(reset_at)}.",
                reset_at=reset_at,
            )
        if isinstance(exc, tweepy.errors.Unauthorized):
            return NetworkAuthError(
                "X rejected Carebot's credentials (they may have been revoked or mistyped); "
                "check the X API keys and tokens."
            )
        if isinstance(exc, tweepy.errors.TwitterServerError):
            return NetworkUnavailable(
                f"X is having trouble (error {status}); Carebot will try again shortly."
            )
        if replying and isinstance(exc, tweepy.errors.HTTPException) and 400 <= status < 500:
            return ReplyRejected(f"X refused the reply: {reason}")
        if isinstance(exc, tweepy.errors.Forbidden):
            return NetworkAuthError(f"X refused access to the brand account: {reason}")
        return SourceError(f"X did not accept Carebot's request (error {status}): {reason}")

    def _wait_phrase(self, reset_at: datetime | None) -> str:
        if reset_at is None:
            return "in a few minutes"
        seconds = (reset_at - ensure_utc(self._clock())).total_seconds()
        if seconds <= 60:
            return "in a minute"
        minutes = math.ceil(seconds / 60)
        if minutes < 90:
            return f"in {minutes} min"
        return f"after {reset_at:%H:%M} UTC"


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


def _first_error(payload: dict[str, Any]) -> str:
    errors = payload.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    return str(first.get("detail") or first.get("message") or "no details given")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _tweet_id(tweet: dict[str, Any]) -> str:
    value = str(tweet.get("id"))
    if not value.isdigit():
        raise SourceError(f"X sent a mention with an unreadable id ({value[:40]!r}).")
    return value


def _is_customer_mention(tweet: dict[str, Any], brand_id: str) -> bool:
    """Keep what a customer wrote: not the brand's own posts, not plain reposts (quotes stay)."""
    if tweet.get("author_id") == brand_id:
        return False
    refs = _list(tweet.get("referenced_tweets"))
    return not any(isinstance(r, dict) and r.get("type") == "retweeted" for r in refs)


def _author(user: dict[str, Any]) -> Author:
    metrics = user.get("public_metrics") or {}
    followers = metrics.get("followers_count")
    verified = user.get("verified")
    return Author(
        external_id=str(user["id"]),
        handle=str(user.get("username", "")),
        name=str(user.get("name", "")),
        followers=int(followers) if followers is not None else None,
        verified=bool(verified) if verified is not None else None,
    )


def _mention(tweet: dict[str, Any], user: dict[str, Any] | None) -> Mention:
    tweet_id = str(tweet["id"])
    author_id = str(tweet.get("author_id", ""))
    author = (
        _author(user) if user is not None else Author(external_id=author_id, handle="", name="")
    )
    replied_to = next(
        (
            str(r["id"])
            for r in _list(tweet.get("referenced_tweets"))
            if isinstance(r, dict) and r.get("type") == "replied_to"
        ),
        None,
    )
    return Mention(
        network="x",
        external_id=tweet_id,
        conversation_id=str(tweet.get("conversation_id") or tweet_id),
        author=author,
        text=str(tweet.get("text", "")),
        url=f"https://x.com/{author.handle or 'i'}/status/{tweet_id}",
        posted_at=_parse_time(tweet.get("created_at")),
        in_reply_to_id=replied_to,
    )


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise SourceError("X sent a mention without a time; Carebot cannot place it.")
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError as exc:
        raise SourceError(f"X sent a mention with an unreadable time ({value!r}).") from exc
