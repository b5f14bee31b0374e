"""Leases: how one process at a time polls a source or delivers to a channel, across replicas.

A lease is a row with a holder and an expiry, compared with the database's clock (replicas'
clocks may disagree; the database's is the one they share). A holder is `host:pid:random`, so a
process restarted after a crash recognises its dead predecessor's lease — same host, and that pid
is no longer running (or is its own pid, from an earlier life of a restarted container) — and
takes it over at once instead of waiting for it to lapse. A lease held on another host lapses
after its short TTL, which the holder renews by heartbeat while it lives.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from storage import claims
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

HOST = socket.gethostname()[:30]
# Holders alive in this very process (tests and the demo run several runtimes in one process).
_LIVE: set[str] = set()


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
