"""The sandbox Bluesky's data and knobs: actors, posts, notifications and injected failures.

`BlueskyState` lets a test add actors, posts and mentions (with mention facets, so the brand is
notified as the AppView would notify it), queue 429s or outages, revoke the app password or
expire every access token, and read back the replies the bot posted and the calls it made.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock, ensure_utc, utc_now
from bot.sandbox.bluesky.models import (
    _TID_CHARS,
    BskyActor,
    BskyPost,
    BskyRequest,
    _b32,
    _Failure,
    _iso,
    _Notification,
    _Token,
    _Window,
)


class BlueskyState:
    """The fake PDS's actors, posts, notifications, tokens and fault queues."""

    def __init__(
        self,
        *,
        handle: str = "acme.bsky.social",
        display_name: str = "Acme Support",
        app_password: str = "sandbox-app-pass",
        clock: Clock = utc_now,
        access_ttl: timedelta = timedelta(hours=2),
        refresh_ttl: timedelta = timedelta(days=60),
    ) -> None:
        self.clock = clock
        self.app_password = app_password
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.enforce_rate_limits = True
        self.actors: dict[str, BskyActor] = {}
        self.posts: dict[str, BskyPost] = {}
        self.requests: list[BskyRequest] = []
        self.created_records: list[dict[str, Any]] = []
        self.sessions_created = 0
        self.sessions_refreshed = 0
        self.brand = self.add_actor(handle, name=display_name, followers=5400)
        self._notifications: list[_Notification] = []  # ascending sort_key
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, _Window] = {}
        self._failures: list[_Failure] = []
        self._outage: int | None = None
        self._sequence = 0

    # -- state -----------------------------------------------------------------------------------

    def add_actor(self, handle: str, *, name: str | None = None, followers: int = 120) -> BskyActor:
        """Return the account `handle`, creating it if needed."""
        handle = handle.lower()
        if "." not in handle:
            handle = f"{handle}.bsky.social"
        for actor in self.actors.values():
            if actor.handle == handle:
                return actor
        did = "did:plc:" + _b32(hashlib.sha256(handle.encode()).digest())[:24]
        actor = BskyActor(
            did=did, handle=handle, display_name=name or handle.split(".")[0], followers=followers
        )
        self.actors[did] = actor
        return actor

    def add_post(
        self,
        text: str,
        *,
        author_handle: str = "customer",
        followers: int = 120,
        reply_to: BskyPost | str | None = None,
        quote: BskyPost | str | None = None,
        created_at: datetime | None = None,
        display_name: str | None = None,
    ) -> BskyPost:
        """Store a post by `author_handle` (a reply or quote if given one); notify the brand."""
        author = self.add_actor(author_handle, name=display_name, followers=followers)
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": _iso(created_at or self.clock()),
            "langs": ["en"],
        }
        facets = self._mention_facets(text)
        if facets:
            record["facets"] = facets
        parent = self.posts[reply_to] if isinstance(reply_to, str) else reply_to
        if parent is not None:
            root = parent.record.get("reply", {}).get("root") or {
                "uri": parent.uri,
                "cid": parent.cid,
            }
            record["reply"] = {"root": root, "parent": {"uri": parent.uri, "cid": parent.cid}}
        quoted = self.posts[quote] if isinstance(quote, str) else quote
        if quoted is not None:
            record["embed"] = {
                "$type": "app.bsky.embed.record",
                "record": {"uri": quoted.uri, "cid": quoted.cid},
            }
        return self._store(author, record)

    def add_mention(self, text: str | None = None, **kwargs: Any) -> BskyPost:
        """Store a post that mentions the brand."""
        body = text if text is not None else f"@{self.brand.handle} my order has not arrived"
        if f"@{self.brand.handle}" not in body and kwargs.get("reply_to") is None:
            body = f"@{self.brand.handle} {body}"
        return self.add_post(body, **kwargs)

    def add_mentions(self, n: int, *, authors: int = 50) -> list[BskyPost]:
        """Store `n` mentions from `authors` different accounts."""
        return [
            self.add_mention(
                f"@{self.brand.handle} question number {i}", author_handle=f"customer{i % authors}"
            )
            for i in range(n)
        ]

    def fail_next(self, nsid: str, *, status: int, count: int = 1, reset_in: float = 60.0) -> None:
        """Answer the next `count` calls of `nsid` with `status` (429 carries ratelimit-*)."""
        self._failures.append(_Failure(nsid, status, count, reset_in))

    def revoke_app_password(self) -> None:
        """Revoke the app password and every session made with it."""
        self.app_password = secrets.token_hex(8)
        for token in self._tokens.values():
            token.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expire now (the refresh tokens stay valid)."""
        now = ensure_utc(self.clock())
        for token in self._tokens.values():
            if token.scope != "com.atproto.refresh":
                token.expires = now - timedelta(seconds=1)

    def outage(self, status: int = 502) -> None:
        """Answer every request with `status` until `end_outage`."""
        self._outage = status

    def end_outage(self) -> None:
        """Answer normally again."""
        self._outage = None

    def replies_to(self, uri: str) -> list[BskyPost]:
        """Return the brand's posts that reply to `uri`."""
        return [
            p
            for p in self.posts.values()
            if p.author is self.brand
            and p.record.get("reply", {}).get("parent", {}).get("uri") == uri
        ]

    def calls(self, nsid: str) -> list[BskyRequest]:
        """Return the requests made to `nsid`."""
        return [r for r in self.requests if r.nsid == nsid]

    # -- internals -------------------------------------------------------------------------------

    def _mention_facets(self, text: str) -> list[dict[str, Any]]:
        facets = []
        for actor in self.actors.values():
            tag = f"@{actor.handle}"
            start = text.find(tag)
            if start >= 0:
                begin = len(text[:start].encode())
                facets.append(
                    {
                        "index": {"byteStart": begin, "byteEnd": begin + len(tag.encode())},
                        "features": [
                            {"$type": "app.bsky.richtext.facet#mention", "did": actor.did}
                        ],
                    }
                )
        return facets

    def _tid(self) -> str:
        self._sequence += 1
        micros = int(ensure_utc(self.clock()).timestamp() * 1_000_000) + self._sequence
        value = (micros << 10) | 7
        out = ""
        for _ in range(13):
            out = _TID_CHARS[value & 31] + out
            value >>= 5
        return out

    def _store(self, author: BskyActor, record: dict[str, Any]) -> BskyPost:
        rkey = self._tid()
        uri = f"at://{author.did}/app.bsky.feed.post/{rkey}"
        cid = "bafyrei" + _b32(hashlib.sha256((uri + json.dumps(record)).encode()).digest())[:52]
        post = BskyPost(
            uri=uri, cid=cid, author=author, record=record, indexed_at=ensure_utc(self.clock())
        )
        self.posts[uri] = post
        if author is not self.brand:
            self._notify(post)
        return post

    def _notify(self, post: BskyPost) -> None:
        reason: str | None = None
        subject: str | None = None
        parent_uri = post.record.get("reply", {}).get("parent", {}).get("uri")
        quoted_uri = post.record.get("embed", {}).get("record", {}).get("uri")
        if parent_uri and parent_uri in self.posts and self.posts[parent_uri].author is self.brand:
            reason, subject = "reply", parent_uri
        elif (
            quoted_uri and quoted_uri in self.posts and self.posts[quoted_uri].author is self.brand
        ):
            reason, subject = "quote", quoted_uri
        elif any(
            f.get("did") == self.brand.did
            for facet in post.record.get("facets", [])
            for f in facet.get("features", [])
        ):
            reason = "mention"
        if reason is not None:
            # The cursor's sort key: milliseconds, made strictly increasing within one.
            last = self._notifications[-1].sort_key if self._notifications else 0
            key = max(last + 1, int(post.indexed_at.timestamp() * 1000) * 1000)
            self._notifications.append(_Notification(post, reason, subject, key))
