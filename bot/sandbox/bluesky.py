"""`FakeBluesky`: a local stand-in for the XRPC methods of a Bluesky PDS (with its AppView behind
it) that Carebot uses, served over loopback HTTP.

Sessions (`com.atproto.server.createSession`/`refreshSession`/`getSession`) hand out JWTs whose
payloads carry real `exp` claims, so the atproto SDK refreshes them as it would against
bsky.social; `createSession` is limited to 30 per 5 minutes as the real service limits it.
Notifications (`app.bsky.notification.listNotifications`, newest first, paged by an opaque
cursor), posts (`app.bsky.feed.getPosts`), profiles (`app.bsky.actor.getProfile(s)`), handle
resolution and `com.atproto.repo.createRecord` use the lexicons' JSON shapes; errors are
`{"error", "message"}` bodies and every answer carries the `ratelimit-*` headers. Knobs inject
429s, outages, revoked app passwords and expired tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from bot.clock import Clock, ensure_utc, utc_now
from bot.sources.graphemes import grapheme_length

__all__ = ["BskyActor", "BskyPost", "FakeBluesky"]

_B32: Final = "abcdefghijklmnopqrstuvwxyz234567"
_TID_CHARS: Final = "234567abcdefghijklmnopqrstuvwxyz"
_SESSION_LIMIT: Final = 30  # createSession: 30 per 5 minutes per account
_SESSION_WINDOW: Final = 300
_ACCOUNT_LIMIT: Final = 3000  # per 5 minutes
_POST_LIMIT: Final = 300
_BODY: Final = web.RequestKey("json_body", object)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().lower().rstrip("=")


def _iso(moment: datetime) -> str:
    moment = ensure_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _jwt(payload: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signature = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(payload)}.{signature}"


@dataclass(slots=True)
class BskyActor:
    """A Bluesky account known to the fake."""

    did: str
    handle: str
    display_name: str
    followers: int = 0

    def basic(self) -> dict[str, Any]:
        """Render as `app.bsky.actor.defs#profileViewBasic`."""
        return {
            "did": self.did,
            "handle": self.handle,
            "displayName": self.display_name,
            "labels": [],
            "viewer": {"muted": False, "blockedBy": False},
        }

    def detailed(self) -> dict[str, Any]:
        """Render as `app.bsky.actor.defs#profileViewDetailed`."""
        return {
            **self.basic(),
            "description": "",
            "followersCount": self.followers,
            "followsCount": 17,
            "postsCount": 120,
            "indexedAt": "2024-01-01T00:00:00.000Z",
            "createdAt": "2023-06-01T00:00:00.000Z",
        }


@dataclass(slots=True)
class BskyPost:
    """A post in the fake's repositories."""

    uri: str
    cid: str
    author: BskyActor
    record: dict[str, Any]
    indexed_at: datetime

    @property
    def text(self) -> str:
        """Return the post's text."""
        return str(self.record.get("text", ""))

    @property
    def rkey(self) -> str:
        """Return the record key (the last part of the URI)."""
        return self.uri.rsplit("/", 1)[-1]

    def view(self) -> dict[str, Any]:
        """Render as `app.bsky.feed.defs#postView`."""
        return {
            "uri": self.uri,
            "cid": self.cid,
            "author": self.author.basic(),
            "record": self.record,
            "replyCount": 0,
            "repostCount": 0,
            "likeCount": 0,
            "quoteCount": 0,
            "indexedAt": _iso(self.indexed_at),
            "labels": [],
        }


@dataclass(slots=True)
class _Notification:
    post: BskyPost
    reason: str
    reason_subject: str | None
    sort_key: int


@dataclass(slots=True)
class _Token:
    did: str
    scope: str
    expires: datetime
    revoked: bool = False


@dataclass(slots=True)
class _Window:
    limit: int
    window: int
    used: int = 0
    reset: int = 0


@dataclass(frozen=True, slots=True)
class BskyRequest:
    """One request the fake received and the status it answered."""

    method: str
    nsid: str
    query: dict[str, str]
    json: Any
    status: int


