"""`MastodonSource`: the Mastodon adapter behind the `Source` protocol, built on Mastodon.py.

Mentions are the `mention` notifications since the last notification id; their HTML content
becomes plain text and authors are written `user@instance` everywhere. A reply goes out with
`in_reply_to_id`, keeps the visibility of the post it answers (a direct message is answered
directly, reaching only the accounts it mentions) and @mentions the customer. Length is counted
as the instance counts it, with `max_characters` and `characters_reserved_per_url` read from
`/api/v2/instance`. Mastodon.py is blocking: its calls run on the source's own threads
(`bot.sources.mastodon_client`), so the event loop never waits on the network; text, times and
error reasons are read in `bot.sources.mastodon_text`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from mastodon import StreamListener

from bot.clock import Clock, ensure_utc, utc_now
from bot.errors import ReplyEmpty, ReplyTooLong
from bot.sources.base import (
    Author,
    FetchResult,
    Mention,
    SentReply,
    SourceLimits,
    reply_text_matches,
)
from bot.sources.mastodon_client import MastodonCalls
from bot.sources.mastodon_text import DEFAULT_URL_LENGTH, as_utc, html_to_text, mastodon_length

__all__ = ["MastodonSource", "html_to_text", "mastodon_length"]

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARACTERS: Final = 500
_MAX_PAGES: Final = 50  # 4,000 notifications per poll at most; the rest on the next one
# How many pages (of 40) of the brand's own statuses a reply in doubt is looked for in.
_OWN_POST_PAGES: Final = 5


class MastodonSource:
    """Read the brand's Mastodon mentions and reply to them."""

    network = "mastodon"

    def __init__(
        self,
        *,
        api_base_url: str,
        access_token: str,
        clock: Clock = utc_now,
        timeout: float = 15.0,
    ) -> None:
        self._base_url = api_base_url.rstrip("/")
        self._clock = clock
        self._calls = MastodonCalls(
            api_base_url=self._base_url, access_token=access_token, clock=clock, timeout=timeout
        )
        self._domain: str | None = None
        self._brand: dict[str, Any] | None = None
        self._url_length = DEFAULT_URL_LENGTH
        self._configured = False
        self.limits = SourceLimits(
            reply_max=DEFAULT_MAX_CHARACTERS, measure=self._measure, min_poll_seconds=10
        )

    def _measure(self, text: str) -> int:
        return mastodon_length(text, url_length=self._url_length)

    async def start(self) -> None:
        """Create the client (no traffic until the first call)."""
        self._calls.open()

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._calls.close()

    async def whoami(self) -> Author:
        """Return the brand account the access token acts as."""
        account = await self._calls.call(lambda api: api.account_verify_credentials())
        self._brand = dict(account)
        await self._configure()
        return self._author(account)

    async def fetch_since(self, cursor: str | None, *, not_before: datetime) -> FetchResult:
        """Return mentions newer than the notification id `cursor` (else since `not_before`).

        With a cursor, pages walk forward (`min_id`), so a poll that stops at the page cap has
        saved exactly what it read and the next poll goes on from there; without one (the first
        start), they walk back from the newest until `not_before`.
        """
        await self._configure()
        found: list[Any] = []
        newest: int | None = int(cursor) if cursor and cursor.isdigit() else None
        since = ensure_utc(not_before)
        max_id: str | None = None
        for _ in range(_MAX_PAGES):
            forward = newest is not None and cursor is not None
            page = await self._calls.call(
                _mentions_page(
                    min_id=str(newest) if forward else None, max_id=None if forward else max_id
                )
            )
            items = list(page or [])
            if not items:
                break
            for item in items:
                created = as_utc(item.get("created_at"))
                if cursor is None and created is not None and created < since:
                    continue
                if item.get("type") == "mention" and item.get("status"):
                    found.append(item)
            if forward:
                newest = max(int(item["id"]) for item in items)
                continue
            newest = max(newest or 0, *(int(item["id"]) for item in items))
            oldest = as_utc(items[-1].get("created_at"))
            if oldest is not None and oldest < since:
                break
            max_id = str(items[-1]["id"])
        # A reply's case is found through its reply chain, one `status_context` call each: made
        # at once (on the source's threads), not one after another.
        mentions = list(await asyncio.gather(*(self._mention(item) for item in found)))
        mentions.sort(key=lambda m: (m.posted_at, int(m.external_id)))
        return FetchResult(mentions=mentions, cursor=None if newest is None else str(newest))

    async def reply(self, *, to_external_id: str, text: str) -> SentReply:
        """Reply to the status `to_external_id`, @mentioning its author, in its visibility."""
        if not text.strip():
            raise ReplyEmpty()
        await self._configure()
        status = await self._calls.call(lambda api: api.status(to_external_id), replying=True)
        author = self._acct(status["account"])
        body = text if re.search(rf"@{re.escape(author)}\b", text) else f"@{author} {text}"
        length = self._measure(body)
        if length > self.limits.reply_max:
            raise ReplyTooLong(length, self.limits.reply_max)
        visibility = str(status.get("visibility") or "public")
        posted = await self._calls.call(
            lambda api: api.status_post(body, in_reply_to_id=to_external_id, visibility=visibility),
            replying=True,
        )
        return SentReply(external_id=str(posted["id"]), url=str(posted.get("url") or posted["uri"]))

    async def find_reply(
        self, *, to_external_id: str, text: str, not_before: datetime
    ) -> SentReply | None:
        """Return the brand's reply to `to_external_id` with `text` posted since `not_before`.

        Read from the brand's own statuses (`GET /api/v1/accounts/:id/statuses`), newest first:
        the status answering `to_external_id` whose text, less the @mention Carebot puts first,
        is `text`.
        """
        if self._brand is None:
            self._brand = dict(await self._calls.call(lambda api: api.account_verify_credentials()))
        brand_id = str(self._brand["id"])
        since = ensure_utc(not_before) - timedelta(minutes=1)  # clocks that disagree
        max_id: str | None = None
        for _page in range(_OWN_POST_PAGES):
            page = await self._calls.call(_own_statuses(brand_id, max_id))
            for status in page:
                if str(status.get("in_reply_to_id")) == to_external_id and reply_text_matches(
                    html_to_text(str(status.get("content", ""))), text
                ):
                    url = str(status.get("url") or status["uri"])
                    return SentReply(external_id=str(status["id"]), url=url)
                created = as_utc(status.get("created_at"))
                if created is not None and created < since:
                    return None
            if not page:
                return None
            max_id = str(page[-1]["id"])
        return None

    async def stream(
        self,
        *,
        on_mentions: Callable[[list[Mention]], Awaitable[object]],
        on_connect: Callable[[], object],
        reconnect_seconds: float = 5.0,
    ) -> None:
        """Stream `user:notification` until cancelled: mentions to `on_mentions` within seconds.

        The stream does not replay what was sent while it was down, so `on_connect` is called on
        the first connection and after every reconnect, for the caller to poll as a backfill.
        """
        await self._configure()
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        listener = _Listener(
            lambda kind, item: loop.call_soon_threadsafe(events.put_nowait, (kind, item))
        )
        api = self._calls.api
        handle = await self._calls.in_thread(
            lambda: api.stream_user_notifications(
                listener,
                run_async=True,
                reconnect_async=True,
                reconnect_async_wait_sec=reconnect_seconds,
            )
        )
        try:
            while True:
                kind, item = await events.get()
                if kind == "connected":
                    on_connect()
                elif (
                    kind == "notification" and item.get("type") == "mention" and item.get("status")
                ):
                    await on_mentions([await self._mention(item)])
        finally:
            # Closing waits for the stream's reader thread to leave its read (the next event or
            # heartbeat, 15 s at most), so it is done on a thread of its own, not awaited.
            threading.Thread(target=handle.close, name="mastodon-stream-close", daemon=True).start()

    # -- internals -------------------------------------------------------------------------------

    async def _configure(self) -> None:
        """Read the instance's limits and the brand account once."""
        if self._configured:
            return
        instance = await self._calls.call(lambda api: api.instance_v2())
        statuses = (instance.get("configuration") or {}).get("statuses") or {}
        reply_max = int(statuses.get("max_characters") or DEFAULT_MAX_CHARACTERS)
        self._url_length = int(statuses.get("characters_reserved_per_url") or DEFAULT_URL_LENGTH)
        self.limits = SourceLimits(reply_max=reply_max, measure=self._measure, min_poll_seconds=10)
        self._domain = str(instance.get("domain") or urlsplit(self._base_url).hostname or "")
        if self._brand is None:
            self._brand = dict(await self._calls.call(lambda api: api.account_verify_credentials()))
        self._configured = True

    async def _mention(self, item: Any) -> Mention:
        status = item["status"]
        status_id = str(status["id"])
        parent = status.get("in_reply_to_id")
        conversation = status_id
        if parent is not None:
            # A follow-up joins its case through the root of the reply chain.
            context = await self._calls.call(lambda api: api.status_context(status_id))
            ancestors = list(context.get("ancestors") or [])
            conversation = str(ancestors[0]["id"]) if ancestors else str(parent)
        posted = as_utc(status.get("created_at")) or ensure_utc(self._clock())
        return Mention(
            network="mastodon",
            external_id=status_id,
            conversation_id=conversation,
            author=self._author(status["account"]),
            text=html_to_text(str(status.get("content") or "")),
            url=str(status.get("url") or status.get("uri") or ""),
            posted_at=posted,
            in_reply_to_id=str(parent) if parent is not None else None,
        )

    def _acct(self, account: Any) -> str:
        acct = str(account.get("acct") or account.get("username"))
        if "@" not in acct and self._domain:
            acct = f"{acct}@{self._domain}"
        return acct

    def _author(self, account: Any) -> Author:
        return Author(
            external_id=str(account["id"]),
            handle=self._acct(account),
            name=str(account.get("display_name") or account.get("username") or ""),
            followers=account.get("followers_count"),
            verified=None,
        )


class _Listener(StreamListener):
    """Forwards stream events from Mastodon.py's thread to the event loop."""

    def __init__(self, emit: Callable[[str, Any], object]) -> None:
        self._emit = emit

    def handle_stream(self, response: Any) -> None:
        # Called once per established connection (the first, and each after a drop).
        self._emit("connected", None)
        super().handle_stream(response)  # type: ignore[no-untyped-call]

    def on_notification(self, notification: Any) -> None:
        self._emit("notification", notification)

    def on_abort(self, err: Exception) -> None:
        log.info("mastodon: the stream dropped (%s); reconnecting", err)

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        log.debug("mastodon: ignoring stream event %s", name)


def _own_statuses(account_id: str, max_id: str | None) -> Callable[[Any], Any]:
    return lambda api: api.account_statuses(
        account_id, exclude_reblogs=True, limit=40, max_id=max_id
    )


def _mentions_page(*, min_id: str | None, max_id: str | None) -> Callable[[Any], Any]:
    return lambda api: api.notifications(types=["mention"], min_id=min_id, max_id=max_id, limit=80)
