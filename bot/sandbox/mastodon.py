"""`FakeMastodon`: a local stand-in for the Mastodon REST API Carebot uses, served over loopback.

It answers `verify_credentials`, mention notifications (`types[]=mention`, `since_id`,
`max_id`, `min_id`, newest first, `Link` pagination), statuses (create with `in_reply_to_id` and
`visibility`, look up, and thread context), `/api/v2/instance` with its
`configuration.statuses` limits, and the streaming API's `user/notification` stream as
server-sent events. Errors are `{"error": "..."}` bodies with Mastodon's statuses (401, 404,
422, 429) and every answer carries `X-RateLimit-*` headers (the reset as an ISO 8601 time, as
Mastodon sends it). Content is HTML, as on a real instance.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs

from aiohttp import web

from bot.clock import Clock, ensure_utc, utc_now

__all__ = ["FakeMastodon", "MastoAccount", "MastoStatus"]

_LIMIT: Final = 300  # requests per 5 minutes per account
_WINDOW: Final = timedelta(minutes=5)
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@([A-Za-z0-9_]+)(?:@([A-Za-z0-9.-]+))?")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _iso(moment: datetime) -> str:
    moment = ensure_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class MastoAccount:
    """An account the fake knows (local to the fake's instance, or remote)."""

    id: str
    username: str
    domain: str
    display_name: str
    followers: int = 0

    def acct(self, local_domain: str) -> str:
        """Return the account as Mastodon writes it to local users (`user` or `user@domain`)."""
        return self.username if self.domain == local_domain else f"{self.username}@{self.domain}"

    def to_json(self, local_domain: str) -> dict[str, Any]:
        """Render as a Mastodon Account entity."""
        return {
            "id": self.id,
            "username": self.username,
            "acct": self.acct(local_domain),
            "display_name": self.display_name,
            "locked": False,
            "bot": False,
            "created_at": "2023-01-01T00:00:00.000Z",
            "note": "",
            "url": f"https://{self.domain}/@{self.username}",
            "avatar": f"https://{self.domain}/avatars/original/missing.png",
            "followers_count": self.followers,
            "following_count": 10,
            "statuses_count": 100,
            "emojis": [],
            "fields": [],
        }


@dataclass(slots=True)
class MastoStatus:
    """A status stored by the fake."""

    id: str
    account: MastoAccount
    text: str
    visibility: str
    created_at: datetime
    in_reply_to_id: str | None = None
    mentions: list[MastoAccount] = field(default_factory=list)

    def content(self, local_domain: str) -> str:
        """Render the text as Mastodon's HTML content."""
        out = html.escape(self.text, quote=False)
        for person in self.mentions:
            tag = f"@{person.acct(local_domain)}"
            link = (
                f'<span class="h-card" translate="no"><a href="https://{person.domain}/@'
                f'{person.username}" class="u-url mention">@<span>{person.username}</span></a>'
                "</span>"
            )
            out = out.replace(html.escape(tag), link, 1)
        paragraphs = out.split("\n\n")
        return "".join(f"<p>{p.replace(chr(10), '<br />')}</p>" for p in paragraphs)

    def to_json(self, local_domain: str, statuses: dict[str, MastoStatus]) -> dict[str, Any]:
        """Render as a Mastodon Status entity."""
        parent = statuses.get(self.in_reply_to_id or "")
        return {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "in_reply_to_id": self.in_reply_to_id,
            "in_reply_to_account_id": parent.account.id if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": self.visibility,
            "language": "en",
            "uri": f"https://{self.account.domain}/users/{self.account.username}/statuses/{self.id}",
            "url": f"https://{self.account.domain}/@{self.account.username}/{self.id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "content": self.content(local_domain),
            "reblog": None,
            "account": self.account.to_json(local_domain),
            "media_attachments": [],
            "mentions": [
                {
                    "id": m.id,
                    "username": m.username,
                    "acct": m.acct(local_domain),
                    "url": f"https://{m.domain}/@{m.username}",
                }
                for m in self.mentions
            ],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }


class _Reject(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class FakeMastodon:
    """An in-memory Mastodon instance on 127.0.0.1; point `MASTODON_API_BASE_URL` at `api_url`."""

    def __init__(
        self,
        *,
        domain: str = "mastodon.example",
        username: str = "acme",
        display_name: str = "Acme Support",
        access_token: str = "sandbox-mastodon-token",
        max_characters: int = 500,
        clock: Clock = utc_now,
    ) -> None:
        self.domain = domain
        self.access_token = access_token
        self.max_characters = max_characters
        self.clock = clock
        self.enforce_rate_limits = True
        self.accounts: dict[str, MastoAccount] = {}
        self.statuses: dict[str, MastoStatus] = {}
        self.notifications: list[tuple[str, MastoStatus]] = []  # (id, status), ascending
        self.posted: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, int]] = []
        self._sequence = 100_000_000_000_000_000
        self._used = 0
        self._reset = ensure_utc(clock()) + _WINDOW
        self._failures: list[list[Any]] = []  # [path prefix, status, count]
        self._streams: set[asyncio.Queue[str | None]] = set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.brand = self.add_account(username, display_name=display_name, followers=5400)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the fake on `host:port` (port 0 picks a free one)."""
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
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving (open streams end)."""
        for queue in list(self._streams):
            queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeMastodon:
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
        """Return the base URL to use as `MASTODON_API_BASE_URL`."""
        if self._port is None:
            raise RuntimeError("FakeMastodon is not started")
        return f"http://127.0.0.1:{self._port}"

    # -- state -----------------------------------------------------------------------------------

    def _next_id(self) -> str:
        self._sequence += 65536 + 1
        return str(self._sequence)

    def add_account(
        self, name: str, *, display_name: str | None = None, followers: int = 120
    ) -> MastoAccount:
        """Return the account `name` (`user` here, or `user@domain` elsewhere), creating it."""
        username, _, domain = name.removeprefix("@").partition("@")
        domain = domain or self.domain
        for account in self.accounts.values():
            if account.username == username and account.domain == domain:
                return account
        account = MastoAccount(
            id=self._next_id(),
            username=username,
            domain=domain,
            display_name=display_name or username.title(),
            followers=followers,
        )
        self.accounts[account.id] = account
        return account

    def add_status(
        self,
        text: str,
        *,
        author: str = "customer@social.example",
        visibility: str = "public",
        in_reply_to: MastoStatus | str | None = None,
        followers: int = 120,
        display_name: str | None = None,
    ) -> MastoStatus:
        """Store a status; one that mentions the brand notifies it (and its streams)."""
        account = self.add_account(author, followers=followers, display_name=display_name)
        return self._store(account, text, visibility=visibility, in_reply_to=in_reply_to)

    def add_mention(self, text: str | None = None, **kwargs: Any) -> MastoStatus:
        """Store a status that mentions the brand."""
        body = text or "my order has not arrived"
        if "@acme" not in body:
            body = f"@{self.brand.username} {body}"
        return self.add_status(body, **kwargs)

    def add_mentions(self, n: int, *, authors: int = 50) -> list[MastoStatus]:
        """Store `n` mentions from `authors` different accounts."""
        return [
            self.add_mention(f"question number {i}", author=f"customer{i % authors}@social.example")
            for i in range(n)
        ]

    def fail_next(self, path_prefix: str, *, status: int, count: int = 1) -> None:
        """Answer the next `count` requests under `path_prefix` with `status`."""
        self._failures.append([path_prefix, status, count])

    def revoke_token(self) -> None:
        """Revoke the access token."""
        self.access_token = "revoked-" + self.access_token

    def replies_to(self, status_id: str) -> list[MastoStatus]:
        """Return the brand's statuses replying to `status_id`."""
        return [
            s
            for s in self.statuses.values()
            if s.account is self.brand and s.in_reply_to_id == status_id
        ]

    def _store(
        self,
        account: MastoAccount,
        text: str,
        *,
        visibility: str,
        in_reply_to: MastoStatus | str | None,
    ) -> MastoStatus:
        parent_id = in_reply_to.id if isinstance(in_reply_to, MastoStatus) else in_reply_to
        mentioned: list[MastoAccount] = []
        for match in _MENTION.finditer(text):
            domain = match.group(2) or self.domain
            found = next(
                (
                    a
                    for a in self.accounts.values()
                    if a.username == match.group(1) and a.domain == domain
                ),
                None,
            )
            if found is not None and found not in mentioned:
                mentioned.append(found)
        status = MastoStatus(
            id=self._next_id(),
            account=account,
            text=text,
            visibility=visibility,
            created_at=ensure_utc(self.clock()),
            in_reply_to_id=parent_id,
            mentions=mentioned,
        )
        self.statuses[status.id] = status
        if account is not self.brand and self.brand in mentioned:
            notification_id = self._next_id()
            self.notifications.append((notification_id, status))
            event = json.dumps(self._notification_json(notification_id, status))
            for queue in list(self._streams):
                queue.put_nowait(f"event: notification\ndata: {event}\n\n")
        return status

    def _notification_json(self, notification_id: str, status: MastoStatus) -> dict[str, Any]:
        return {
            "id": notification_id,
            "type": "mention",
            "created_at": _iso(status.created_at),
            "group_key": f"ungrouped-{notification_id}",
            "account": status.account.to_json(self.domain),
            "status": status.to_json(self.domain, self.statuses),
        }

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

    def drop_streams(self) -> None:
        """End every open stream (as a restart of the streaming server would)."""
        for queue in list(self._streams):
            queue.put_nowait(None)

    @property
    def stream_count(self) -> int:
        """Return how many streams are open."""
        return len(self._streams)
