"""`XGate`: what every request to the sandbox X passes before its endpoint.

One aiohttp middleware records the request and applies latency, outages, queued failures and
rate-limit windows (X's `x-rate-limit-*` headers, 15-minute windows per endpoint family); the
endpoints call `_authenticate`, which checks Bearer and OAuth 1.0a credentials (the consumer key
and access token; signatures are not verified). `FakeX` adds the endpoints.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bot.clock import ensure_utc
from bot.sandbox.x.models import (
    _OAUTH_PARAM,
    _RATE_LIMITS,
    _RECORDED_HEADERS,
    _WINDOW_SECONDS,
    Handler,
    RecordedRequest,
    _problem,
    _rate_headers,
    _Reject,
    _Window,
)
from bot.sandbox.x.state import XState


class XGate(XState):
    """The sandbox X's middleware, rate-limit windows and credential checks."""

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
