"""`FakeBluesky`: the sandbox Bluesky PDS served on 127.0.0.1, and its XRPC methods.

Sessions (`com.atproto.server.createSession`/`refreshSession`) hand out JWTs whose payloads carry
real `exp` claims, so the atproto SDK refreshes them as it would against bsky.social;
`createSession` is limited to 30 per 5 minutes as the real service limits it. Notifications
(newest first, paged by an opaque cursor), posts, the author feed, profiles, handle resolution
(which atproto's `detect_facets` calls) and `com.atproto.repo.createRecord` use the lexicons'
JSON shapes; one middleware records each call and applies outages, queued failures and limits.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from bot.clock import ensure_utc
from bot.sandbox.bluesky.models import (
    _ACCOUNT_LIMIT,
    _BODY,
    _POST_LIMIT,
    _SESSION_LIMIT,
    _SESSION_WINDOW,
    BskyActor,
    BskyRequest,
    Handler,
    _iso,
    _jwt,
    _limit,
    _rate_headers,
    _Reject,
    _Token,
    _Window,
)
from bot.sandbox.bluesky.state import BlueskyState
from bot.sandbox.loopback import LoopbackServer
from bot.sources.graphemes import grapheme_length


class FakeBluesky(BlueskyState, LoopbackServer):
    """An in-memory Bluesky PDS on 127.0.0.1; point `CAREBOT_BLUESKY_API_URL` at `api_url`."""

    def app(self) -> web.Application:
        """Return the aiohttp application with the XRPC methods Carebot's client calls."""
        app = web.Application(middlewares=[self._middleware])
        routes: dict[str, Handler] = {
            "com.atproto.server.createSession": self._create_session,
            "com.atproto.server.refreshSession": self._refresh_session,
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
        return app

    @property
    def api_url(self) -> str:
        """Return the base URL to use as `CAREBOT_BLUESKY_API_URL`."""
        return self.base_url

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
