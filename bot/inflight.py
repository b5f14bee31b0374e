"""Work that goes on after Slack has had its answer: a listener acks within milliseconds and then
claims, sends or posts in a task of its own. The tasks are kept here so that a shutdown waits for
them (a claim half-done when the engine is disposed would be lost) instead of abandoning them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# A burst of presses arrives over a few milliseconds; work waits this long after the last answer
# so far, in case more of the burst is still coming.
QUIET_SECONDS = 0.01


class InFlight:
    """The listener tasks still running after their request was answered, and the requests still
    waiting for their answer.

    Answers go first: a listener that has acked waits (`after_answers`) until no request has been
    waiting for its ack for QUIET_SECONDS, or at most `yield_seconds`, before it claims, sends or
    posts. Under a burst of presses the acks then do not queue behind the work of the presses
    before them (`python -m bench ack_latency` measures it; figures in the README).
    """

    def __init__(self, *, yield_seconds: float = 0.25) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self.yield_seconds = yield_seconds
        self._unanswered = 0
        self._all_answered = asyncio.Event()
        self._all_answered.set()

    def __len__(self) -> int:
        return len(self._tasks)

    def answering(self) -> Callable[[], None]:
        """Count one request as waiting for its answer; return the function that uncounts it."""
        self._unanswered += 1
        self._all_answered.clear()
        counted = True

        def answered() -> None:
            nonlocal counted
            if counted:
                counted = False
                self._unanswered -= 1
                if self._unanswered == 0:
                    self._all_answered.set()

        return answered

    async def after_answers(self) -> None:
        """Wait until no request is waiting for its answer, or at most `yield_seconds`."""
        if self._all_answered.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.yield_seconds):
                while True:
                    await self._all_answered.wait()
                    await asyncio.sleep(QUIET_SECONDS)
                    if self._all_answered.is_set():
                        return

    def start(self, work: Coroutine[Any, Any, object], *, name: str) -> asyncio.Task[object]:
        """Run `work` in its own task and keep it until it finishes."""
        task: asyncio.Task[object] = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, seconds: float) -> int:
        """Wait up to `seconds` for running tasks, cancel the rest; return how many it cancelled."""
        if not self._tasks:
            return 0
        _done, pending = await asyncio.wait(set(self._tasks), timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning("cancelled %d listener task(s) still running at shutdown", len(pending))
        return len(pending)
