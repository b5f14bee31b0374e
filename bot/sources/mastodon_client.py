"""Mastodon.py's blocking client, kept off the event loop: every call runs on a small pool of
threads of the source's own (`run_in_executor`, as `asyncio.to_thread` does, but closed with the
source), the `X-RateLimit-*` budget Mastodon.py tracks is honoured before each call (it is told to
raise on 429 rather than sleep), and every Mastodon.py error becomes a domain one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from bot.clock import Clock, ensure_utc
from bot.errors import (
    NetworkAuthError,
    NetworkRateLimited,
    NetworkUnavailable,
    ReplyRejected,
    SourceError,
)
from bot.sources.mastodon_text import epoch, error_reason

__all__ = ["MastodonCalls"]

_UNREACHABLE: Final = "Can't reach the Mastodon instance right now; Carebot will try again shortly."
T = TypeVar("T")


class MastodonCalls:
    """One Mastodon.py client and the threads its blocking calls run on."""

    def __init__(
        self, *, api_base_url: str, access_token: str, clock: Clock, timeout: float
    ) -> None:
        self._base_url = api_base_url
        self._token = access_token
        self._clock = clock
        self._timeout = timeout
        self._api: Any = None
        self._threads: ThreadPoolExecutor | None = None

    @property
    def api(self) -> Any:
        """Return the Mastodon.py client (for the stream, which runs its own reader thread)."""
        if self._api is None:
            raise RuntimeError("MastodonSource.start() was not called")
        return self._api

    def open(self) -> None:
        """Create the client and its threads (no traffic until the first call)."""
        if self._api is None:
            # Its own small pool, shut down on close: nothing of ours outlives the source.
            self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mastodon")
            self._api = Mastodon(
                access_token=self._token,
                api_base_url=self._base_url,
                request_timeout=self._timeout,
                ratelimit_method="throw",
                version_check_mode="none",
            )

    async def close(self) -> None:
        """Close the HTTP session and let the threads finish what they run."""
        if self._api is not None:
            api, self._api = self._api, None
            api.session.close()  # only closes idle pooled sockets; does not block
        if self._threads is not None:
            threads, self._threads = self._threads, None
            threads.shutdown(wait=False, cancel_futures=True)
            # Let a call in flight finish (its timeout bounds it) without blocking the loop.
            for thread in list(getattr(threads, "_threads", ())):
                while thread.is_alive():  # noqa: ASYNC110 (a thread has no awaitable end)
                    await asyncio.sleep(0.01)

    async def call(self, request: Callable[[Any], T], *, replying: bool = False) -> T:
        """Run `request(client)` in a thread, mapping every Mastodon.py error to a domain one."""
        if self._api is None:
            raise RuntimeError("MastodonSource.start() was not called")
        api = self._api
        self._respect_budget(api)
        try:
            return await self.in_thread(functools.partial(request, api))
        except MastodonRatelimitError as exc:
            reset_at = epoch(getattr(api, "ratelimit_reset", None))
            raise NetworkRateLimited(
                "Mastodon is rate-limiting us; Carebot will try again after the limit resets.",
                reset_at=reset_at,
            ) from exc
        except MastodonUnauthorizedError as exc:
            raise NetworkAuthError(
                "Mastodon rejected the access token (revoked, or for another instance); check "
                "MASTODON_ACCESS_TOKEN and MASTODON_API_BASE_URL."
            ) from exc
        except MastodonNotFoundError as exc:
            if replying:
                raise ReplyRejected("The Mastodon post is gone (deleted, or not visible).") from exc
            raise SourceError(f"Mastodon did not find it: {error_reason(exc)}") from exc
        except MastodonServerError as exc:
            raise NetworkUnavailable(
                "The Mastodon instance is having trouble; Carebot will try again shortly."
            ) from exc
        except MastodonNetworkError as exc:
            raise NetworkUnavailable(_UNREACHABLE) from exc
        except MastodonAPIError as exc:
            if replying:
                raise ReplyRejected(f"Mastodon refused the reply: {error_reason(exc)}") from exc
            raise SourceError(f"Mastodon did not accept the request: {error_reason(exc)}") from exc
        except MastodonError as exc:
            raise SourceError(f"Mastodon request failed: {exc}") from exc

    async def in_thread(self, call: Callable[[], T]) -> T:
        """Run a blocking call on the source's own threads, off the event loop."""
        if self._threads is None:
            raise RuntimeError("MastodonSource.start() was not called")
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    def _respect_budget(self, api: Any) -> None:
        remaining = getattr(api, "ratelimit_remaining", None)
        reset_at = epoch(getattr(api, "ratelimit_reset", None))
        spent = remaining is not None and remaining <= 0
        if spent and reset_at is not None and reset_at > ensure_utc(self._clock()):
            raise NetworkRateLimited(
                "Mastodon's rate limit for the brand account is spent; Carebot waits for its "
                "reset.",
                reset_at=reset_at,
            )
