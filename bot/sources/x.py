"""`XSource`: the X (Twitter) adapter behind the `Source` protocol, built on tweepy's AsyncClient.

It owns the HTTP session tweepy uses (so all X traffic can be sent to `CAREBOT_X_API_URL`), turns
the mentions timeline into `Mention`s, posts replies, and maps every tweepy and aiohttp failure to
a domain error whose message a support agent can act on. X sends text HTML-escaped; this module
unescapes it exactly once (`unescape_x_text`), so everything past it holds text as typed. tweepy
is untyped, so its calls are kept inside `_call`, which hands back plain JSON dicts.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
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
    ReplyNotAllowed,
    ReplyRejected,
    ReplyTooLong,
    SourceError,
)
from bot.sources.base import Author, FetchResult, Mention, Rejected, SentReply, SourceLimits
from bot.sources.checks import PostCheck, PostStatus
from bot.sources.x_meter import XMeter, has_link
from bot.sources.x_text import X_REPLY_LIMIT, url_spans, x_weighted_length

__all__ = ["XSource", "unescape_x_text", "x_api_rewrite"]

_X_HOSTS: Final = frozenset({"api.twitter.com", "api.x.com"})
_TWEET_FIELDS: Final = [
    "created_at",
    "conversation_id",
    "referenced_tweets",
    "author_id",
    "in_reply_to_user_id",
    "entities",
    "note_tweet",
    "edit_history_tweet_ids",
]
_USER_FIELDS: Final = ["username", "name", "verified", "public_metrics"]
# X escapes exactly these three in post text (and nothing else), so exactly these are undone.
_X_ENTITIES: Final = re.compile(r"&(amp|lt|gt);")
_X_UNESCAPE: Final = {"amp": "&", "lt": "<", "gt": ">"}
_REPLY_RULE: Final = "You can only reply to or quote posts where you are mentioned"
_NOT_ALLOWED: Final = (
    "X only lets the brand reply to posts that mention or quote it, and this one doesn't. "
    "Answer the customer on X directly, or wait for a post that mentions the brand."
)


def unescape_x_text(text: str) -> str:
    """Return X's HTML-escaped post text as its author typed it (one pass: `&amp;lt;` → `&lt;`)."""
    return _X_ENTITIES.sub(lambda m: _X_UNESCAPE[m.group(1)], text)


