"""The sandbox X's records and the JSON it answers with.

Users and posts as X API v2 renders them (fields on request, HTML-escaped text, `entities`,
`note_tweet`, edit history), the records of requests and replies, the bookkeeping of injected
faults and rate-limit windows, and X's error bodies (`problem` shapes, `errors` beside `data`)
and query-parameter parsing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final, TypedDict

from aiohttp import web
from multidict import MultiMapping

from bot.clock import ensure_utc
from bot.sources.x_text import x_weighted_length

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
