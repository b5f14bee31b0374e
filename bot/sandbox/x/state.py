"""The sandbox X's data and knobs: users and posts, and the failures a test can inject.

`XState` holds the posts (mentions indexed by id for the timeline), lets a test add mentions,
retweets, quotes, edits and deletions, protect, suspend or withhold authors, and queue failures:
429s and 5xx, revoked credentials, outages, and for post creation a post stored then a 5xx, a
post stored then no answer, or a stall before anything is stored.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from datetime import datetime
from typing import Any

from bot.clock import Clock, ensure_utc, utc_now
from bot.sandbox.x.models import (
    _MENTION_ENTITY,
    _TWITTER_EPOCH_MS,
    FakeTweet,
    FakeUser,
    PostedReply,
    RecordedRequest,
    _CreateFault,
    _Failure,
    _not_found,
    _unauthorized,
    _Window,
)


class XState:
    """The fake X's users, posts, request log and fault queues."""

    def __init__(
        self,
        *,
        brand_id: str = "1000000000000000001",
        brand_handle: str = "acmehelp",
        brand_name: str = "Acme Support",
        bearer_token: str = "sandbox-bearer",
        api_key: str = "sandbox-key",
        access_token: str = "sandbox-access",
        clock: Clock = utc_now,
        enforce_rate_limits: bool = False,
    ) -> None:
        self.brand = FakeUser(id=brand_id, username=brand_handle, name=brand_name, followers=5400)
        self.bearer_token = bearer_token
        self.api_key = api_key
        self.access_token = access_token
        self.clock = clock
        self.enforce_rate_limits = enforce_rate_limits
        self.latency = 0.0  # seconds to wait before answering, to exercise client timeouts
        self.requests: list[RecordedRequest] = []
        self.posted_replies: list[PostedReply] = []
        self.mention_requests = 0
        self.users: dict[str, FakeUser] = {brand_id: self.brand}
        self.tweets: dict[str, FakeTweet] = {}
        self._handles: dict[str, FakeUser] = {brand_handle.lower(): self.brand}
        self._mention_ids: list[int] = []  # ascending
        self._mention_pattern = re.compile(rf"@{re.escape(brand_handle)}\b", re.IGNORECASE)
        self._sequence = 0
        self._user_sequence = 0
        self._failures: list[_Failure] = []
        self._windows: dict[str, _Window] = {}
        self._revoked = False
        self._outage_status: int | None = None
        self._create_faults: list[_CreateFault] = []
        # Seconds before a new post shows in its author's timeline (X is eventually consistent).
        self.timeline_delay = 0.0

    # -- state -----------------------------------------------------------------------------------

    def add_user(
        self, handle: str, *, name: str | None = None, followers: int = 120, verified: bool = False
    ) -> FakeUser:
        """Return the user with `handle`, creating it if needed."""
        existing = self._handles.get(handle.lower())
        if existing is not None:
            return existing
        self._user_sequence += 1
        user = FakeUser(
            id=str(2_000_000_000_000_000_000 + self._user_sequence),
            username=handle,
            name=name if name is not None else handle.replace("_", " ").title(),
            followers=followers,
            verified=verified,
        )
        self.users[user.id] = user
        self._handles[handle.lower()] = user
        return user

    def add_mention(
        self,
        text: str | None = None,
        *,
        author_handle: str = "customer",
        author_name: str | None = None,
        followers: int = 120,
        verified: bool = False,
        conversation_id: str | None = None,
        in_reply_to: FakeTweet | str | None = None,
        created_at: datetime | None = None,
    ) -> FakeTweet:
        """Store a post by `author_handle`; by default it mentions the brand.

        Like X, only posts naming @brand (or replying to the brand) reach the mentions timeline; a
        `text` without it is stored anyway, so tests can provoke X's 403 on replying to it.
        """
        author = self.add_user(
            author_handle, name=author_name, followers=followers, verified=verified
        )
        if text is None:
            text = f"@{self.brand.username} hi, I need help with order #{self._sequence + 1}"
        parent_id = in_reply_to.id if isinstance(in_reply_to, FakeTweet) else in_reply_to
        if parent_id is None and conversation_id is not None:
            parent_id = conversation_id
        return self._store(text, author, created_at=created_at, reply_to=parent_id)

    def add_mentions(self, n: int, *, authors: int = 50) -> list[FakeTweet]:
        """Store `n` mentions from `authors` distinct customers, quickly (for benchmarks)."""
        people = [self.add_user(f"customer{i}") for i in range(authors)]
        now = ensure_utc(self.clock())
        handle = self.brand.username
        return [
            self._store(f"@{handle} question {i}: where is my order?", people[i % authors], now)
            for i in range(n)
        ]

    def add_retweet(self, of_tweet: FakeTweet, *, author_handle: str = "fan") -> FakeTweet:
        """Store a plain repost of `of_tweet` (X lists it among the brand's mentions)."""
        author = self.add_user(author_handle)
        original = self.users[of_tweet.author_id]
        tweet = self._store(f"RT @{original.username}: {of_tweet.text}", author, indexed=False)
        tweet.referenced_tweets = [("retweeted", of_tweet.id)]
        self._index(tweet, force=True)
        return tweet

    def add_quote(self, of_tweet: FakeTweet, text: str, *, author_handle: str = "fan") -> FakeTweet:
        """Store a quote post of `of_tweet` with its own `text`."""
        author = self.add_user(author_handle)
        tweet = self._store(text, author, indexed=False)
        tweet.referenced_tweets = [("quoted", of_tweet.id)]
        # Quoting one of the brand's posts summons it as a mention does.
        self._index(tweet, force=of_tweet.author_id == self.brand.id)
        return tweet

    def add_brand_post(self, text: str, *, in_reply_to: FakeTweet | str | None = None) -> FakeTweet:
        """Store a post by the brand itself."""
        parent = in_reply_to.id if isinstance(in_reply_to, FakeTweet) else in_reply_to
        return self._store(text, self.brand, reply_to=parent)

    def edit(self, tweet: FakeTweet | str, text: str) -> FakeTweet:
        """Edit a post as its author does on X: a new version with a new id, same edit chain."""
        original = self.tweets[tweet.id if isinstance(tweet, FakeTweet) else tweet]
        chain = list(original.edit_history or [original.id])
        latest = self.tweets[chain[-1]]
        author = self.users[latest.author_id]
        edited = self._store(text, author, indexed=False)
        edited.conversation_id = latest.conversation_id
        edited.referenced_tweets = list(latest.referenced_tweets)
        edited.in_reply_to_user_id = latest.in_reply_to_user_id
        chain.append(edited.id)
        for version in chain:
            self.tweets[version].edit_history = list(chain)
        # The new version is a post of its own: it reaches the mentions timeline like any other.
        self._index(edited, force=int(latest.id) in set(self._mention_ids))
        return edited

    def delete(self, tweet: FakeTweet | str) -> None:
        """Delete a post (every version of it); lookups then answer with a not-found error."""
        tweet_id = tweet.id if isinstance(tweet, FakeTweet) else tweet
        found = self.tweets.get(tweet_id)
        for version in (found.edit_history if found else None) or [tweet_id]:
            self.tweets.pop(version, None)
            with contextlib.suppress(ValueError):
                self._mention_ids.remove(int(version))

    def protect(self, handle: str, *, protected: bool = True) -> None:
        """Make `handle`'s posts visible to approved followers only (the brand is not one)."""
        self.add_user(handle).protected = protected

    def suspend(self, handle: str) -> None:
        """Suspend `handle`: X then hides the account and all its posts."""
        self.add_user(handle).suspended = True

    def withhold(self, tweet: FakeTweet | str, *countries: str) -> None:
        """Withhold a post in `countries` (ISO codes), as X does on a legal demand."""
        self.tweets[tweet.id if isinstance(tweet, FakeTweet) else tweet].withheld_in = list(
            countries or ("DE",)
        )

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        count: int = 1,
        *,
        reset_in: float = 15,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` requests whose path starts with `path_prefix` (and, given,
        whose method is `method`) with `status`."""
        self._failures.append(_Failure(path_prefix, status, count, reset_in, method))

    def fail_after_storing(self, status: int = 503, count: int = 1) -> None:
        """Store the next `count` created posts, then answer `status` instead of 201."""
        self._create_faults.append(_CreateFault(stored=True, status=status, stall=0, count=count))

    def stall_after_storing(self, seconds: float, count: int = 1) -> None:
        """Store the next `count` created posts, then wait `seconds` before answering 201."""
        self._create_faults.append(
            _CreateFault(stored=True, status=None, stall=seconds, count=count)
        )

    def stall_before_storing(self, seconds: float, status: int = 503, count: int = 1) -> None:
        """Hold the next `count` post creations `seconds`, then answer `status`, storing nothing.

        A client that gives up (or dies) meanwhile leaves nothing behind, as with a real X that
        never got to the write.
        """
        self._create_faults.append(
            _CreateFault(stored=False, status=status, stall=seconds, count=count)
        )

    def revoke_credentials(self) -> None:
        """Reject every token with 401 until `restore_credentials`."""
        self._revoked = True

    def restore_credentials(self) -> None:
        """Accept the configured tokens again."""
        self._revoked = False

    def outage(self, status: int = 503) -> None:
        """Answer every request with `status` until `end_outage`."""
        self._outage_status = status

    def end_outage(self) -> None:
        """Serve normally again."""
        self._outage_status = None

    def _next_id(self, created_at: datetime) -> str:
        self._sequence += 1
        millis = max(int(created_at.timestamp() * 1000) - _TWITTER_EPOCH_MS, 0)
        return str((millis << 22) | (self._sequence & 0x3FFFFF))

    def _store(
        self,
        text: str,
        author: FakeUser,
        created_at: datetime | None = None,
        *,
        reply_to: str | None = None,
        indexed: bool = True,
    ) -> FakeTweet:
        when = ensure_utc(created_at if created_at is not None else self.clock())
        tweet_id = self._next_id(when)
        tweet = FakeTweet(
            id=tweet_id,
            text=text,
            author_id=author.id,
            created_at=when,
            conversation_id=tweet_id,
            mentioned={
                handle.lower(): user.id
                for handle in _MENTION_ENTITY.findall(text)
                if (user := self._handles.get(handle.lower())) is not None
            },
        )
        if reply_to is not None:
            parent = self.tweets.get(reply_to)
            tweet.referenced_tweets = [("replied_to", reply_to)]
            if parent is not None:
                tweet.conversation_id = parent.conversation_id
                tweet.in_reply_to_user_id = parent.author_id
            else:
                tweet.conversation_id = reply_to
        self.tweets[tweet_id] = tweet
        if indexed:
            self._index(tweet)
        return tweet

    def _index(self, tweet: FakeTweet, *, force: bool = False) -> None:
        mentions_brand = (
            force
            or self._mention_pattern.search(tweet.text) is not None
            or tweet.in_reply_to_user_id == self.brand.id
        )
        if mentions_brand:
            bisect.insort(self._mention_ids, int(tweet.id))

    def _engaged(self, tweet: FakeTweet) -> bool:
        """Whether the brand may reply to `tweet`: it wrote it, is mentioned in it, or is quoted."""
        quoted = (
            self.tweets.get(ref_id) for kind, ref_id in tweet.referenced_tweets if kind == "quoted"
        )
        return (
            tweet.author_id == self.brand.id
            or self._mention_pattern.search(tweet.text) is not None
            or any(q is not None and q.author_id == self.brand.id for q in quoted)
        )

    def _hidden(self, tweet_id: str, parameter: str) -> dict[str, Any] | None:
        """Return X's error for a post the brand may not see (gone, suspended, protected)."""
        tweet = self.tweets.get(tweet_id)
        if tweet is None:
            return _not_found("tweet", tweet_id, parameter=parameter)
        author = self.users[tweet.author_id]
        if author.suspended:
            return _not_found("tweet", tweet_id, parameter=parameter, suspended=author.id)
        if author.protected and author.id != self.brand.id:
            return _unauthorized("tweet", tweet_id, parameter=parameter)
        return None
