"""`XSource`: the X (Twitter) adapter behind the `Source` protocol, built on tweepy's AsyncClient.

It owns the HTTP session tweepy uses (so all X traffic can be sent to `CAREBOT_X_API_URL`), reads
the mentions timeline, posts replies and looks posts up. Turning X's JSON into `Mention`s (text
unescaped exactly once) lives in `bot.sources.x_mapping`; where requests go and what each tweepy
failure means to an agent, in `bot.sources.x_http`. tweepy is untyped, so its calls are kept
inside `_call`, which hands back plain JSON dicts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final

import aiohttp
import tweepy
import tweepy.asynchronous

from bot.clock import Clock, ensure_utc, utc_now
from bot.errors import (
    ConfigError,
    NetworkUnavailable,
    ReplyEmpty,
    ReplyRejected,
    ReplyTooLong,
    SourceError,
)
from bot.sources.base import Author, FetchResult, Mention, Rejected, SentReply, SourceLimits
from bot.sources.checks import PostCheck, PostStatus
from bot.sources.x_http import translate_error, x_api_rewrite
from bot.sources.x_mapping import (
    CHECK_FIELDS,
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    author_from_user,
    checked_tweet_id,
    first_error,
    fold_edits,
    hidden_post,
    is_customer_mention,
    json_list,
    mention_from_tweet,
    post_text,
    same_post_text,
    summons_brand,
    unescape_x_text,
)
from bot.sources.x_meter import XMeter, has_link
from bot.sources.x_text import X_REPLY_LIMIT, x_weighted_length

__all__ = ["XSource", "same_post_text", "unescape_x_text", "x_api_rewrite"]

LOOKUP_BATCH: Final = 100  # GET /2/tweets takes at most 100 ids
_UNREACHABLE: Final = "Can't reach X right now."
# X's timelines are eventually consistent: a reply it accepted shows in the brand's own timeline
# within seconds. Counted from when the attempt began, so it covers the 15 s the request itself
# may take (X may store a post just before the client gives up) and 15 s for the timeline; past
# this, "not in the timeline" is trusted to mean "not posted".
X_REPLY_VISIBLE_AFTER: Final = 30.0
# How many pages (of 100) of the brand's own recent posts a reply is looked for in.
_OWN_POST_PAGES: Final = 5


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
            lambda c: c.get_me(user_auth=True, user_fields=USER_FIELDS), replying=False
        )
        data = payload.get("data")
        if not isinstance(data, dict):
            raise SourceError(f"X did not describe the brand account: {first_error(payload)}")
        return author_from_user(data)

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
            tweets = [t for t in json_list(payload.get("data")) if isinstance(t, dict)]
            if not tweets and "errors" in payload and "meta" not in payload:
                raise SourceError(f"X could not list the brand's mentions: {first_error(payload)}")
            ids = [int(str(t.get("id"))) for t in tweets if str(t.get("id")).isdigit()]
            if first_page and ids:
                newest = max(ids)
            includes = payload.get("includes")
            includes = includes if isinstance(includes, dict) else {}
            users = {
                u.get("id"): u for u in json_list(includes.get("users")) if isinstance(u, dict)
            }
            authors = {
                str(t.get("id")): str(t.get("author_id"))
                for t in json_list(includes.get("tweets"))
                if isinstance(t, dict)
            }
            for tweet in tweets:
                # One unreadable post is quarantined; it must not hold up everyone behind it.
                try:
                    tweet_id = checked_tweet_id(tweet)
                    if tweet_id not in mentions and is_customer_mention(tweet, brand_id):
                        mention = mention_from_tweet(tweet, users.get(tweet.get("author_id")))
                        summons = summons_brand(tweet, brand_id, authors)
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
        fold_edits(mentions, originals, cursor)
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
            raise ReplyRejected(f"X did not confirm the reply: {first_error(payload)}")
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
                    found[tweet_id] = PostCheck(tweet_id, PostStatus.OK, post_text(tweet))
            for error in payload.get("errors") or []:
                check = hidden_post(error)
                if check is not None:
                    found[check.external_id] = check
        # An edited post answers with its own (old) text; its newest version has the text to show.
        newest = list(latest_of)
        for start in range(0, len(newest), LOOKUP_BATCH):
            payload = await self._lookup(newest[start : start + LOOKUP_BATCH])
            for tweet in payload.get("data") or []:
                original = latest_of.get(str(tweet["id"]))
                if original is not None:
                    found[original] = PostCheck(original, PostStatus.EDITED, post_text(tweet))
            for error in payload.get("errors") or []:
                check = hidden_post(error)
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
                tweet_fields=CHECK_FIELDS,
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
                raise SourceError(f"X could not list the brand's own posts: {first_error(payload)}")
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
                tweet_fields=TWEET_FIELDS,
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
                expansions=EXPANSIONS,
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
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
            raise translate_error(exc, replying=replying, clock=self._clock) from exc
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
