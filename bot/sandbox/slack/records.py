"""The sandbox Slack's recorded state: what it received, holds and answers, as plain records.

Calls and Block Kit violations as the fake saw them; messages, ephemerals, views, response_url
posts, users and channels as Slack holds them; the bookkeeping behind trigger ids, response_urls,
rate limits and injected failures; and `SlackApiFailure`, how a method answers an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
ApiHandler = Callable[[JSON], JSON]


@dataclass
class SlackCall:
    """One Web API call as the fake received and answered it."""

    method: str
    args: JSON
    status: int
    ok: bool
    error: str | None
    at: float


@dataclass
class Violation:
    """One Block Kit rule a payload broke, and the method that carried it."""

    method: str
    detail: str


@dataclass
class StoredMessage:
    """A message in a channel (top-level post or thread reply) with its current content."""

    channel: str
    ts: str
    text: str
    blocks: list[JSON]
    user: str
    bot_id: str | None = None
    app_id: str | None = None
    team: str = ""
    thread_ts: str | None = None
    parent_user_id: str | None = None
    metadata: JSON | None = None
    reply_broadcast: bool = False
    edited: JSON | None = None
    replies: list[str] = field(default_factory=list)
    reply_users: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    # Files shared with the message (files.completeUploadExternal), as Slack's file objects.
    files: list[JSON] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        """Tell whether this message lives in another message's thread."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    def as_dict(self) -> JSON:
        """Render the message as Slack's APIs and event payloads show it."""
        out: JSON = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.bot_id is not None:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id
        if self.team:
            out["team"] = self.team
        if self.blocks:
            out["blocks"] = self.blocks
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.edited is not None:
            out["edited"] = self.edited
        if self.files:
            out["files"] = self.files
            out["upload"] = True
        if self.reply_broadcast:
            out["subtype"] = "thread_broadcast"
        if self.is_reply:
            out["thread_ts"] = self.thread_ts
            out["parent_user_id"] = self.parent_user_id
        elif self.replies:
            out["thread_ts"] = self.ts
            out["reply_count"] = len(self.replies)
            out["reply_users_count"] = len(self.reply_users)
            out["reply_users"] = list(self.reply_users)
            out["latest_reply"] = self.replies[-1]
        if self.reactions:
            out["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in self.reactions.items()
            ]
        return out


@dataclass
class Ephemeral:
    """An ephemeral message shown to one user (chat.postEphemeral or a response_url)."""

    channel: str | None
    user: str | None
    text: str
    blocks: list[JSON]
    message_ts: str
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"


@dataclass
class StoredView:
    """A modal or App Home view as Slack currently holds it."""

    id: str
    user_id: str | None
    payload: JSON
    closed: bool = False

    @property
    def type(self) -> str:
        """Return the view type (`modal` or `home`)."""
        return str(self.payload["type"])

    @property
    def callback_id(self) -> str:
        """Return the view's callback_id."""
        return str(self.payload.get("callback_id") or "")

    @property
    def private_metadata(self) -> str:
        """Return the view's private_metadata."""
        return str(self.payload.get("private_metadata") or "")

    @property
    def hash(self) -> str:
        """Return the view's current hash."""
        return str(self.payload["hash"])

    @property
    def blocks(self) -> list[JSON]:
        """Return the view's blocks."""
        blocks: list[JSON] = self.payload.get("blocks") or []
        return blocks


@dataclass
class ResponsePost:
    """One POST to a response_url and how the fake answered it."""

    response_id: str
    url: str
    payload: JSON
    status: int
    at: float


@dataclass
class FakeUser:
    """A workspace member that users.info can describe."""

    id: str
    name: str
    real_name: str
    display_name: str
    tz: str = "UTC"
    is_bot: bool = False


@dataclass
class FakeChannel:
    """A conversation; `members=None` means everyone known to the fake is a member."""

    id: str
    name: str
    is_private: bool = False
    members: list[str] | None = None


@dataclass
class _Trigger:
    issued_at: float
    user_id: str | None
    used: bool = False


@dataclass
class _ResponseTarget:
    channel: str | None
    message_ts: str | None
    user_id: str | None
    uses: int = 0


@dataclass
class _Bucket:
    per_second: float
    burst: int
    tokens: float
    updated: float


@dataclass
class _Failure:
    status: int
    error: str
    remaining: int
    retry_after: float | None = None


class SlackApiFailure(Exception):
    """An error answer from a fake API method: Slack's error code plus extra response fields."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        extra: JSON | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}
