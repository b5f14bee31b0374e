"""`FakeX`: a local stand-in for the parts of X API v2 Carebot uses, served over loopback HTTP.

It keeps users and posts in memory, answers `users/me`, the mentions timeline, post lookup and
post creation with X's JSON shapes (including its error bodies and rate-limit headers), checks
Bearer and OAuth 1.0a credentials, and records every request so tests can assert on the traffic.
Knobs inject the failures a real X produces: 429s, revoked credentials, outages, slow answers,
and for post creation the ones that leave a client unsure: a post stored and then a 5xx, a post
stored and then no answer for longer than the client waits, a stall before anything is stored.
OAuth signatures are not verified; only the consumer key and access token are checked.

Text is stored as typed and served as X serves it: HTML-escaped (`&amp;`, `&lt;`, `&gt;`), with
`entities`, `note_tweet` for posts longer than 280, `edit_history_tweet_ids` across edits, and
deleted posts and protected, suspended or withheld authors answered the way X answers them
(`errors` beside `data`). Shapes are checked against X's OpenAPI document in tests/data/x-openapi.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, TypedDict
from urllib.parse import unquote

from aiohttp import web
from multidict import MultiMapping

from bot.clock import Clock, ensure_utc, utc_now
from bot.sources.x_text import X_REPLY_LIMIT, x_weighted_length

__all__ = ["FakeTweet", "FakeUser", "FakeX", "PostedReply", "RecordedRequest"]

_TWITTER_EPOCH_MS: Final = 1288834974657
_WINDOW_SECONDS: Final = 900
_RATE_LIMITS: Final = {
    "me": 75,
    "mentions": 450,
    "tweet": 900,
    "lookup": 900,
    "create": 200,
    "timeline": 900,
}
_RECORDED_HEADERS: Final = ("Authorization", "Content-Type", "Host", "User-Agent")
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_INVALID_REQUEST: Final = "https://api.twitter.com/2/problems/invalid-request"
# X's rule for self-serve apps since 23 February 2026: reply or quote only where mentioned.
_NOT_REPLIABLE: Final = (
    "You can only reply to or quote posts where you are mentioned or are the author."
)
_LOOKUP_MAX: Final = 100
_NOTE_LIMIT: Final = 280
_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MENTION_ENTITY = re.compile(r"(?<![\w@])@(\w{1,15})")
_HASHTAG_ENTITY = re.compile(r"(?<![\w#])#(\w+)")
_URL_ENTITY = re.compile(r"https?://[^\s<>\"]+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class FakeUser:
    """An X account known to the fake."""

    id: str
    username: str
    name: str
    followers: int = 0
    verified: bool = False
    protected: bool = False
    suspended: bool = False
    withheld_in: list[str] = field(default_factory=list)

    def to_json(self, fields: set[str]) -> dict[str, Any]:
        """Render the user as X v2 does for the requested `user.fields`."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "username": self.username}
        if "verified" in fields:
            out["verified"] = self.verified
        if "protected" in fields:
            out["protected"] = self.protected
        if "withheld" in fields and self.withheld_in:
            out["withheld"] = {"country_codes": list(self.withheld_in), "scope": "user"}
        if "public_metrics" in fields:
            out["public_metrics"] = {
                "followers_count": self.followers,
                "following_count": 42,
                "tweet_count": 1000,
                "listed_count": 3,
                "like_count": 250,
            }
        return out