_EXPANSIONS: Final = ["author_id", "referenced_tweets.id"]
_CHECK_FIELDS: Final = ["edit_history_tweet_ids", "note_tweet", "withheld", "author_id"]
LOOKUP_BATCH: Final = 100  # GET /2/tweets takes at most 100 ids
_UNREACHABLE: Final = "Can't reach X right now."
# X's timelines are eventually consistent: a reply it accepted shows in the brand's own timeline
# within seconds. Counted from when the attempt began, so it covers the 15 s the request itself
# may take (X may store a post just before the client gives up) and 15 s for the timeline; past
# this, "not in the timeline" is trusted to mean "not posted".
X_REPLY_VISIBLE_AFTER: Final = 30.0
# How many pages (of 100) of the brand's own recent posts a reply is looked for in.
_OWN_POST_PAGES: Final = 5


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
    limits = SourceLimits(
        reply_max=X_REPLY_LIMIT,
        measure=x_weighted_length,
        min_poll_seconds=15,
        reply_visible_after=X_REPLY_VISIBLE_AFTER,
    )

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
        meter: XMeter | None = None,
    ) -> None:
        self._rewrite = x_api_rewrite(api_url)
        # Counts every call by kind and paces calls on X's rate-limit headers.
        self.meter = meter if meter is not None else XMeter(clock=clock)
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
            middlewares=(self._rewrite, self.meter),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
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
        originals: dict[str, str] = {}  # an edited version's id -> the id first posted
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
            includes = includes if isinstance(includes, dict) else {}
            users = {u.get("id"): u for u in _list(includes.get("users")) if isinstance(u, dict)}
            authors = {
                str(t.get("id")): str(t.get("author_id"))
                for t in _list(includes.get("tweets"))
                if isinstance(t, dict)
            }
            for tweet in tweets:
                # One unreadable post is quarantined; it must not hold up everyone behind it.
                try:
                    tweet_id = _tweet_id(tweet)
                    if tweet_id not in mentions and _is_customer_mention(tweet, brand_id):
                        mention = _mention(tweet, users.get(tweet.get("author_id")))
                        summons = _summons(tweet, brand_id, authors)
                        mentions[tweet_id] = dataclasses.replace(mention, summons=summons)
                        history = [str(i) for i in tweet.get("edit_history_tweet_ids") or []]
                        if history and history[0] != tweet_id:
                            originals[tweet_id] = history[0]
                except (SourceError, KeyError, TypeError, ValueError, AttributeError) as exc:
                    reason = exc.user_message if isinstance(exc, SourceError) else repr(exc)
                    rejected.append(Rejected(str(tweet.get("id"))[:64], reason))
            meta = payload.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            first_page = False
        _fold_edits(mentions, originals, cursor)
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
        self.meter.record("post_link" if has_link(text) else "post", items=1)
        return SentReply(external_id=reply_id, url=f"https://x.com/i/web/status/{reply_id}")

    async def check_posts(self, external_ids: list[str]) -> list[PostCheck]:
        """Look the posts up (`GET /2/tweets?ids=`, 100 a call): deleted, hidden, edited or not."""
        found: dict[str, PostCheck] = {}
        latest_of: dict[str, str] = {}
        for start in range(0, len(external_ids), LOOKUP_BATCH):
            batch = external_ids[start : start + LOOKUP_BATCH]
            payload = await self._lookup(batch)
            for tweet in payload.get("data") or []:
                tweet_id = str(tweet["id"])
                history = [str(i) for i in tweet.get("edit_history_tweet_ids") or [tweet_id]]
                if tweet.get("withheld"):
                    found[tweet_id] = PostCheck(tweet_id, PostStatus.WITHHELD)
                elif history[-1] != tweet_id:
                    latest_of[history[-1]] = tweet_id
                else:
                    found[tweet_id] = PostCheck(tweet_id, PostStatus.OK, _post_text(tweet))
            for error in payload.get("errors") or []:
                check = _hidden_post(error)
                if check is not None:
                    found[check.external_id] = check
        # An edited post answers with its own (old) text; its newest version has the text to show.
        newest = list(latest_of)
        for start in range(0, len(newest), LOOKUP_BATCH):
            payload = await self._lookup(newest[start : start + LOOKUP_BATCH])
            for tweet in payload.get("data") or []:
                original = latest_of.get(str(tweet["id"]))
                if original is not None:
                    found[original] = PostCheck(original, PostStatus.EDITED, _post_text(tweet))
            for error in payload.get("errors") or []:
                check = _hidden_post(error)
                if check is not None and check.external_id in latest_of:
                    original = latest_of[check.external_id]
                    found[original] = PostCheck(original, check.status)
        return [found[i] for i in external_ids if i in found]

    async def _lookup(self, ids: list[str]) -> dict[str, Any]:
        use_bearer = bool(self._bearer_token)
        if not use_bearer:
            self._require_user_context("X_BEARER_TOKEN", "checking stored posts")
        return await self._call(
            lambda c: c.get_tweets(
                ids,
                tweet_fields=_CHECK_FIELDS,
                expansions=["author_id"],
                user_fields=["protected"],
                user_auth=not use_bearer,
            ),
            replying=False,
        )

    async def find_reply(
        self, *, to_external_id: str, text: str, not_before: datetime
    ) -> SentReply | None:
        """Return the brand's reply to `to_external_id` with `text` posted since `not_before`.

        Read from the brand's own timeline (`GET /2/users/:id/tweets`), newest first, matching
        the post it replies to (`referenced_tweets` of type replied_to) and the text as X shows
        it: links become t.co links and `&`, `<`, `>` come back as HTML entities.
        """
        self._require_user_context("X_ACCESS_TOKEN", "checking the brand's replies on X")
        brand_id = await self._brand_id()
        # A minute of slack for clocks that disagree; the text and the parent decide the match.
        since = ensure_utc(not_before) - timedelta(minutes=1)
        token: str | None = None
        for _page in range(_OWN_POST_PAGES):
            payload = await self._call(self._own_posts(brand_id, since, token), replying=False)
            for tweet in payload.get("data") or []:
                replied_to = {
                    str(r.get("id"))
                    for r in tweet.get("referenced_tweets", [])
                    if r.get("type") == "replied_to"
                }
                if to_external_id in replied_to and same_post_text(
                    str(tweet.get("text", "")), text
                ):
                    reply_id = str(tweet["id"])
                    return SentReply(
                        external_id=reply_id, url=f"https://x.com/i/web/status/{reply_id}"
                    )
            if "data" not in payload and "errors" in payload:
                raise SourceError(
                    f"X could not list the brand's own posts: {_first_error(payload)}"
                )
            token = payload.get("meta", {}).get("next_token")
            if not token:
                return None
        return None

    @staticmethod
    def _own_posts(
        brand_id: str, since: datetime, token: str | None
    ) -> Callable[[Any], Awaitable[Any]]:
        def request(client: Any) -> Awaitable[Any]:
            return client.get_users_tweets(  # type: ignore[no-any-return]
                brand_id,
                start_time=since,
                max_results=100,
                exclude=["retweets"],
                tweet_fields=_TWEET_FIELDS,
                pagination_token=token,
                user_auth=True,
            )

        return request

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
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made, so X cannot have acted on the request.
            raise NetworkUnavailable(_UNREACHABLE, may_have_posted=False) from exc
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
            return NetworkUnavailable(f"X is having trouble (error {status}).")
        if replying and status == 403 and _REPLY_RULE in " ".join(_all_messages(exc)):
            return ReplyNotAllowed(_NOT_ALLOWED)
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


