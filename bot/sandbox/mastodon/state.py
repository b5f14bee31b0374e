"""The sandbox Mastodon's data and knobs: accounts, statuses, notifications and failures.

`MastodonState` lets a test add accounts, statuses and mentions (a mention of the brand becomes
a notification, and is pushed to every open stream), queue failures by path prefix, revoke the
token, end the open streams, and read back the replies the bot posted.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.clock import Clock, ensure_utc, utc_now
from bot.sandbox.mastodon.models import _MENTION, _WINDOW, MastoAccount, MastoStatus, _iso


class MastodonState:
    """The fake instance's accounts, statuses, notifications, streams and fault queues."""

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
        self.brand = self.add_account(username, display_name=display_name, followers=5400)

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

    def drop_streams(self) -> None:
        """End every open stream (as a restart of the streaming server would)."""
        for queue in list(self._streams):
            queue.put_nowait(None)

    @property
    def stream_count(self) -> int:
        """Return how many streams are open."""
        return len(self._streams)
