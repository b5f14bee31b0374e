"""The scheduler component: one AsyncIOScheduler in UTC; every job has an explicit id, coalesces
missed runs, never overlaps itself, and logs its own errors. `stop()` waits for runs in flight."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import utc_now

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class Scheduler:
    """Periodic jobs for one process; replica safety is each job's own business (DB leases)."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[object]] = set()

    def every(self, job_id: str, interval: timedelta, job: Job, *, run_now: bool = True) -> None:
        """Run `job` every `interval` (and at once when `run_now`) under the id `job_id`."""

        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A job's failure must not kill the schedule; the next run retries.
                log.exception("job %s failed", job_id)
            finally:
                self._running.discard(task)

        # APScheduler reads next_run_time=None as "paused", so the key is only given to run now.
        first_run = {"next_run_time": utc_now()} if run_now else {}
        self._scheduler.add_job(
            run,
            "interval",
            seconds=interval.total_seconds(),
            id=job_id,
            name=job_id,  # APScheduler's own log lines then say which job they mean
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            replace_existing=True,
            **first_run,
        )

    def wake(self, job_id: str) -> None:
        """Run `job_id` as soon as possible instead of at its next tick."""
        job = self._scheduler.get_job(job_id)
        if job is not None:
            job.modify(next_run_time=utc_now())

    def job_ids(self) -> list[str]:
        """Return the ids of the registered jobs."""
        return [job.id for job in self._scheduler.get_jobs()]

    def start(self) -> None:
        """Start running jobs on the current event loop."""
        self._scheduler.start()

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop scheduling and give runs in flight `grace_seconds` to finish, then cancel them."""
        # APScheduler's asyncio executor cancels runs in flight on shutdown, so pause first, let
        # them finish, and only then shut down.
        if self._scheduler.running:
            self._scheduler.pause()
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace_seconds)
            for task in pending:
                task.cancel()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
