"""`BlueskySource`: the Bluesky adapter behind the `Source` protocol, on atproto's AsyncClient.

It logs in with the brand's handle and app password, keeps the session in the database (so a
restart reuses it instead of spending `createSession`'s 30-per-5-minutes limit) and lets the SDK
refresh it before it expires. Mentions, replies and quotes come from `listNotifications`; authors'
follower counts from `getProfiles`; a reply is a post whose `root` and `parent` refs come from
`getPosts`, with facets for the mentions and links in it. The `ratelimit-*` headers of every
answer are read: once the budget is spent, calls wait for its reset instead of earning 429s.

Ids are stored compactly as `<did>/<rkey>` (an at-uri without `at://` and the collection), so they
fit the 64-character id columns every network shares.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import httpx
from atproto import AsyncClient, SessionEvent, models
from atproto_client.exceptions import (
    BadRequestError,
    InvokeTimeoutError,
    NetworkError,
    RateLimitExceededError,
    RequestException,
    UnauthorizedError,
)
from atproto_client.request import AsyncRequest
from atproto_core.exceptions import AtProtocolError

from bot.clock import Clock, ensure_utc, utc_now
from bot.errors import (
    NetworkAuthError,
    NetworkRateLimited,
    NetworkUnavailable,
    ReplyEmpty,
    ReplyRejected,
    ReplyTooLong,
    SourceError,
)
from bot.sources.base import (
    Author,
    FetchResult,
    Mention,
    SentReply,
    SourceLimits,
    reply_text_matches,
)
from bot.sources.graphemes import grapheme_length
from storage import intake
from storage.engine import SessionFactory

__all__ = ["BLUESKY_REPLY_LIMIT", "BlueskySource", "compact_id", "post_uri", "post_url"]

log = logging.getLogger(__name__)

BLUESKY_REPLY_LIMIT: Final = 300  # graphemes
_POST_COLLECTION: Final = "app.bsky.feed.post"
_REASONS: Final = frozenset({"mention", "reply", "quote"})
# listNotifications only pages back in time, so a poll reads everything since its cursor (up to
# 50,000 notifications, far more than 5 minutes of the account's request budget allows).
_MAX_PAGES: Final = 500
_ID_LIMIT: Final = 64
# How many pages (of 100) of the brand's own feed a reply in doubt is looked for in.
_OWN_POST_PAGES: Final = 5
_UNREACHABLE: Final = "Can't reach Bluesky right now; Carebot will try again shortly."
T = TypeVar("T")


def compact_id(uri: str) -> str:
    """Return `<did>/<rkey>` for the post at-uri `uri`."""
    did, _, rest = uri.removeprefix("at://").partition("/")
    return f"{did}/{rest.rpartition('/')[2]}"


def post_uri(external_id: str) -> str:
    """Return the at-uri of the post stored as `external_id` (`<did>/<rkey>`)."""
    if external_id.startswith("at://"):
        return external_id
    did, _, rkey = external_id.partition("/")
    return f"at://{did}/{_POST_COLLECTION}/{rkey}"


def _own_feed(did: str, cursor: str | None) -> Callable[[Any], Awaitable[Any]]:
    def request(client: Any) -> Awaitable[Any]:
        params = models.AppBskyFeedGetAuthorFeed.Params(
            actor=did, filter="posts_with_replies", limit=100, cursor=cursor
        )
        return client.app.bsky.feed.get_author_feed(params)  # type: ignore[no-any-return]

    return request


def post_url(handle: str, uri: str) -> str:
    """Return the bsky.app link of a post."""
    return f"https://bsky.app/profile/{handle}/post/{uri.rpartition('/')[2]}"


class BlueskySource:
    """Read the brand's Bluesky mentions, replies and quotes, and reply to them."""

    network = "bluesky"
    limits = SourceLimits(
        reply_max=BLUESKY_REPLY_LIMIT, measure=grapheme_length, min_poll_seconds=10
    )

    def __init__(
        self,
        *,
        api_url: str,
        handle: str,
        app_password: str,
        sessions: SessionFactory | None = None,
        clock: Clock = utc_now,
        timeout: float = 15.0,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._handle = handle.lower().removeprefix("@")
        self._password = app_password
        self._sessions = sessions
        self._clock = clock
        self._timeout = timeout
        self._client: Any = None
        self._logged_in = False
        self._login_lock = asyncio.Lock()
        self._blocked_until: datetime | None = None

    @property
    def _session_key(self) -> str:
        return f"bluesky:{self._handle}"

    async def start(self) -> None:
        """Create the client (no network traffic until the first call)."""
        if self._client is not None:
            return
        request = AsyncRequest(
            timeout=self._timeout, event_hooks={"response": [self._read_rate_headers]}
        )
        client = AsyncClient(base_url=self._api_url, request=request)
        client.on_session_change(self._session_changed)
        self._client = client

    async def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            await self._client.request.close()
            self._client = None
            self._logged_in = False

    async def whoami(self) -> Author:
        """Return the brand account the app password logs in as."""
        profile = await self._call(
            lambda c: c.app.bsky.actor.get_profile(
                models.AppBskyActorGetProfile.Params(actor=c._session.did)
            )
        )
        return _author(profile)

    async def fetch_since(self, cursor: str | None, *, not_before: datetime) -> FetchResult:
        """Return mentions, replies and quotes indexed at or after `cursor` (else `not_before`)."""
        since = (_parse_time(cursor) if cursor else None) or ensure_utc(not_before)
        brand = await self._brand_did()
        found: dict[str, Any] = {}
        newest: datetime | None = None
        page_cursor: str | None = None
        for _ in range(_MAX_PAGES):
            params = models.AppBskyNotificationListNotifications.Params(
                limit=100, cursor=page_cursor
            )
            page = await self._call(_list_notifications(params))
            notifications = list(page.notifications or [])
            oldest = since
            for item in notifications:
                indexed = _parse_time(item.indexed_at) or since
                oldest = min(oldest, indexed)
                # Equal times are read again (ingest drops what it has): two notifications can
                # share a millisecond, and one of them may be new.
                if indexed < since:
                    continue
                newest = max(newest or indexed, indexed)
                if item.reason in _REASONS and item.author.did != brand:
                    found.setdefault(item.uri, item)
            page_cursor = page.cursor
            if not page_cursor or not notifications or oldest < since:
                break
        followers = await self._followers({n.author.did for n in found.values()})
        mentions = [m for m in (_mention(n, followers) for n in found.values()) if m is not None]
        mentions.sort(key=lambda m: (m.posted_at, m.external_id))
        return FetchResult(mentions=mentions, cursor=_iso(newest) if newest else None)

    async def reply(self, *, to_external_id: str, text: str) -> SentReply:
        """Post `text` as a reply to the post `to_external_id`, in the same thread."""
        if not text.strip():
            raise ReplyEmpty()
        length = grapheme_length(text)
        if length > BLUESKY_REPLY_LIMIT:
            raise ReplyTooLong(length, BLUESKY_REPLY_LIMIT)
        uri = post_uri(to_external_id)
        found = await self._call(
            lambda c: c.app.bsky.feed.get_posts(models.AppBskyFeedGetPosts.Params(uris=[uri]))
        )
        if not found.posts:
            raise ReplyRejected("The Bluesky post is gone (deleted, or its author left).")
        parent = found.posts[0]
        parent_ref = models.ComAtprotoRepoStrongRef.Main(uri=parent.uri, cid=parent.cid)
        thread = getattr(parent.record, "reply", None)
        root_ref = (
            models.ComAtprotoRepoStrongRef.Main(uri=thread.root.uri, cid=thread.root.cid)
            if thread is not None
            else parent_ref
        )
        facets = await self._call(lambda c: c.detect_facets(text), replying=True)

        async def create(c: Any) -> Any:
            record = models.AppBskyFeedPost.Record(
                created_at=c.get_current_time_iso(),
                text=text,
                reply=models.AppBskyFeedPost.ReplyRef(root=root_ref, parent=parent_ref),
                facets=facets or None,
                langs=["en"],
            )
            return await c.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(
                    repo=c._session.did, collection=_POST_COLLECTION, record=record
                )
            )

        created = await self._call(create, replying=True)
        handle = self._client._session.handle if self._client._session else self._handle
        return SentReply(external_id=compact_id(created.uri), url=post_url(handle, created.uri))

    async def find_reply(
        self, *, to_external_id: str, text: str, not_before: datetime
    ) -> SentReply | None:
        """Return the brand's reply to `to_external_id` with `text` posted since `not_before`.

        Read from the brand's own feed (`app.bsky.feed.getAuthorFeed`, replies included), newest
        first: the post whose reply parent is `to_external_id` and whose text is `text`.
        """
        did = await self._brand_did()
        target = post_uri(to_external_id)
        since = ensure_utc(not_before) - timedelta(minutes=1)  # clocks that disagree
        cursor: str | None = None
        for _page in range(_OWN_POST_PAGES):
            page = await self._call(_own_feed(did, cursor))
            for item in page.feed:
                post = item.post
                record = post.record
                reply = getattr(record, "reply", None)
                if (
                    reply is not None
                    and reply.parent.uri == target
                    and reply_text_matches(str(getattr(record, "text", "")), text)
                ):
                    return SentReply(
                        external_id=compact_id(post.uri), url=post_url(post.author.handle, post.uri)
                    )
                created_at = getattr(record, "created_at", None)
                created = _parse_time(created_at if isinstance(created_at, str) else None)
                if created is not None and created < since:
                    return None
            cursor = page.cursor
            if not cursor:
                return None
        return None

    # -- internals -------------------------------------------------------------------------------

    async def _brand_did(self) -> str:
        await self._ensure_login()
        did: str = self._client._session.did
        return did

    async def _followers(self, dids: set[str]) -> dict[str, Any]:
        """Return profiles by DID (25 per `getProfiles` call)."""
        profiles: dict[str, Any] = {}
        ordered = sorted(dids)
        for start in range(0, len(ordered), 25):
            chunk = ordered[start : start + 25]
            params = models.AppBskyActorGetProfiles.Params(actors=chunk)
            answer = await self._call(_get_profiles(params))
            profiles.update({p.did: p for p in answer.profiles})
        return profiles

    async def _ensure_login(self) -> None:
        if self._client is None:
            raise RuntimeError("BlueskySource.start() was not called")
        if self._logged_in:
            return
        async with self._login_lock:
            if self._logged_in:
                return
            saved = await self._load_session()
            if saved is not None:
                try:
                    await self._client.login(session_string=saved, fetch_bsky_profile=False)
                    self._logged_in = True
                    log.info("bluesky: reusing the saved session of @%s", self._handle)
                    return
                except (AtProtocolError, ValueError):
                    log.info("bluesky: the saved session could not be used; logging in again")
            await self._password_login()

    async def _password_login(self) -> None:
        try:
            await self._client.login(self._handle, self._password, fetch_bsky_profile=False)
        except UnauthorizedError as exc:
            raise NetworkAuthError(
                "Bluesky rejected the handle or app password (it may have been revoked); "
                "check BLUESKY_HANDLE and BLUESKY_APP_PASSWORD."
            ) from exc
        except RateLimitExceededError as exc:
            reset_at = _reset_at(exc)
            self._blocked_until = reset_at
            raise NetworkRateLimited(
                "Bluesky limits logins (30 per 5 minutes); Carebot will try again after it resets.",
                reset_at=reset_at,
            ) from exc
        except (NetworkError, InvokeTimeoutError, RequestException) as exc:
            raise NetworkUnavailable(_UNREACHABLE) from exc
        self._logged_in = True
        log.info("bluesky: logged in as @%s", self._handle)

    async def _call(self, request: Callable[[Any], Awaitable[T]], *, replying: bool = False) -> T:
        """Run one SDK call, logging in first, waiting out spent budgets, mapping every error."""
        self._respect_budget()
        await self._ensure_login()
        for attempt in (1, 2):
            try:
                return await request(self._client)
            except (UnauthorizedError, BadRequestError) as exc:
                code = _error_code(exc)
                expired = code in {"ExpiredToken", "InvalidToken", "AuthMissing"}
                if isinstance(exc, UnauthorizedError) or expired:
                    if attempt == 1:
                        # The session was revoked or outlived its refresh token: one fresh login.
                        await self._forget_session()
                        await self._password_login()
                        continue
                    raise NetworkAuthError(
                        "Bluesky rejected Carebot's session; check BLUESKY_HANDLE and "
                        "BLUESKY_APP_PASSWORD."
                    ) from exc
                if replying:
                    raise ReplyRejected(f"Bluesky refused the reply: {_error_text(exc)}") from exc
                raise SourceError(
                    f"Bluesky did not accept the request: {_error_text(exc)}"
                ) from exc
            except RateLimitExceededError as exc:
                reset_at = _reset_at(exc)
                self._blocked_until = reset_at
                wait = _wait_phrase(reset_at, self._clock)
                raise NetworkRateLimited(
                    f"Bluesky is rate-limiting us; try again {wait}.", reset_at=reset_at
                ) from exc
            except (NetworkError, InvokeTimeoutError) as exc:
                raise NetworkUnavailable(_UNREACHABLE) from exc
            except RequestException as exc:
                status = exc.response.status_code if exc.response is not None else 0
                raise NetworkUnavailable(
                    f"Bluesky is having trouble (error {status}); Carebot will try again shortly."
                ) from exc
            except AtProtocolError as exc:
                raise SourceError(f"Bluesky sent an answer Carebot could not read: {exc}") from exc
        raise AssertionError("unreachable")

    def _respect_budget(self) -> None:
        if self._blocked_until is None:
            return
        if ensure_utc(self._clock()) >= self._blocked_until:
            self._blocked_until = None
            return
        raise NetworkRateLimited(
            "Bluesky's rate limit for the brand account is spent; Carebot waits for its reset "
            f"({_wait_phrase(self._blocked_until, self._clock)}).",
            reset_at=self._blocked_until,
        )

    async def _read_rate_headers(self, response: httpx.Response) -> None:
        remaining = response.headers.get("ratelimit-remaining")
        reset = response.headers.get("ratelimit-reset")
        if response.status_code < 400 and remaining == "0" and reset and reset.isdigit():
            self._blocked_until = datetime.fromtimestamp(int(reset), tz=UTC)

    async def _load_session(self) -> str | None:
        if self._sessions is None:
            return None
        async with self._sessions() as s:
            return await intake.get_source_session(s, network=self._session_key)

    async def _session_changed(self, event: Any, session: Any) -> None:
        if self._sessions is None or event not in (SessionEvent.CREATE, SessionEvent.REFRESH):
            return
        async with self._sessions() as s, s.begin():
            await intake.save_source_session(
                s, network=self._session_key, data=session.export(), now=self._clock()
            )

    async def _forget_session(self) -> None:
        self._logged_in = False
        if self._sessions is None:
            return
        async with self._sessions() as s, s.begin():
            await intake.delete_source_session(s, network=self._session_key)