@dataclass(slots=True)
class FakeTweet:
    """A post stored by the fake."""

    id: str
    text: str
    author_id: str
    created_at: datetime
    conversation_id: str
    referenced_tweets: list[tuple[str, str]] = field(default_factory=list)
    in_reply_to_user_id: str | None = None
    # Every version's id, oldest first; X gives each edit a new id and the whole chain on each.
    edit_history: list[str] = field(default_factory=list)
    withheld_in: list[str] = field(default_factory=list)
    mentioned: dict[str, str] = field(default_factory=dict)  # lowercased handle -> user id

    def to_json(self, fields: set[str]) -> dict[str, Any]:
        """Render the post as X v2 does for the requested `tweet.fields`: text HTML-escaped."""
        long_post = x_weighted_length(self.text) > _NOTE_LIMIT
        # A long post's `text` is its first 280 characters and an ellipsis; the whole post is in
        # `note_tweet`, which only comes when asked for.
        shown = self.text[: _NOTE_LIMIT - 1].rstrip() + "…" if long_post else self.text
        out: dict[str, Any] = {
            "id": self.id,
            "text": shown.translate(_ESCAPES),
            "edit_history_tweet_ids": list(self.edit_history or [self.id]),
        }
        if "entities" in fields:
            entities = _entities(shown, self.mentioned)
            if entities:
                out["entities"] = entities
        if "note_tweet" in fields and long_post:
            note: dict[str, Any] = {"text": self.text.translate(_ESCAPES)}
            note_entities = _entities(self.text, self.mentioned)
            if note_entities:
                note["entities"] = note_entities
            out["note_tweet"] = note
        if "withheld" in fields and self.withheld_in:
            out["withheld"] = {"copyright": False, "country_codes": list(self.withheld_in)}
        if "created_at" in fields:
            out["created_at"] = _iso(self.created_at)
        if "author_id" in fields:
            out["author_id"] = self.author_id
        if "conversation_id" in fields:
            out["conversation_id"] = self.conversation_id
        if "referenced_tweets" in fields and self.referenced_tweets:
            out["referenced_tweets"] = [{"type": t, "id": i} for t, i in self.referenced_tweets]
        if "in_reply_to_user_id" in fields and self.in_reply_to_user_id is not None:
            out["in_reply_to_user_id"] = self.in_reply_to_user_id
        return out


class PostedReply(TypedDict):
    """A post created through `POST /2/tweets`."""

    id: str
    text: str
    in_reply_to_tweet_id: str | None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int


@dataclass(slots=True)
class _Failure:
    path_prefix: str
    status: int
    count: int
    reset_in: float
    method: str | None = None


@dataclass(slots=True)
class _CreateFault:
    """What the next post creations do: `status` after storing, or stall `stall` seconds."""

    stored: bool
    status: int | None
    stall: float
    count: int


@dataclass(slots=True)
class _Window:
    limit: int
    used: int = 0
    reset: int = 0