class _Reject(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass(slots=True)
class _Failure:
    nsid: str
    status: int
    count: int
    reset_in: float = 60.0


class FakeBluesky:
    """An in-memory Bluesky PDS on 127.0.0.1; point `CAREBOT_BLUESKY_API_URL` at `api_url`."""

    def __init__(
        self,
        *,
        handle: str = "acme.bsky.social",
        display_name: str = "Acme Support",
        app_password: str = "sandbox-app-pass",
        clock: Clock = utc_now,
        access_ttl: timedelta = timedelta(hours=2),
        refresh_ttl: timedelta = timedelta(days=60),
    ) -> None:
        self.clock = clock
        self.app_password = app_password
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.enforce_rate_limits = True
        self.actors: dict[str, BskyActor] = {}
        self.posts: dict[str, BskyPost] = {}
        self.requests: list[BskyRequest] = []
        self.created_records: list[dict[str, Any]] = []
        self.sessions_created = 0
        self.sessions_refreshed = 0
        self.brand = self.add_actor(handle, name=display_name, followers=5400)
        self._notifications: list[_Notification] = []  # ascending sort_key
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, _Window] = {}
        self._failures: list[_Failure] = []
        self._outage: int | None = None
        self._sequence = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the fake on `host:port` (port 0 picks a free one)."""
        app = web.Application(middlewares=[self._middleware])
        routes: dict[str, Handler] = {
            "com.atproto.server.createSession": self._create_session,
            "com.atproto.server.refreshSession": self._refresh_session,
            "com.atproto.server.getSession": self._get_session,
            "app.bsky.notification.listNotifications": self._list_notifications,
            "app.bsky.feed.getPosts": self._get_posts,
            "app.bsky.feed.getAuthorFeed": self._get_author_feed,
            "app.bsky.actor.getProfile": self._get_profile,
            "app.bsky.actor.getProfiles": self._get_profiles,
            "com.atproto.identity.resolveHandle": self._resolve_handle,
            "com.atproto.repo.createRecord": self._create_record,
        }
        for nsid, handler in routes.items():
            app.router.add_route("*", f"/xrpc/{nsid}", handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBluesky:
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
        """Return the base URL to use as `CAREBOT_BLUESKY_API_URL`."""
        if self._port is None:
            raise RuntimeError("FakeBluesky is not started")
        return f"http://127.0.0.1:{self._port}"

    # -- state -----------------------------------------------------------------------------------

    def add_actor(self, handle: str, *, name: str | None = None, followers: int = 120) -> BskyActor:
        """Return the account `handle`, creating it if needed."""
        handle = handle.lower()
        if "." not in handle:
            handle = f"{handle}.bsky.social"
        for actor in self.actors.values():
            if actor.handle == handle:
                return actor
        did = "did:plc:" + _b32(hashlib.sha256(handle.encode()).digest())[:24]
        actor = BskyActor(
            did=did, handle=handle, display_name=name or handle.split(".")[0], followers=followers
        )
        self.actors[did] = actor
        return actor

    def add_post(
        self,
        text: str,
        *,
        author_handle: str = "customer",
        followers: int = 120,
        reply_to: BskyPost | str | None = None,
        quote: BskyPost | str | None = None,
        created_at: datetime | None = None,
        display_name: str | None = None,
    ) -> BskyPost:
        """Store a post by `author_handle` (a reply or quote if given one); notify the brand."""
        author = self.add_actor(author_handle, name=display_name, followers=followers)
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": _iso(created_at or self.clock()),
            "langs": ["en"],
        }
        facets = self._mention_facets(text)
        if facets:
            record["facets"] = facets
        parent = self.posts[reply_to] if isinstance(reply_to, str) else reply_to
        if parent is not None:
            root = parent.record.get("reply", {}).get("root") or {
                "uri": parent.uri,
                "cid": parent.cid,
            }
            record["reply"] = {"root": root, "parent": {"uri": parent.uri, "cid": parent.cid}}
        quoted = self.posts[quote] if isinstance(quote, str) else quote
        if quoted is not None:
            record["embed"] = {
                "$type": "app.bsky.embed.record",
                "record": {"uri": quoted.uri, "cid": quoted.cid},
            }
        return self._store(author, record)

    def add_mention(self, text: str | None = None, **kwargs: Any) -> BskyPost:
        """Store a post that mentions the brand."""
        body = text if text is not None else f"@{self.brand.handle} my order has not arrived"
        if f"@{self.brand.handle}" not in body and kwargs.get("reply_to") is None:
            body = f"@{self.brand.handle} {body}"
        return self.add_post(body, **kwargs)

    def add_mentions(self, n: int, *, authors: int = 50) -> list[BskyPost]:
        """Store `n` mentions from `authors` different accounts."""
        return [
            self.add_mention(
                f"@{self.brand.handle} question number {i}", author_handle=f"customer{i % authors}"
            )
            for i in range(n)
        ]

    def fail_next(self, nsid: str, *, status: int, count: int = 1, reset_in: float = 60.0) -> None:
        """Answer the next `count` calls of `nsid` with `status` (429 carries ratelimit-*)."""
        self._failures.append(_Failure(nsid, status, count, reset_in))

    def revoke_app_password(self) -> None:
        """Revoke the app password and every session made with it."""
        self.app_password = secrets.token_hex(8)
        for token in self._tokens.values():
            token.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expire now (the refresh tokens stay valid)."""
        now = ensure_utc(self.clock())
        for token in self._tokens.values():
            if token.scope != "com.atproto.refresh":
                token.expires = now - timedelta(seconds=1)

    def outage(self, status: int = 502) -> None:
        """Answer every request with `status` until `end_outage`."""
        self._outage = status

    def end_outage(self) -> None:
        """Answer normally again."""
        self._outage = None

    def replies_to(self, uri: str) -> list[BskyPost]:
        """Return the brand's posts that reply to `uri`."""
        return [
            p
            for p in self.posts.values()
            if p.author is self.brand
            and p.record.get("reply", {}).get("parent", {}).get("uri") == uri
        ]

    def calls(self, nsid: str) -> list[BskyRequest]:
        """Return the requests made to `nsid`."""
        return [r for r in self.requests if r.nsid == nsid]

    # -- internals -------------------------------------------------------------------------------

    def _mention_facets(self, text: str) -> list[dict[str, Any]]:
        facets = []
        for actor in self.actors.values():
            tag = f"@{actor.handle}"
            start = text.find(tag)
            if start >= 0:
                begin = len(text[:start].encode())
                facets.append(
                    {
                        "index": {"byteStart": begin, "byteEnd": begin + len(tag.encode())},
                        "features": [
                            {"$type": "app.bsky.richtext.facet#mention", "did": actor.did}
                        ],
                    }
                )
        return facets

    def _tid(self) -> str:
        self._sequence += 1
        micros = int(ensure_utc(self.clock()).timestamp() * 1_000_000) + self._sequence
        value = (micros << 10) | 7
        out = ""
        for _ in range(13):
            out = _TID_CHARS[value & 31] + out
            value >>= 5
        return out

    def _store(self, author: BskyActor, record: dict[str, Any]) -> BskyPost:
        rkey = self._tid()
        uri = f"at://{author.did}/app.bsky.feed.post/{rkey}"
        cid = "bafyrei" + _b32(hashlib.sha256((uri + json.dumps(record)).encode()).digest())[:52]
        post = BskyPost(
            uri=uri, cid=cid, author=author, record=record, indexed_at=ensure_utc(self.clock())
        )
        self.posts[uri] = post
        if author is not self.brand:
            self._notify(post)
        return post

    def _notify(self, post: BskyPost) -> None:
        reason: str | None = None
        subject: str | None = None
        parent_uri = post.record.get("reply", {}).get("parent", {}).get("uri")
        quoted_uri = post.record.get("embed", {}).get("record", {}).get("uri")
        if parent_uri and parent_uri in self.posts and self.posts[parent_uri].author is self.brand:
            reason, subject = "reply", parent_uri
        elif (
            quoted_uri and quoted_uri in self.posts and self.posts[quoted_uri].author is self.brand
        ):
            reason, subject = "quote", quoted_uri
        elif any(
            f.get("did") == self.brand.did
            for facet in post.record.get("facets", [])
            for f in facet.get("features", [])
        ):
            reason = "mention"
        if reason is not None:
            # The cursor's sort key: milliseconds, made strictly increasing within one.
            last = self._notifications[-1].sort_key if self._notifications else 0
            key = max(last + 1, int(post.indexed_at.timestamp() * 1000) * 1000)
            self._notifications.append(_Notification(post, reason, subject, key))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        nsid = request.path.removeprefix("/xrpc/")
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        request[_BODY] = body
        window = self._window()
        try:
            response = await self._guarded(request, nsid, handler, window)
        except _Reject as rejection:
            response = web.json_response(
                {"error": rejection.error, "message": rejection.message}, status=rejection.status
            )
        except web.HTTPNotFound:
            response = web.json_response(
                {"error": "MethodNotImplemented", "message": "Method Not Implemented"}, status=501
            )
        if "ratelimit-limit" not in response.headers:
            response.headers.update(_rate_headers(window))
        self.requests.append(
            BskyRequest(request.method, nsid, dict(request.query), body, response.status)
        )
        return response

    async def _guarded(
        self, request: web.Request, nsid: str, handler: Handler, window: _Window
    ) -> web.StreamResponse:
        if self._outage is not None:
            raise _Reject(self._outage, "InternalServerError", "Internal Server Error")
        failure = next((f for f in self._failures if f.count > 0 and f.nsid == nsid), None)
        if failure is not None:
            failure.count -= 1
            if failure.status == 429:
                now = int(ensure_utc(self.clock()).timestamp())
                response = web.json_response(
                    {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, status=429
                )
                response.headers.update(
                    _rate_headers(
                        _Window(
                            window.limit, window.window, window.limit, now + int(failure.reset_in)
                        )
                    )
                )
                return response
            raise _Reject(failure.status, "InternalServerError", "Internal Server Error")
        if self.enforce_rate_limits and window.used >= window.limit:
            raise _Reject(429, "RateLimitExceeded", "Rate Limit Exceeded")
        window.used += 1
        return await handler(request)

    def _window(self, key: str = "account", limit: int = _ACCOUNT_LIMIT) -> _Window:
        now = int(ensure_utc(self.clock()).timestamp())
        window = self._windows.get(key)
        if window is None or now >= window.reset:
            window = _Window(limit=limit, window=_SESSION_WINDOW, reset=now + _SESSION_WINDOW)
            self._windows[key] = window
        return window

    def _issue(self, did: str) -> dict[str, str]:
        now = ensure_utc(self.clock())
        access = _jwt(
            {
                "scope": "com.atproto.appPass",
                "sub": did,
                "aud": "did:web:sandbox.bsky",
                "iat": int(now.timestamp()),
                "exp": int((now + self.access_ttl).timestamp()),
            }
        )
        refresh = _jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": did,
                "aud": "did:web:sandbox.bsky",
                "jti": secrets.token_urlsafe(16),
                "iat": int(now.timestamp()),
                "exp": int((now + self.refresh_ttl).timestamp()),
            }
        )
        self._tokens[access] = _Token(did, "com.atproto.appPass", now + self.access_ttl)
        self._tokens[refresh] = _Token(did, "com.atproto.refresh", now + self.refresh_ttl)
        return {"accessJwt": access, "refreshJwt": refresh}

    def _session_body(self, did: str) -> dict[str, Any]:
        actor = self.actors[did]
        return {
            "did": did,
            "handle": actor.handle,
            "email": "care@acme.example",
            "emailConfirmed": True,
            "active": True,
            "didDoc": {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": did,
                "alsoKnownAs": [f"at://{actor.handle}"],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.api_url,
                    }
                ],
            },
        }

    def _auth(self, request: web.Request, *, scope: str = "com.atproto.appPass") -> str:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise _Reject(401, "AuthMissing", "Authentication Required")
        token = self._tokens.get(header.removeprefix("Bearer "))
        if token is None or token.revoked or token.scope != scope:
            raise _Reject(401, "InvalidToken", "Token could not be verified")
        if token.expires <= ensure_utc(self.clock()):
            raise _Reject(400, "ExpiredToken", "Token has expired")
        return token.did

    async def _create_session(self, request: web.Request) -> web.StreamResponse:
        body = request[_BODY]
        if request.method != "POST" or not isinstance(body, dict):
            raise _Reject(400, "InvalidRequest", "Input must be a JSON object")
        identifier = str(body.get("identifier", "")).lower()
        window = self._window(f"session:{identifier}", _SESSION_LIMIT)
        if window.used >= window.limit:
            response = web.json_response(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, status=429
            )
            response.headers.update(_rate_headers(window, policy=f"{_SESSION_LIMIT};w=300"))
            return response
        window.used += 1
        actor = next((a for a in self.actors.values() if identifier in {a.handle, a.did}), None)
        if actor is not self.brand or body.get("password") != self.app_password:
            raise _Reject(401, "AuthenticationRequired", "Invalid identifier or password")
        self.sessions_created += 1
        response = web.json_response({**self._session_body(actor.did), **self._issue(actor.did)})
        response.headers.update(_rate_headers(window, policy=f"{_SESSION_LIMIT};w=300"))
        return response

    async def _refresh_session(self, request: web.Request) -> web.StreamResponse:
        did = self._auth(request, scope="com.atproto.refresh")
        old = request.headers["Authorization"].removeprefix("Bearer ")
        self._tokens[old].revoked = True  # refresh tokens are single-use
        self.sessions_refreshed += 1
        return web.json_response({**self._session_body(did), **self._issue(did)})

    async def _get_session(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._session_body(self._auth(request)))

    async def _list_notifications(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        limit = _limit(request, default=50, high=100)
        cursor = request.query.get("cursor")
        reasons = set(request.query.getall("reasons", []))
        items = [n for n in reversed(self._notifications) if not reasons or n.reason in reasons]
        if cursor:
            try:
                before = int(cursor.split("::")[0])
            except ValueError:
                raise _Reject(400, "InvalidRequest", "Malformed cursor") from None
            items = [n for n in items if n.sort_key < before]
        page = items[:limit]
        body: dict[str, Any] = {
            "notifications": [
                {
                    "uri": n.post.uri,
                    "cid": n.post.cid,
                    "author": n.post.author.basic(),
                    "reason": n.reason,
                    **({"reasonSubject": n.reason_subject} if n.reason_subject else {}),
                    "record": n.post.record,
                    "isRead": False,
                    "indexedAt": _iso(n.post.indexed_at),
                    "labels": [],
                }
                for n in page
            ],
            "priority": False,
        }
        if len(items) > limit:
            body["cursor"] = f"{page[-1].sort_key}::{page[-1].post.cid}"
        return web.json_response(body)

    async def _get_posts(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        uris = request.query.getall("uris", [])
        if not uris:
            raise _Reject(400, "InvalidRequest", 'Error: Params must have the property "uris"')
        if len(uris) > 25:
            raise _Reject(400, "InvalidRequest", "Error: uris must not have more than 25 elements")
        return web.json_response({"posts": [self.posts[u].view() for u in uris if u in self.posts]})

    async def _get_author_feed(self, request: web.Request) -> web.StreamResponse:
        """`app.bsky.feed.getAuthorFeed`: an actor's posts newest first (`filter`
        posts_with_replies by default, or posts_no_replies), paged by an opaque cursor."""
        self._auth(request)
        actor = self._actor(request.query.get("actor", ""))
        if actor is None:
            raise _Reject(400, "InvalidRequest", "Profile not found")
        limit = _limit(request, default=50, high=100)
        kind = request.query.get("filter", "posts_with_replies")
        if kind not in {"posts_with_replies", "posts_no_replies", "posts_and_author_threads"}:
            raise _Reject(400, "InvalidRequest", f"Invalid filter: {kind}")
        ordered = [
            p
            for p in reversed(self.posts.values())  # stored in creation order
            if p.author is actor and not (kind == "posts_no_replies" and "reply" in p.record)
        ]
        cursor = request.query.get("cursor")
        if cursor:
            uris = [p.uri for p in ordered]
            if cursor not in uris:
                raise _Reject(400, "InvalidRequest", "Malformed cursor")
            ordered = ordered[uris.index(cursor) + 1 :]
        page = ordered[:limit]
        body: dict[str, Any] = {"feed": [{"post": p.view()} for p in page]}
        if len(ordered) > limit:
            body["cursor"] = page[-1].uri
        return web.json_response(body)

    def _actor(self, name: str) -> BskyActor | None:
        name = name.lower()
        return next((a for a in self.actors.values() if name in {a.did, a.handle}), None)

    async def _get_profile(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        actor = self._actor(request.query.get("actor", ""))
        if actor is None:
            raise _Reject(400, "InvalidRequest", "Profile not found")
        return web.json_response(actor.detailed())

    async def _get_profiles(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        names = request.query.getall("actors", [])
        if len(names) > 25:
            raise _Reject(
                400, "InvalidRequest", "Error: actors must not have more than 25 elements"
            )
        found = [a for a in (self._actor(n) for n in names) if a is not None]
        return web.json_response({"profiles": [a.detailed() for a in found]})

    async def _resolve_handle(self, request: web.Request) -> web.StreamResponse:
        actor = self._actor(request.query.get("handle", ""))
        if actor is None:
            raise _Reject(400, "InvalidRequest", "Unable to resolve handle")
        return web.json_response({"did": actor.did})

    async def _create_record(self, request: web.Request) -> web.StreamResponse:
        did = self._auth(request)
        body = request[_BODY]
        if request.method != "POST" or not isinstance(body, dict):
            raise _Reject(400, "InvalidRequest", "Input must be a JSON object")
        if body.get("repo") not in {did, self.actors[did].handle}:
            raise _Reject(400, "InvalidRequest", "Input/repo must be the authenticated account")
        record = body.get("record")
        if body.get("collection") != "app.bsky.feed.post" or not isinstance(record, dict):
            raise _Reject(400, "InvalidRequest", "Input/collection must be app.bsky.feed.post")
        text = record.get("text")
        if not isinstance(text, str) or "createdAt" not in record:
            raise _Reject(
                400,
                "InvalidRecord",
                "Invalid app.bsky.feed.post record: Record must have the property "
                '"text" and "createdAt"',
            )
        if grapheme_length(text) > _POST_LIMIT:
            raise _Reject(
                400,
                "InvalidRecord",
                "Invalid app.bsky.feed.post record: Record/text must not be longer "
                f"than {_POST_LIMIT} graphemes",
            )
        reply = record.get("reply")
        if reply is not None:
            refs = [reply.get("root"), reply.get("parent")] if isinstance(reply, dict) else [None]
            if not all(isinstance(r, dict) and {"uri", "cid"} <= r.keys() for r in refs):
                raise _Reject(
                    400,
                    "InvalidRecord",
                    "Invalid app.bsky.feed.post record: Record/reply must have the "
                    'properties "root" and "parent"',
                )
        self.created_records.append(body)
        post = self._store(self.actors[did], record)
        return web.json_response(
            {
                "uri": post.uri,
                "cid": post.cid,
                "commit": {"cid": post.cid, "rev": self._tid()},
                "validationStatus": "valid",
            }
        )


def _limit(request: web.Request, *, default: int, high: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise _Reject(400, "InvalidRequest", f"Error: limit can not be greater than {high}")
    return int(raw)


def _rate_headers(window: _Window, *, policy: str | None = None) -> dict[str, str]:
    return {
        "ratelimit-limit": str(window.limit),
        "ratelimit-remaining": str(max(window.limit - window.used, 0)),
        "ratelimit-reset": str(window.reset),
        "ratelimit-policy": policy or f"{window.limit};w={window.window}",
    }
