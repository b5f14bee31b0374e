"""The sandbox Bluesky's records and wire helpers.

Actors and posts as the AppView renders them (`profileViewBasic`, `profileViewDetailed`,
`postView`), notifications keyed for the cursor, issued tokens, rate-limit windows and injected
failures, the `{"error", "message"}` rejection, and the encodings the PDS uses: base32 CIDs, TIDs,
unsigned JWTs with real `exp` claims, and the `ratelimit-*` headers.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from bot.clock import ensure_utc

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
