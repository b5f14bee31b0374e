"""`FakeX`: the sandbox X API v2 served on 127.0.0.1, and its endpoints.

Every request passes the middleware of `XGate` (`gate`: recording, latency, outages, queued
failures, rate-limit windows, credentials) before its endpoint here: `users/me`, the mentions and
user timelines, post lookup (one or many) and post creation.
"""

from __future__ import annotations

import asyncio
import bisect
from typing import Any

from aiohttp import web

from bot.clock import ensure_utc
from bot.sandbox.loopback import LoopbackServer
from bot.sandbox.x.gate import XGate
from bot.sandbox.x.models import (
    _ESCAPES,
    _LOOKUP_MAX,
    _NOT_REPLIABLE,
    _TOO_LONG,
    FakeTweet,
    PostedReply,
    _base36,
    _fields,
    _id_param,
    _int_param,
    _invalid,
    _invalid_body,
    _kind,
    _not_found,
    _problem,
    _Reject,
    _time_param,
)
from bot.sources.x_text import X_REPLY_LIMIT, x_weighted_length


class FakeX(XGate, LoopbackServer):
    """An in-memory X API v2 served on 127.0.0.1; point `CAREBOT_X_API_URL` at `api_url`."""

    def app(self) -> web.Application:
        """Return the aiohttp application with the X API v2 routes Carebot uses."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/2/users/me", self._users_me)
        app.router.add_get("/2/users/{id}/mentions", self._mentions)
        app.router.add_get("/2/users/{id}/tweets", self._user_tweets)
        app.router.add_get("/2/tweets/{id}", self._get_tweet)
        app.router.add_get("/2/tweets", self._lookup_tweets)
        app.router.add_post("/2/tweets", self._create_tweet)
        return app

    @property
    def api_url(self) -> str:
        """Return the base URL to use as `CAREBOT_X_API_URL`."""
        return self.base_url

    # -- Endpoints (behind `XGate._middleware`) ---------------------------------------------------

    async def _users_me(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request, user_only=True)
        fields = _fields(request, "user.fields")
        return web.json_response({"data": self.brand.to_json(fields)})

    async def _mentions(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request, user_only=False)
        user_id = request.match_info["id"]
        if user_id != self.brand.id:
            return web.json_response({"errors": [_not_found("user", user_id)]})
        query = request.query
        max_results = _int_param(query, "max_results", default=10, low=5, high=100)
        since_id = _id_param(query, "since_id")
        until_id = _id_param(query, "until_id")
        start_time = _time_param(query, "start_time")
        end_time = _time_param(query, "end_time")
        token = query.get("pagination_token")
        upper = len(self._mention_ids)
        if token is not None:
            try:
                upper = bisect.bisect_right(self._mention_ids, int(token, 36))
            except ValueError:
                raise _Reject(400, _invalid("pagination_token", token, "is invalid")) from None
        if until_id is not None:
            upper = min(upper, bisect.bisect_left(self._mention_ids, until_id))
        lower = 0 if since_id is None else bisect.bisect_right(self._mention_ids, since_id)
        page: list[FakeTweet] = []
        next_token: str | None = None
        for index in range(upper - 1, lower - 1, -1):
            tweet = self.tweets[str(self._mention_ids[index])]
            if self._hidden(tweet.id, "id") is not None:
                continue  # X leaves out posts of suspended and protected accounts
            if start_time is not None and tweet.created_at < start_time:
                continue
            if end_time is not None and tweet.created_at >= end_time:
                continue
            if len(page) == max_results:
                next_token = _base36(int(tweet.id))
                break
            page.append(tweet)
        return web.json_response(self._timeline(request, page, next_token))

    def _timeline(
        self, request: web.Request, page: list[FakeTweet], next_token: str | None
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"result_count": len(page)}
        if not page:
            return {"meta": meta}
        meta["newest_id"] = page[0].id
        meta["oldest_id"] = page[-1].id
        if next_token is not None:
            meta["next_token"] = next_token
        body = self._expand(request, page)
        body["meta"] = meta
        return body

    def _expand(self, request: web.Request, tweets: list[FakeTweet]) -> dict[str, Any]:
        tweet_fields = _fields(request, "tweet.fields")
        user_fields = _fields(request, "user.fields")
        expansions = _fields(request, "expansions")
        body: dict[str, Any] = {"data": [t.to_json(tweet_fields) for t in tweets]}
        includes: dict[str, Any] = {}
        if "author_id" in expansions:
            author_ids = dict.fromkeys(t.author_id for t in tweets)
            includes["users"] = [self.users[a].to_json(user_fields) for a in author_ids]
        if "referenced_tweets.id" in expansions:
            ref_ids = dict.fromkeys(i for t in tweets for _, i in t.referenced_tweets)
            found = [
                self.tweets[i].to_json(tweet_fields)
                for i in ref_ids
                if self._hidden(i, "id") is None
            ]
            if found:
                includes["tweets"] = found
        if includes:
            body["includes"] = includes
        return body

    async def _user_tweets(self, request: web.Request) -> web.StreamResponse:
        """`GET /2/users/:id/tweets`: the user's own posts, newest first (reposts excludable)."""
        self._authenticate(request, user_only=False)
        user_id = request.match_info["id"]
        if user_id not in self.users:
            return web.json_response({"errors": [_not_found("user", user_id)]})
        query = request.query
        max_results = _int_param(query, "max_results", default=10, low=5, high=100)
        since_id = _id_param(query, "since_id")
        until_id = _id_param(query, "until_id")
        start_time = _time_param(query, "start_time")
        end_time = _time_param(query, "end_time")
        excluded = set(query.get("exclude", "").split(","))
        token = query.get("pagination_token")
        upper: int | None = None
        if token is not None:
            try:
                upper = int(token, 36)
            except ValueError:
                raise _Reject(400, _invalid("pagination_token", token, "is invalid")) from None
        visible_before = ensure_utc(self.clock()).timestamp() - self.timeline_delay
        own = sorted(
            (
                t
                for t in self.tweets.values()
                if t.author_id == user_id
                and t.created_at.timestamp() <= visible_before
                and not ("retweets" in excluded and _kind(t) == "retweeted")
                and not ("replies" in excluded and _kind(t) == "replied_to")
            ),
            key=lambda t: int(t.id),
            reverse=True,
        )
        page: list[FakeTweet] = []
        next_token: str | None = None
        for tweet in own:
            number = int(tweet.id)
            if upper is not None and number > upper:
                continue
            if since_id is not None and number <= since_id:
                continue
            if until_id is not None and number >= until_id:
                continue
            if start_time is not None and tweet.created_at < start_time:
                continue
            if end_time is not None and tweet.created_at >= end_time:
                continue
            if len(page) == max_results:
                next_token = _base36(number)
                break
            page.append(tweet)
        return web.json_response(self._timeline(request, page, next_token))

    async def _get_tweet(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request, user_only=False)
        tweet_id = request.match_info["id"]
        hidden = self._hidden(tweet_id, "id")
        if hidden is not None:
            return web.json_response({"errors": [hidden]})
        body = self._expand(request, [self.tweets[tweet_id]])
        body["data"] = body["data"][0]
        return web.json_response(body)

    async def _lookup_tweets(self, request: web.Request) -> web.StreamResponse:
        """`GET /2/tweets?ids=`: the posts found in `data`, each one missing in `errors`."""
        self._authenticate(request, user_only=False)
        raw = request.query.get("ids", "")
        ids = [part for part in raw.split(",") if part]
        if not ids or len(ids) > _LOOKUP_MAX:
            raise _Reject(400, _invalid("ids", raw, f"must hold 1 to {_LOOKUP_MAX} Post IDs"))
        for tweet_id in ids:
            if not tweet_id.isdigit():
                raise _Reject(400, _invalid("ids", tweet_id, "is not a valid Tweet ID"))
        visible = [self.tweets[i] for i in ids if self._hidden(i, "ids") is None]
        errors = [e for i in ids if (e := self._hidden(i, "ids")) is not None]
        body = self._expand(request, visible) if visible else {}
        if errors:
            body["errors"] = errors
        return web.json_response(body)

    async def _create_tweet(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request, user_only=True)
        try:
            payload = await request.json()
        except ValueError:
            raise _Reject(400, _invalid_body("The request body is not valid JSON.")) from None
        if not isinstance(payload, dict):
            raise _Reject(400, _invalid_body("The request body must be a JSON object."))
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _Reject(400, _invalid_body("Tweet text is required."))
        if x_weighted_length(text) > X_REPLY_LIMIT:
            raise _Reject(400, _invalid("text", text, "is too long", message=_TOO_LONG))
        reply = payload.get("reply")
        parent_id: str | None = None
        if isinstance(reply, dict):
            parent_id = str(reply.get("in_reply_to_tweet_id", ""))
            parent = self.tweets.get(parent_id)
            if parent is None:
                raise _Reject(
                    400, _invalid("reply.in_reply_to_tweet_id", parent_id, "does not exist")
                )
            if not self._engaged(parent):
                raise _Reject(403, _problem(403, detail=_NOT_REPLIABLE))
        fault = next((f for f in self._create_faults if f.count > 0), None)
        if fault is not None:
            fault.count -= 1
            if not fault.stored:
                await asyncio.sleep(fault.stall)
                raise _Reject(fault.status or 503, _problem(fault.status or 503))
        tweet = self._store(text, self.brand, reply_to=parent_id)
        self.posted_replies.append(
            PostedReply(id=tweet.id, text=text, in_reply_to_tweet_id=parent_id)
        )
        if fault is not None:
            await asyncio.sleep(fault.stall)
            if fault.status is not None:
                raise _Reject(fault.status, _problem(fault.status))
        return web.json_response(
            {
                "data": {
                    "id": tweet.id,
                    "text": text.translate(_ESCAPES),
                    "edit_history_tweet_ids": [tweet.id],
                }
            },
            status=201,
        )