class _Reject(Exception):
    """Raised inside a handler to answer with an X-shaped JSON error."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class FakeX:
    """An in-memory X API v2 served on 127.0.0.1; point `CAREBOT_X_API_URL` at `api_url`."""

    def __init__(
        self,
        *,
        brand_id: str = "1000000000000000001",
        brand_handle: str = "acmehelp",
        brand_name: str = "Acme Support",
        bearer_token: str = "sandbox-bearer",
        api_key: str = "sandbox-key",
        access_token: str = "sandbox-access",
        clock: Clock = utc_now,
        enforce_rate_limits: bool = False,
    ) -> None:
        self.brand = FakeUser(id=brand_id, username=brand_handle, name=brand_name, followers=5400)
        self.bearer_token = bearer_token
        self.api_key = api_key
        self.access_token = access_token
        self.clock = clock
        self.enforce_rate_limits = enforce_rate_limits
        self.latency = 0.0  # seconds to wait before answering, to exercise client timeouts
        self.requests: list[RecordedRequest] = []
        self.posted_replies: list[PostedReply] = []
        self.mention_requests = 0
        self.users: dict[str, FakeUser] = {brand_id: self.brand}
        self.tweets: dict[str, FakeTweet] = {}
        self._handles: dict[str, FakeUser] = {brand_handle.lower(): self.brand}
        self._mention_ids: list[int] = []  # ascending
        self._mention_pattern = re.compile(rf"@{re.escape(brand_handle)}\b", re.IGNORECASE)
        self._sequence = 0
        self._user_sequence = 0
        self._failures: list[_Failure] = []
        self._windows: dict[str, _Window] = {}
        self._revoked = False
        self._outage_status: int | None = None
        self._create_faults: list[_CreateFault] = []
        # Seconds before a new post shows in its author's timeline (X is eventually consistent).
        self.timeline_delay = 0.0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the fake API on `host:port` (port 0 picks a free one)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/2/users/me", self._users_me)
        app.router.add_get("/2/users/{id}/mentions", self._mentions)
        app.router.add_get("/2/users/{id}/tweets", self._user_tweets)
        app.router.add_get("/2/tweets/{id}", self._get_tweet)
        app.router.add_get("/2/tweets", self._lookup_tweets)
        app.router.add_post("/2/tweets", self._create_tweet)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving; later connections are refused."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeX:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """Return the base URL to use as `CAREBOT_X_API_URL`."""
        if self._port is None:
            raise RuntimeError("FakeX is not started")
        return f"http://127.0.0.1:{self._port}"

    # -- state -----------------------------------------------------------------------------------

    def add_user(
        self, handle: str, *, name: str | None = None, followers: int = 120, verified: bool = False
    ) -> FakeUser:
        """Return the user with `handle`, creating it if needed."""
        existing = self._handles.get(handle.lower())
        if existing is not None:
            return existing
        self._user_sequence += 1
        user = FakeUser(
            id=str(2_000_000_000_000_000_000 + self._user_sequence),
            username=handle,
            name=name if name is not None else handle.replace("_", " ").title(),
            followers=followers,
            verified=verified,
        )
        self.users[user.id] = user
        self._handles[handle.lower()] = user
        return user

    def add_mention(
        self,
        text: str | None = None,
        *,
        author_handle: str = "customer",
        author_name: str | None = None,
        followers: int = 120,
        verified: bool = False,
        conversation_id: str | None = None,
        in_reply_to: FakeTweet | str | None = None,
        created_at: datetime | None = None,
    ) -> FakeTweet:
        """Store a post by `author_handle`; by default it mentions the brand.

        Like X, only posts naming @brand (or replying to the brand) reach the mentions timeline; a
        `text` without it is stored anyway, so tests can provoke X's 403 on replying to it.
        """
        author = self.add_user(
            author_handle, name=author_name, followers=followers, verified=verified
        )
        if text is None:
            text = f"@{self.brand.username} hi, I need help with order #{self._sequence + 1}"
        parent_id = in_reply_to.id if isinstance(in_reply_to, FakeTweet) else in_reply_to
        if parent_id is None and conversation_id is not None:
            parent_id = conversation_id
        return self._store(text, author, created_at=created_at, reply_to=parent_id)

    def add_mentions(self, n: int, *, authors: int = 50) -> list[FakeTweet]:
        """Store `n` mentions from `authors` distinct customers, quickly (for benchmarks)."""
        people = [self.add_user(f"customer{i}") for i in range(authors)]
        now = ensure_utc(self.clock())
        handle = self.brand.username
        return [
            self._store(f"@{handle} question {i}: where is my order?", people[i % authors], now)
            for i in range(n)
        ]

    def add_retweet(self, of_tweet: FakeTweet, *, author_handle: str = "fan") -> FakeTweet:
        """Store a plain repost of `of_tweet` (X lists it among the brand's mentions)."""
        author = self.add_user(author_handle)
        original = self.users[of_tweet.author_id]
        tweet = self._store(f"RT @{original.username}: {of_tweet.text}", author, indexed=False)
        tweet.referenced_tweets = [("retweeted", of_tweet.id)]
        self._index(tweet, force=True)
        return tweet

    def add_quote(self, of_tweet: FakeTweet, text: str, *, author_handle: str = "fan") -> FakeTweet:
        """Store a quote post of `of_tweet` with its own `text`."""
        author = self.add_user(author_handle)
        tweet = self._store(text, author, indexed=False)
        tweet.referenced_tweets = [("quoted", of_tweet.id)]
        # Quoting one of the brand's posts summons it as a mention does.
        self._index(tweet, force=of_tweet.author_id == self.brand.id)
        return tweet

    def add_brand_post(self, text: str, *, in_reply_to: FakeTweet | str | None = None) -> FakeTweet:
        """Store a post by the brand itself."""
        parent = in_reply_to.id if isinstance(in_reply_to, FakeTweet) else in_reply_to
        return self._store(text, self.brand, reply_to=parent)

    def edit(self, tweet: FakeTweet | str, text: str) -> FakeTweet:
        """Edit a post as its author does on X: a new version with a new id, same edit chain."""
        original = self.tweets[tweet.id if isinstance(tweet, FakeTweet) else tweet]
        chain = list(original.edit_history or [original.id])
        latest = self.tweets[chain[-1]]
        author = self.users[latest.author_id]
        edited = self._store(text, author, indexed=False)
        edited.conversation_id = latest.conversation_id
        edited.referenced_tweets = list(latest.referenced_tweets)
        edited.in_reply_to_user_id = latest.in_reply_to_user_id
        chain.append(edited.id)
        for version in chain:
            self.tweets[version].edit_history = list(chain)
        # The new version is a post of its own: it reaches the mentions timeline like any other.
        self._index(edited, force=int(latest.id) in set(self._mention_ids))
        return edited

    def delete(self, tweet: FakeTweet | str) -> None:
        """Delete a post (every version of it); lookups then answer with a not-found error."""
        tweet_id = tweet.id if isinstance(tweet, FakeTweet) else tweet
        found = self.tweets.get(tweet_id)
        for version in (found.edit_history if found else None) or [tweet_id]:
            self.tweets.pop(version, None)
            with contextlib.suppress(ValueError):
                self._mention_ids.remove(int(version))

    def protect(self, handle: str, *, protected: bool = True) -> None:
        """Make `handle`'s posts visible to approved followers only (the brand is not one)."""
        self.add_user(handle).protected = protected

    def suspend(self, handle: str) -> None:
        """Suspend `handle`: X then hides the account and all its posts."""
        self.add_user(handle).suspended = True

    def withhold(self, tweet: FakeTweet | str, *countries: str) -> None:
        """Withhold a post in `countries` (ISO codes), as X does on a legal demand."""
        self.tweets[tweet.id if isinstance(tweet, FakeTweet) else tweet].withheld_in = list(
            countries or ("DE",)
        )

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        count: int = 1,
        *,
        reset_in: float = 15,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` requests whose path starts with `path_prefix` (and, given,
        whose method is `method`) with `status`."""
        self._failures.append(_Failure(path_prefix, status, count, reset_in, method))

    def fail_after_storing(self, status: int = 503, count: int = 1) -> None:
        """Store the next `count` created posts, then answer `status` instead of 201."""
        self._create_faults.append(_CreateFault(stored=True, status=status, stall=0, count=count))

    def stall_after_storing(self, seconds: float, count: int = 1) -> None:
        """Store the next `count` created posts, then wait `seconds` before answering 201."""
        self._create_faults.append(
            _CreateFault(stored=True, status=None, stall=seconds, count=count)
        )

    def stall_before_storing(self, seconds: float, status: int = 503, count: int = 1) -> None:
        """Hold the next `count` post creations `seconds`, then answer `status`, storing nothing.

        A client that gives up (or dies) meanwhile leaves nothing behind, as with a real X that
        never got to the write.
        """
        self._create_faults.append(
            _CreateFault(stored=False, status=status, stall=seconds, count=count)
        )

    def revoke_credentials(self) -> None:
        """Reject every token with 401 until `restore_credentials`."""
        self._revoked = True

    def restore_credentials(self) -> None:
        """Accept the configured tokens again."""
        self._revoked = False

    def outage(self, status: int = 503) -> None:
        """Answer every request with `status` until `end_outage`."""
        self._outage_status = status

    def end_outage(self) -> None:
        """Serve normally again."""
        self._outage_status = None

    def _next_id(self, created_at: datetime) -> str:
        self._sequence += 1
        millis = max(int(created_at.timestamp() * 1000) - _TWITTER_EPOCH_MS, 0)
        return str((millis << 22) | (self._sequence & 0x3FFFFF))

    def _store(
        self,
        text: str,
        author: FakeUser,
        created_at: datetime | None = None,
        *,
        reply_to: str | None = None,
        indexed: bool = True,
    ) -> FakeTweet:
        when = ensure_utc(created_at if created_at is not None else self.clock())
        tweet_id = self._next_id(when)
        tweet = FakeTweet(
            id=tweet_id,
            text=text,
            author_id=author.id,
            created_at=when,
            conversation_id=tweet_id,
            mentioned={
                handle.lower(): user.id
                for handle in _MENTION_ENTITY.findall(text)
                if (user := self._handles.get(handle.lower())) is not None
            },
        )
        if reply_to is not None:
            parent = self.tweets.get(reply_to)
            tweet.referenced_tweets = [("replied_to", reply_to)]
            if parent is not None:
                tweet.conversation_id = parent.conversation_id
                tweet.in_reply_to_user_id = parent.author_id
            else:
                tweet.conversation_id = reply_to
        self.tweets[tweet_id] = tweet
        if indexed:
            self._index(tweet)
        return tweet

    def _index(self, tweet: FakeTweet, *, force: bool = False) -> None:
        mentions_brand = (
            force
            or self._mention_pattern.search(tweet.text) is not None
            or tweet.in_reply_to_user_id == self.brand.id
        )
        if mentions_brand:
            bisect.insort(self._mention_ids, int(tweet.id))

    def _engaged(self, tweet: FakeTweet) -> bool:
        """Whether the brand may reply to `tweet`: it wrote it, is mentioned in it, or is quoted."""
        quoted = (
            self.tweets.get(ref_id) for kind, ref_id in tweet.referenced_tweets if kind == "quoted"
        )
        return (
            tweet.author_id == self.brand.id
            or self._mention_pattern.search(tweet.text) is not None
            or any(q is not None and q.author_id == self.brand.id for q in quoted)
        )

    def _hidden(self, tweet_id: str, parameter: str) -> dict[str, Any] | None:
        """Return X's error for a post the brand may not see (gone, suspended, protected)."""
        tweet = self.tweets.get(tweet_id)
        if tweet is None:
            return _not_found("tweet", tweet_id, parameter=parameter)
        author = self.users[tweet.author_id]
        if author.suspended:
            return _not_found("tweet", tweet_id, parameter=parameter, suspended=author.id)
        if author.protected and author.id != self.brand.id:
            return _unauthorized("tweet", tweet_id, parameter=parameter)
        return None

    # -- HTTP ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        if request.path.endswith("/mentions"):
            self.mention_requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        window = self._window(request)
        try:
            response = await self._guarded(request, handler, window)
        except _Reject as rejection:
            response = web.json_response(rejection.body, status=rejection.status)
        except web.HTTPException as exc:
            response = web.json_response(
                {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]},
                status=exc.status,
            )
        if window is not None and "x-rate-limit-limit" not in response.headers:
            response.headers.update(_rate_headers(window))
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                json=body,
                headers={h: request.headers[h] for h in _RECORDED_HEADERS if h in request.headers},
                status=response.status,
            )
        )
        return response

    async def _guarded(
        self, request: web.Request, handler: Handler, window: _Window | None
    ) -> web.StreamResponse:
        if self._outage_status is not None:
            raise _Reject(self._outage_status, _problem(self._outage_status))
        failure = next(
            (
                f
                for f in self._failures
                if f.count > 0
                and request.path.startswith(f.path_prefix)
                and f.method in (None, request.method)
            ),
            None,
        )
        if failure is not None:
            failure.count -= 1
            if failure.status == 429:
                reset = int(self._now_epoch() + failure.reset_in)
                response = web.json_response(_problem(429), status=429)
                response.headers.update(
                    {
                        "x-rate-limit-limit": str(window.limit if window else 0),
                        "x-rate-limit-remaining": "0",
                        "x-rate-limit-reset": str(reset),
                    }
                )
                return response
            raise _Reject(failure.status, _problem(failure.status))
        if window is not None:
            if self.enforce_rate_limits and window.used >= window.limit:
                raise _Reject(429, _problem(429))
            window.used += 1
        return await handler(request)

    def _now_epoch(self) -> float:
        return ensure_utc(self.clock()).timestamp()

    def _window(self, request: web.Request) -> _Window | None:
        if request.path == "/2/users/me":
            key = "me"
        elif request.path.endswith("/mentions"):
            key = "mentions"
        elif request.path == "/2/tweets" and request.method == "POST":
            key = "create"
        elif request.path.startswith("/2/tweets/"):
            key = "tweet"
        elif request.path == "/2/tweets":
            key = "lookup"
        elif request.path.endswith("/tweets") and request.path.startswith("/2/users/"):
            key = "timeline"
        else:
            return None
        now = int(self._now_epoch())
        window = self._windows.get(key)
        if window is None or now >= window.reset:
            window = _Window(limit=_RATE_LIMITS[key], reset=now + _WINDOW_SECONDS)
            self._windows[key] = window
        return window

    def _authenticate(self, request: web.Request, *, user_only: bool) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme == "Bearer" and not self._revoked and credentials == self.bearer_token:
            if user_only:
                raise _Reject(
                    403,
                    {
                        "title": "Unsupported Authentication",
                        "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden "
                        "for this endpoint.  Supported authentication types are "
                        "[OAuth 1.0a User Context, OAuth 2.0 User Context].",
                        "type": "https://api.twitter.com/2/problems/unsupported-authentication",
                        "status": 403,
                    },
                )
            return
        if scheme == "OAuth" and not self._revoked:
            params = {k: unquote(v) for k, v in _OAUTH_PARAM.findall(credentials)}
            if (
                params.get("oauth_consumer_key") == self.api_key
                and params.get("oauth_token") == self.access_token
                and params.get("oauth_signature")
            ):
                return
        raise _Reject(401, _problem(401))

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


_TOO_LONG: Final = (
    "Your Tweet text is too long. For more information on how X determines text length see "
    "https://github.com/twitter/twitter-text."
)


def _kind(tweet: FakeTweet) -> str | None:
    return next((kind for kind, _ in tweet.referenced_tweets), None)


def _iso(moment: datetime) -> str:
    moment = ensure_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, remainder = divmod(number, 36)
        out = digits[remainder] + out
    return out or "0"


def _rate_headers(window: _Window) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(window.limit),
        "x-rate-limit-remaining": str(max(window.limit - window.used, 0)),
        "x-rate-limit-reset": str(window.reset),
    }


def _problem(status: int, *, detail: str | None = None) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase
    return {"title": phrase, "detail": detail or phrase, "type": "about:blank", "status": status}


def _invalid(
    parameter: str, value: str, problem: str, *, message: str | None = None
) -> dict[str, Any]:
    text = message or f"The `{parameter}` query parameter value [{value}] {problem}"
    return _invalid_body(text, parameters={parameter: [value]})


def _invalid_body(
    message: str, *, parameters: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"parameters": parameters or {}, "message": message}
    return {
        "errors": [error],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": _INVALID_REQUEST,
    }


def _not_found(
    kind: str, value: str, *, parameter: str = "id", suspended: str | None = None
) -> dict[str, Any]:
    detail = f"Could not find {kind} with {parameter}: [{value}]."
    if suspended is not None:
        detail = f"User has been suspended: [{suspended}]."
    return {
        "value": value,
        "detail": detail,
        "title": "Forbidden" if suspended is not None else "Not Found Error",
        "resource_type": kind,
        "parameter": parameter,
        "resource_id": value,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


def _unauthorized(kind: str, value: str, *, parameter: str) -> dict[str, Any]:
    return {
        "value": value,
        "detail": f"Sorry, you are not authorized to see the Tweet with {parameter}: [{value}].",
        "title": "Authorization Error",
        "resource_type": kind,
        "parameter": parameter,
        "resource_id": value,
        "section": "data",
        "type": "https://api.twitter.com/2/problems/not-authorized-for-resource",
    }


def _entities(text: str, mentioned: dict[str, str]) -> dict[str, Any]:
    """Return X's entities for `text`; indices count code points of the text as typed."""
    out: dict[str, Any] = {}
    mentions = []
    for match in _MENTION_ENTITY.finditer(text):
        entity: dict[str, Any] = {
            "start": match.start(),
            "end": match.end(),
            "username": match.group(1),
        }
        user_id = mentioned.get(match.group(1).lower())
        if user_id is not None:
            entity["id"] = user_id
        mentions.append(entity)
    if mentions:
        out["mentions"] = mentions
    hashtags = [
        {"start": m.start(), "end": m.end(), "tag": m.group(1)}
        for m in _HASHTAG_ENTITY.finditer(text)
    ]
    if hashtags:
        out["hashtags"] = hashtags
    urls = [
        {
            "start": m.start(),
            "end": m.end(),
            "url": m.group(),
            "expanded_url": m.group(),
            "display_url": m.group().split("://", 1)[1][:30],
        }
        for m in _URL_ENTITY.finditer(text)
    ]
    if urls:
        out["urls"] = urls
    return out


def _fields(request: web.Request, name: str) -> set[str]:
    return {part for part in request.query.get(name, "").split(",") if part}


def _int_param(query: MultiMapping[str], name: str, *, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    with contextlib.suppress(ValueError):
        value = int(raw)
        if low <= value <= high:
            return value
    raise _Reject(400, _invalid(name, raw, f"is not between {low} and {high}"))


def _id_param(query: MultiMapping[str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise _Reject(400, _invalid(name, raw, "is not a valid Tweet ID"))
    return int(raw)


def _time_param(query: MultiMapping[str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise _Reject(400, _invalid(name, raw, "does not match RFC 3339 format")) from None
    if parsed.tzinfo is None:
        raise _Reject(400, _invalid(name, raw, "does not match RFC 3339 format"))
    return parsed.astimezone(UTC)
