"""The sandbox Mastodon's records and the JSON it answers with.

Accounts and statuses as Mastodon's REST API renders them (HTML content with linked mentions
and URLs, `acct` relative to the instance), and the `{"error": ...}` rejection.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web

from bot.clock import ensure_utc

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
