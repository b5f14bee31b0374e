"""`FakeMastodon`: the sandbox Mastodon instance served on 127.0.0.1, and its REST API.

It answers `verify_credentials`, mention notifications (`types[]=mention`, `since_id`,
`max_id`, `min_id`, newest first, `Link` pagination), statuses (create with `in_reply_to_id` and
`visibility`, look up, thread context, an account's statuses), `/api/v2/instance` with its
`configuration.statuses` limits, and the streaming API's `user/notification` stream as
server-sent events. Errors are `{"error": "..."}` bodies with Mastodon's statuses (401, 404,
422, 429) and every answer carries `X-RateLimit-*` headers (the reset as an ISO 8601 time, as
Mastodon sends it).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from bot.clock import ensure_utc
from bot.sandbox.loopback import LoopbackServer
from bot.sandbox.mastodon.models import (
    _LIMIT,
    _MENTION,
    _URL,
    _WINDOW,
    Handler,
    MastoStatus,
    _iso,
    _Reject,
)
from bot.sandbox.mastodon.state import MastodonState


class FakeMastodon(MastodonState, LoopbackServer):
    """An in-memory Mastodon instance on 127.0.0.1; point `MASTODON_API_BASE_URL` at `api_url`."""

    def app(self) -> web.Application:
        """Return the aiohttp application with the REST and streaming routes Carebot uses."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v1/accounts/verify_credentials", self._verify)
        app.router.add_get("/api/v1/notifications", self._notifications)
        app.router.add_post("/api/v1/statuses", self._post_status)
        app.router.add_get("/api/v1/statuses/{id}", self._get_status)
        app.router.add_get("/api/v1/statuses/{id}/context", self._context)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self._account_statuses)
        app.router.add_get("/api/v2/instance", self._instance)
        app.router.add_get("/api/v2/instance/", self._instance)  # Rails routes take both
        app.router.add_get("/api/v1/streaming/user/notification", self._stream)
        return app

    async def stop(self) -> None:
        """Stop serving (open streams end)."""
        self.drop_streams()
        await super().stop()

    @property
    def api_url(self) -> str:
        """Return the base URL to use as `MASTODON_API_BASE_URL`."""
        return self.base_url

    # -- HTTP ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        now = ensure_utc(self.clock())
        if now >= self._reset:
            self._used, self._reset = 0, now + _WINDOW
        try:
            response = await self._guarded(request, handler)
        except _Reject as rejection:
            response = web.json_response({"error": rejection.error}, status=rejection.status)
        except web.HTTPNotFound:
            response = web.json_response({"error": "Record not found"}, status=404)
        if not response.prepared:
            response.headers.update(
                {
                    "X-RateLimit-Limit": str(_LIMIT),
                    "X-RateLimit-Remaining": str(max(_LIMIT - self._used, 0)),
                    "X-RateLimit-Reset": _iso(self._reset),
                }
            )
        self.requests.append((request.method, request.path, response.status))
        return response

    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        for failure in self._failures:
            if failure[2] > 0 and request.path.startswith(failure[0]):
                failure[2] -= 1
                if failure[1] == 429:
                    self._used = _LIMIT
                    raise _Reject(429, "Too many requests")
                raise _Reject(failure[1], "We're sorry, but something went wrong on our end.")
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            raise _Reject(401, "The access token is invalid")
        if self.enforce_rate_limits and self._used >= _LIMIT:
            raise _Reject(429, "Too many requests")
        self._used += 1
        return await handler(request)

    async def _verify(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.brand.to_json(self.domain))

    async def _notifications(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        types = query.getall("types[]", [])
        limit = min(int(query.get("limit", "40") or 40), 80)
        since = int(query["since_id"]) if query.get("since_id", "").isdigit() else None
        max_id = int(query["max_id"]) if query.get("max_id", "").isdigit() else None
        min_id = int(query["min_id"]) if query.get("min_id", "").isdigit() else None
        items = [
            (nid, s)
            for nid, s in reversed(self.notifications)
            if (since is None or int(nid) > since)
            and (min_id is None or int(nid) > min_id)
            and (max_id is None or int(nid) < max_id)
            and (not types or "mention" in types)
        ]
        # min_id pages forward: the `limit` oldest after it (shown newest first, as always).
        page = items[-limit:] if min_id is not None else items[:limit]
        response = web.json_response([self._notification_json(n, s) for n, s in page])
        if page:
            base = f"{self.api_url}/api/v1/notifications"
            links = [f'<{base}?max_id={page[-1][0]}>; rel="next"']
            links.append(f'<{base}?min_id={page[0][0]}>; rel="prev"')
            response.headers["Link"] = ", ".join(links)
        return response

    async def _post_status(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "application/json":
            body: dict[str, Any] = await request.json()
        else:
            raw = await request.text()
            body = {k: v[-1] for k, v in parse_qs(raw).items()}
            if not raw:
                body = dict(await request.post())
        text = str(body.get("status") or "")
        if not text.strip():
            raise _Reject(422, "Validation failed: Text can't be blank")
        length = len(_MENTION.sub(lambda m: "@" + m.group(1), _URL.sub("x" * 23, text)))
        if length > self.max_characters:
            raise _Reject(
                422, f"Validation failed: Text character limit of {self.max_characters} exceeded"
            )
        visibility = str(body.get("visibility") or "public")
        if visibility not in {"public", "unlisted", "private", "direct"}:
            raise _Reject(422, "Validation failed: Visibility is not included in the list")
        parent_id = body.get("in_reply_to_id")
        if parent_id and str(parent_id) not in self.statuses:
            raise _Reject(404, "Record not found")
        self.posted.append(body)
        status = self._store(
            self.brand, text, visibility=visibility, in_reply_to=str(parent_id or "") or None
        )
        return web.json_response(status.to_json(self.domain, self.statuses))

    async def _get_status(self, request: web.Request) -> web.StreamResponse:
        status = self.statuses.get(request.match_info["id"])
        if status is None:
            raise _Reject(404, "Record not found")
        return web.json_response(status.to_json(self.domain, self.statuses))

    async def _account_statuses(self, request: web.Request) -> web.StreamResponse:
        """`GET /api/v1/accounts/:id/statuses`: the account's statuses, newest first, paged by
        `max_id` (limit 20 by default, 40 at most), with a Link header as Mastodon sends it."""
        account_id = request.match_info["id"]
        if not any(a.id == account_id for a in self.accounts.values()):
            raise _Reject(404, "Record not found")
        query = request.query
        limit = min(int(query.get("limit", "20") or 20), 40)
        max_id = int(query["max_id"]) if query.get("max_id", "").isdigit() else None
        exclude_replies = query.get("exclude_replies") in {"true", "1", "True"}
        mine = sorted(
            (
                st
                for st in self.statuses.values()
                if st.account.id == account_id
                and (max_id is None or int(st.id) < max_id)
                and not (exclude_replies and st.in_reply_to_id)
            ),
            key=lambda st: int(st.id),
            reverse=True,
        )[:limit]
        response = web.json_response([st.to_json(self.domain, self.statuses) for st in mine])
        if len(mine) == limit:
            base = f"{self.api_url}/api/v1/accounts/{account_id}/statuses"
            response.headers["Link"] = f'<{base}?max_id={mine[-1].id}>; rel="next"'
        return response

    async def _context(self, request: web.Request) -> web.StreamResponse:
        status = self.statuses.get(request.match_info["id"])
        if status is None:
            raise _Reject(404, "Record not found")
        ancestors: list[MastoStatus] = []
        parent = self.statuses.get(status.in_reply_to_id or "")
        while parent is not None:
            ancestors.insert(0, parent)
            parent = self.statuses.get(parent.in_reply_to_id or "")
        descendants = [s for s in self.statuses.values() if s.in_reply_to_id == status.id]
        return web.json_response(
            {
                "ancestors": [s.to_json(self.domain, self.statuses) for s in ancestors],
                "descendants": [s.to_json(self.domain, self.statuses) for s in descendants],
            }
        )

    async def _instance(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "domain": self.domain,
                "title": "Sandbox Mastodon",
                "version": "4.3.0",
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "A local stand-in for a Mastodon instance.",
                "usage": {"users": {"active_month": 1}},
                "languages": ["en"],
                "configuration": {
                    "urls": {"streaming": self.api_url.replace("http", "ws", 1)},
                    "timelines_access": {
                        "live_feeds": {"local": "public", "remote": "public"},
                        "hashtag_feeds": {"local": "public", "remote": "public"},
                        "trending_link_feeds": {"local": "public", "remote": "public"},
                    },
                    "accounts": {"max_featured_tags": 10},
                    "statuses": {
                        "max_characters": self.max_characters,
                        "max_media_attachments": 4,
                        "characters_reserved_per_url": 23,
                    },
                },
                "registrations": {"enabled": False, "approval_required": False},
                "contact": {"email": "admin@mastodon.example"},
                "rules": [],
            }
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        response.headers.update(
            {
                "X-RateLimit-Limit": str(_LIMIT),
                "X-RateLimit-Remaining": str(max(_LIMIT - self._used, 0)),
                "X-RateLimit-Reset": _iso(self._reset),
            }
        )
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._streams.add(queue)
        # One pending get across heartbeats: cancelling a get on every timeout (wait_for) can
        # drop an event that arrives at that very moment.
        getter: asyncio.Task[str | None] | None = None
        try:
            await response.write(b":)\n\n")
            while True:
                getter = getter or asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter}, timeout=15)
                if not done:
                    await response.write(b":thump\n\n")  # Mastodon's heartbeat comment
                    continue
                item, getter = getter.result(), None
                if item is None:
                    break
                await response.write(item.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if getter is not None:
                getter.cancel()
            self._streams.discard(queue)
        return response