def _fold_edits(
    mentions: dict[str, Mention], originals: dict[str, str], cursor: str | None
) -> None:
    """Keep an edit from becoming a second case: X gives each version of a post a new id.

    An edit whose original is in the same fetch becomes that original's text. One whose original
    is older than the cursor was already delivered; the compliance job takes the edit onto it. An
    edit of a post never seen (edited before its first poll) stays: it is the only version.
    """
    for version, original in originals.items():
        edited = mentions.pop(version)
        if original in mentions:
            mentions[original] = dataclasses.replace(mentions[original], text=edited.text)
        elif cursor is None or int(original) > int(cursor):
            mentions[version] = edited


def _hidden_post(error: Any) -> PostCheck | None:
    """Read one entry of a lookup's `errors`: which post, and why X no longer shows it."""
    if not isinstance(error, dict) or error.get("resource_type") != "tweet":
        return None
    post_id = str(error.get("resource_id") or error.get("value") or "")
    kind = str(error.get("type", ""))
    if not post_id:
        return None
    if kind.endswith("/not-authorized-for-resource"):
        return PostCheck(post_id, PostStatus.PROTECTED)
    if kind.endswith("/resource-not-found"):
        suspended = "suspended" in str(error.get("detail", "")).lower()
        return PostCheck(post_id, PostStatus.SUSPENDED if suspended else PostStatus.DELETED)
    return None


def _all_messages(exc: Any) -> list[str]:
    return [str(m) for m in getattr(exc, "api_messages", []) if m]


def _summons(tweet: dict[str, Any], brand_id: str, quoted_authors: dict[str, str]) -> bool:
    """Tell whether the post mentions the brand (an entity) or quotes one of the brand's posts."""
    entities = tweet.get("entities") or {}
    note = tweet.get("note_tweet") or {}
    mentions = list(entities.get("mentions") or []) + list(
        (note.get("entities") or {}).get("mentions") or []
    )
    if any(str(m.get("id")) == brand_id for m in mentions if isinstance(m, dict)):
        return True
    return any(
        ref.get("type") == "quoted" and quoted_authors.get(str(ref.get("id"))) == brand_id
        for ref in tweet.get("referenced_tweets", [])
    )


def _post_text(tweet: dict[str, Any]) -> str:
    """Return the whole post as typed: `note_tweet` holds what a long post's `text` cuts off."""
    note = tweet.get("note_tweet")
    raw = note.get("text") if isinstance(note, dict) else None
    return unescape_x_text(str(raw if isinstance(raw, str) else tweet.get("text", "")))


def same_post_text(shown: str, sent: str) -> bool:
    """Whether `shown` (a post's text as X returns it) is the text `sent` was posted with."""
    return _comparable(html.unescape(shown)) == _comparable(sent)


# A reply's text as X returns it starts with the @handles it answers, which X adds itself.
_LEADING_MENTIONS = re.compile(r"^(?:[@\uff20]\w{1,15}\s+)+")


def _comparable(text: str) -> str:
    # X replaces every link with a t.co link of its own; compare everything around the links.
    text = _LEADING_MENTIONS.sub("", unicodedata.normalize("NFC", text).strip())
    parts: list[str] = []
    position = 0
    for start, end in url_spans(text):
        parts.append(text[position:start])
        parts.append("\u0000")
        position = end
    parts.append(text[position:])
    return " ".join("".join(parts).split())


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
        text=_post_text(tweet),
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
