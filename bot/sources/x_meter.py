"""`XMeter`: an aiohttp client middleware on the X session that counts every X call by kind (what
pay-per-use bills) and reads `x-rate-limit-limit/-remaining/-reset` on every answer, so Carebot
slows down before X's 429 instead of after it.

Reads spread themselves over what is left of a window once a tenth of it remains, and no call is
made when X said none remain; the refusal is a `NetworkRateLimited` carrying X's reset time.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import aiohttp
from aiohttp.client_middlewares import ClientHandlerType

from bot.clock import Clock, ensure_utc, utc_now
from bot.errors import NetworkRateLimited

__all__ = ["READ_KINDS", "RateWindow", "XMeter", "has_link", "month_of"]

READ_KINDS: Final = frozenset({"mentions", "lookup", "tweet", "me"})
# Below this share of a window left, reads are spaced evenly over the rest of it.
LOW_WATER: Final = 0.1
_MENTIONS: Final = re.compile(r"^/2/users/[^/]+/mentions$")
_LINK: Final = re.compile(r"https?://\S+|\b[\w-]+\.(?:com|net|org|io|co|ly|app|me|shop)\b/?\S*")


def month_of(moment: datetime) -> str:
    """Return the UTC month a moment is billed in, as `YYYY-MM`."""
    return ensure_utc(moment).strftime("%Y-%m")


def has_link(text: str) -> bool:
    """Tell whether a post carries a link (X bills those at a higher price)."""
    return _LINK.search(text) is not None


def _kind(method: str, path: str) -> str | None:
    if path == "/2/users/me":
        return "me"
    if _MENTIONS.match(path):
        return "mentions"
    if path == "/2/tweets":
        return "post" if method == "POST" else "lookup"
    if path.startswith("/2/tweets/"):
        return "tweet"
    return None


@dataclass(slots=True)
class RateWindow:
    """What X last said about one endpoint's window."""

    limit: int
    remaining: int
    reset: datetime
    last_call: datetime | None = None


class XMeter:
    """Counts X calls by kind and month, and paces calls against X's rate-limit headers."""

    def __init__(self, *, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], list[int]] = {}
        self.windows: dict[str, RateWindow] = {}

    # -- counting --------------------------------------------------------------------------------

    def record(self, kind: str, *, calls: int = 1, items: int = 0) -> None:
        """Count `calls` of `kind` (and the posts they read) in this month."""
        key = (month_of(self._clock()), kind)
        with self._lock:
            counts = self._pending.setdefault(key, [0, 0])
            counts[0] += calls
            counts[1] += items

    def drain(self) -> list[tuple[str, str, int, int]]:
        """Return and forget what was counted since the last drain: (month, kind, calls, items)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return [(month, kind, c[0], c[1]) for (month, kind), c in pending.items()]

    def restore(self, rows: list[tuple[str, str, int, int]]) -> None:
        """Put drained counts back (their write failed), so nothing counted is lost."""
        with self._lock:
            for month, kind, calls, items in rows:
                counts = self._pending.setdefault((month, kind), [0, 0])
                counts[0] += calls
                counts[1] += items

    def pending(self) -> list[tuple[str, str, int, int]]:
        """Return what is counted but not yet written, without forgetting it."""
        with self._lock:
            return [(m, k, c[0], c[1]) for (m, k), c in self._pending.items()]

    # -- pacing ----------------------------------------------------------------------------------

    def check_headroom(self, kind: str) -> None:
        """Raise NetworkRateLimited if calling `kind` now would spend X's window too fast."""
        window = self.windows.get(kind)
        if window is None:
            return
        now = ensure_utc(self._clock())
        if now >= window.reset:
            return
        if window.remaining <= 0:
            raise NetworkRateLimited(
                f"Carebot is pacing itself: X allows no more of these calls until "
                f"{window.reset:%H:%M} UTC.",
                reset_at=window.reset,
            )
        if kind in READ_KINDS and window.remaining <= max(1, int(window.limit * LOW_WATER)):
            gap = (window.reset - now) / (window.remaining + 1)
            if window.last_call is not None and now < window.last_call + gap:
                raise NetworkRateLimited(
                    f"Carebot is pacing itself: {window.remaining} of X's {window.limit} calls "
                    "are left in this window, so they are spread out.",
                    reset_at=window.last_call + gap,
                )

    def _observe(self, kind: str, response: aiohttp.ClientResponse) -> None:
        headers = response.headers
        try:
            limit = int(headers["x-rate-limit-limit"])
            remaining = int(headers["x-rate-limit-remaining"])
            reset = datetime.fromtimestamp(int(headers["x-rate-limit-reset"]), tz=UTC)
        except (KeyError, ValueError, OverflowError):
            return
        self.windows[kind] = RateWindow(limit, remaining, reset, ensure_utc(self._clock()))

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        """Pace the call, make it, then read its rate-limit headers and count what it read."""
        kind = _kind(request.method, request.url.path)
        if kind is not None:
            self.check_headroom(kind)
        response = await handler(request)
        if kind is None:
            return response
        self._observe(kind, response)
        if kind in READ_KINDS and response.status < 400:
            # read() keeps the body, so tweepy's own json() afterwards reads the same bytes.
            self.record(kind, items=_items(await response.read()))
        return response


def _items(body: bytes) -> int:
    try:
        payload = json.loads(body)
    except ValueError:
        return 0
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, list):
        return len(data)
    return 1 if isinstance(data, dict) else 0
