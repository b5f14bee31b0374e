"""Content compliance: stored posts follow their network (X's developer terms ask for deletes,
edits, protected accounts and withholdings to be honoured within 24 hours), customers' text is
purged after the retention period, and a person's content is erased on request.

One job run per `CAREBOT_COMPLIANCE_INTERVAL`, held by one replica at a time through a database
lease. It checks every post of a case within retention that was not checked for an interval
(X: `GET /2/tweets?ids=`, 100 a call), purges the text of posts that are gone and takes edits;
the card and its thread echoes are then redrawn from the rows by delivery. Cases and figures stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.errors import SourceError
from bot.sources.checks import CheckingSource, PostStatus
from storage import claims, events
from storage import compliance as store
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

LEASE = "compliance"
LOOKUP_BATCH = 100
# At most this many posts are checked per run, so one run stays short; the rest follow next run.
MAX_PER_RUN = 5_000
PURGE_BATCH = 500


@dataclass(slots=True)
class ComplianceResult:
    """What one run did."""

    checked: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    edited: int = 0
    expired: int = 0
    held_elsewhere: bool = False

    @property
    def changed(self) -> bool:
        """Whether any card or thread line must be redrawn."""
        return bool(self.removed or self.edited or self.expired)


class ComplianceService:
    """Keeps stored posts in step with their networks and within retention."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        sources: Sequence[CheckingSource],
        interval: timedelta,
        retention: timedelta,
        holder: str,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sources = list(sources)
        self._interval = interval
        self._retention = retention
        self._holder = holder
        self._on_change = on_change

    async def run_once(self) -> ComplianceResult:
        """Purge what is past retention, then check the posts that are due; return the tally."""
        result = ComplianceResult()
        now = self._clock()
        async with self._sessions() as s, s.begin():
            held = await claims.acquire_lease(
                s, name=LEASE, holder=self._holder, now=now, ttl=max(self._interval, _MIN_LEASE)
            )
        if not held:
            result.held_elsewhere = True
            return result
        try:
            result.expired = await self.purge_expired(now)
            for source in self._sources:
                await self._check(source, now, result)
        finally:
            async with self._sessions() as s, s.begin():
                await claims.release_lease(s, name=LEASE, holder=self._holder)
        if result.changed:
            log.info(
                "compliance: %d checked, removed %s, %d edited, %d past retention",
                result.checked,
                result.removed or "none",
                result.edited,
                result.expired,
            )
            if self._on_change is not None:
                self._on_change()
        return result

    async def purge_expired(self, now: datetime) -> int:
        """Erase customers' text posted before the retention period; return posts purged."""
        cutoff = now - self._retention
        purged = 0
        while True:
            async with self._sessions() as s, s.begin():
                ids = await store.expired_posts(s, posted_before=cutoff, limit=PURGE_BATCH)
                if ids:
                    await store.purge_posts(s, message_ids=ids, reason="retention", now=now)
                await store.expired_cases(s, posted_before=cutoff, now=now)
            purged += len(ids)
            if len(ids) < PURGE_BATCH:
                return purged

    async def _check(self, source: CheckingSource, now: datetime, result: ComplianceResult) -> None:
        cutoff = now - self._retention
        # A post checked less than an interval ago waits; a slightly early run still takes it.
        checked_before = now - self._interval * 0.9
        while result.checked < MAX_PER_RUN:
            async with self._sessions() as s:
                due = await store.due_checks(
                    s,
                    network=source.network,
                    posted_after=cutoff,
                    checked_before=checked_before,
                    limit=LOOKUP_BATCH,
                )
            if not due:
                return
            try:
                checks = await source.check_posts([d.external_id for d in due])
            except SourceError as exc:
                # The next run picks up where this one stopped; nothing was changed for these.
                log.warning("compliance: %s check stopped: %s", source.network, exc.user_message)
                return
            by_id = {c.external_id: c for c in checks}
            async with self._sessions() as s, s.begin():
                for post in due:
                    check = by_id.get(post.external_id)
                    if check is None or (check.text is None and not check.status.gone):
                        continue
                    if check.status.gone:
                        cases = await store.purge_posts(
                            s, message_ids=[post.message_id], reason=check.status.value, now=now
                        )
                        for case_id in cases:
                            events.add_event(
                                s,
                                case_id=case_id,
                                actor="carebot",
                                kind="content_removed",
                                at=now,
                                detail={"reason": check.status.value, "post": post.external_id},
                            )
                        result.removed[check.status.value] = (
                            result.removed.get(check.status.value, 0) + 1
                        )
                    elif check.text is not None:
                        changed = await store.take_edit(
                            s,
                            message_id=post.message_id,
                            text=check.text,
                            now=now,
                            edited=check.status == PostStatus.EDITED,
                        )
                        if changed is not None:
                            result.edited += 1
                await store.mark_checked(s, message_ids=[d.message_id for d in due], now=now)
            result.checked += len(due)

    async def forget(self, handle: str) -> store.Forgotten:
        """Erase a person's posts, name and handle from every case they opened."""
        now = self._clock()
        async with self._sessions() as s, s.begin():
            forgotten = await store.forget_author(s, handle=handle, now=now)
            for case_id in forgotten.case_ids:
                events.add_event(
                    s,
                    case_id=case_id,
                    actor="carebot",
                    kind="content_removed",
                    at=now,
                    detail={"reason": "forgotten"},
                )
        if forgotten.cases and self._on_change is not None:
            self._on_change()
        return forgotten


_MIN_LEASE = timedelta(minutes=5)


def describe_forgotten(forgotten: store.Forgotten) -> str:
    """Say in words what `carebot forget` removed."""
    if not forgotten.cases:
        return f"Nothing stored for @{forgotten.handle}; nothing was removed."
    cases = f"{forgotten.cases} case{'s' if forgotten.cases != 1 else ''}"
    posts = f"{forgotten.posts} post{'s' if forgotten.posts != 1 else ''}"
    return (
        f"Erased @{forgotten.handle}: the text of {posts}, their name, handle and post links, "
        f"from {cases} (ids {', '.join(map(str, forgotten.case_ids))}). The cases stay in the "
        "figures; their Slack cards and thread lines are redrawn without the content the next "
        "time Carebot runs."
    )
