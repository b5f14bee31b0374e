"""Leases: how one process at a time polls a source or delivers to a channel, across replicas.

A lease is a row with a holder and an expiry, compared with the database's clock (replicas'
clocks may disagree; the database's is the one they share). A holder is `host:pid:random`, so a
process restarted after a crash recognises its dead predecessor's lease — same host, and that pid
is no longer running (or is its own pid, from an earlier life of a restarted container) — and
takes it over at once instead of waiting for it to lapse. A lease held on another host lapses
after its short TTL, which the holder renews by heartbeat while it lives.

`Lease` is how a replica-safe job holds its lease (delivery to a channel, polling a network), and
`Backoff` how such a job waits after a failure before it runs again.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import timedelta

from storage import claims
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

HOST = socket.gethostname()[:30]
# Holders alive in this very process (tests and the demo run several runtimes in one process).
_LIVE: set[str] = set()


class LeaseLost(Exception):
    """Another process now delivers to this channel; this one must stop posting."""


def process_id() -> str:
    """Return a new holder id for this process, unique across replicas, for leases."""
    holder = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    _LIVE.add(holder)
    return holder


def retire(holder: str) -> None:
    """Forget `holder` (its runtime stopped), so its leases count as abandoned."""
    _LIVE.discard(holder)


def holder_is_dead(holder: str, *, me: str) -> bool:
    """Tell whether `holder` is a process on this host that is no longer running."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if holder == me or host != HOST or not pid_text.isdigit():
        return False  # ours, another host's (its lease lapses by TTL), or not our format
    pid = int(pid_text)
    if pid == os.getpid():
        return holder not in _LIVE  # an earlier life of this pid, or a runtime that stopped
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # running, as another user
    return False


async def acquire(sessions: SessionFactory, *, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease `name` for `holder`, taking over a dead holder's at once."""
    async with sessions() as s, s.begin():
        now = await claims.database_now(s)
        if await claims.acquire_lease(s, name=name, holder=holder, now=now, ttl=ttl):
            return True
        current = await claims.lease_holder(s, name=name)
        if current is None or not holder_is_dead(current, me=holder):
            return False
        taken = await claims.take_over_lease(
            s, name=name, previous=current, holder=holder, now=now, ttl=ttl
        )
    if taken:
        log.info("took over lease %s from %s, a process that is no longer running", name, current)
    return taken


async def renew(sessions: SessionFactory, *, name: str, holder: str, ttl: timedelta) -> bool:
    """Extend the lease `name` if `holder` still has it (the heartbeat); never take it."""
    async with sessions() as s, s.begin():
        now = await claims.database_now(s)
        return await claims.renew_lease(s, name=name, holder=holder, now=now, ttl=ttl)


class Lease:
    """The lease `name` as `holder` holds it, with when it lapses on this process's clock."""

    def __init__(self, sessions: SessionFactory, *, name: str, holder: str, ttl: timedelta) -> None:
        self._sessions = sessions
        self.name = name
        self._holder = holder
        self._ttl = ttl
        self._until = 0.0

    async def acquire(self) -> bool:
        """Take or renew the lease; return whether this process holds it now."""
        # The expiry counts from before the call: the database may have granted it any time since.
        started = time.monotonic()
        held = await acquire(self._sessions, name=self.name, holder=self._holder, ttl=self._ttl)
        self._until = started + self._ttl.total_seconds() if held else 0.0
        return held

    async def renew(self) -> bool:
        """Extend the lease if this process still holds it (the heartbeat); never take it."""
        return await renew(self._sessions, name=self.name, holder=self._holder, ttl=self._ttl)

    async def hold_for(self, margin: timedelta) -> bool:
        """Make sure the lease outlasts `margin` from now, renewing it if need be; tell whether
        it does (False: another process has it)."""
        if time.monotonic() + margin.total_seconds() < self._until:
            return True
        return await self.acquire()

    async def release(self) -> None:
        """Give the lease up (on shutdown), so another replica can take over at once."""
        async with self._sessions() as s, s.begin():
            await claims.release_lease(s, name=self.name, holder=self._holder)


class Backoff:
    """When a job may run again: a wait set by a failure, doubling while failures repeat."""

    def __init__(self, *, maximum: float) -> None:
        self._maximum = maximum
        self._delay = 0.0
        self._not_before = 0.0

    @property
    def delay(self) -> float:
        """Return the current doubling delay in seconds (0 after a success)."""
        return self._delay

    def ready(self) -> bool:
        """Tell whether the job may run now."""
        return time.monotonic() >= self._not_before

    def wait(self, seconds: float) -> None:
        """Hold the job off for `seconds` (a rate limit's own wait, or a fixed pause)."""
        self._not_before = time.monotonic() + seconds

    def failed(self, *, at_least: float) -> float:
        """Double the delay (at least `at_least`, at most the maximum), wait it, and return it."""
        self._delay = min(self._maximum, max(at_least, self._delay * 2))
        self.wait(self._delay)
        return self._delay

    def succeeded(self) -> None:
        """Start doubling from scratch at the next failure."""
        self._delay = 0.0