def _list_notifications(params: Any) -> Callable[[Any], Awaitable[Any]]:
    return lambda client: client.app.bsky.notification.list_notifications(params)


def _get_profiles(params: Any) -> Callable[[Any], Awaitable[Any]]:
    return lambda client: client.app.bsky.actor.get_profiles(params)


def _mention(item: Any, profiles: dict[str, Any]) -> Mention | None:
    external_id = compact_id(item.uri)
    record = item.record
    reply = getattr(record, "reply", None)
    root_uri = reply.root.uri if reply is not None else item.uri
    conversation_id = compact_id(root_uri)
    if len(external_id) > _ID_LIMIT or len(conversation_id) > _ID_LIMIT:
        log.warning(
            "bluesky: skipping %s, its id is longer than %d characters", item.uri, _ID_LIMIT
        )
        return None
    profile = profiles.get(item.author.did) or item.author
    indexed = _parse_time(item.indexed_at) or datetime.now(UTC)
    created = _parse_time(getattr(record, "created_at", None))
    # createdAt is the author's claim (it can lie or be in the future); indexedAt is Bluesky's.
    posted_at = min(created, indexed) if created is not None else indexed
    return Mention(
        network="bluesky",
        external_id=external_id,
        conversation_id=conversation_id,
        author=_author(profile),
        text=str(getattr(record, "text", "") or ""),
        url=post_url(item.author.handle, item.uri),
        posted_at=posted_at,
        in_reply_to_id=compact_id(reply.parent.uri) if reply is not None else None,
    )


def _author(profile: Any) -> Author:
    return Author(
        external_id=profile.did,
        handle=profile.handle,
        name=getattr(profile, "display_name", None) or profile.handle,
        followers=getattr(profile, "followers_count", None),
        verified=None,
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _iso(moment: datetime) -> str:
    moment = ensure_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _error_code(exc: Any) -> str:
    content = getattr(exc.response, "content", None)
    return str(getattr(content, "error", "") or "")


def _error_text(exc: Any) -> str:
    content = getattr(exc.response, "content", None)
    message = getattr(content, "message", None) or getattr(content, "error", None)
    return str(message or "no reason given").rstrip(".") + "."


def _reset_at(exc: Any) -> datetime | None:
    headers = getattr(exc.response, "headers", None) or {}
    reset = str(headers.get("ratelimit-reset", ""))
    return datetime.fromtimestamp(int(reset), tz=UTC) if reset.isdigit() else None


def _wait_phrase(reset_at: datetime | None, clock: Clock) -> str:
    if reset_at is None:
        return "in a few minutes"
    seconds = (reset_at - ensure_utc(clock())).total_seconds()
    if seconds <= 60:
        return "in a minute"
    return f"in {int(seconds // 60) + 1} min"
