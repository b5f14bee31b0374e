"""Response targets: when a case is due, counted in business hours when the team keeps them
(the calendar arithmetic itself is `bot.business_calendar`).

Also the nag ladder: a warning when 75% of the target has run, the breach at the deadline, then a
reminder every half target, three at most. Pure functions of their inputs (ARCHITECTURE rule 6):
the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from bot.business_calendar import add_business_time, subtract_business_time
from bot.durations import BusinessHours


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    """Targets by priority plus the calendar they are counted in."""

    normal: timedelta
    urgent: timedelta
    hours: BusinessHours
    zone: ZoneInfo
    holidays: frozenset[date] = frozenset()

    def target(self, *, urgent: bool) -> timedelta:
        """Return the response target for a priority."""
        return self.urgent if urgent else self.normal

    def due(self, start: datetime, *, urgent: bool) -> datetime:
        """Return when a response to a post made at `start` is due."""
        return add_business_time(
            start, self.target(urgent=urgent), self.hours, self.zone, self.holidays
        )


class NagStep(IntEnum):
    """The rungs of the nag ladder; a case's `nag_step` is the last rung posted (0: none yet)."""

    NONE = 0
    WARNING = 1
    BREACH = 2
    REMINDER_1 = 3
    REMINDER_2 = 4
    REMINDER_3 = 5

    @property
    def reminder(self) -> int:
        """Return which reminder this rung is (1-3), or 0 for the warning and the breach."""
        return max(0, self - NagStep.BREACH)


WARN_FRACTION = 0.75
REMINDER_FRACTION = 0.5
LAST_STEP = NagStep.REMINDER_3


@dataclass(frozen=True, slots=True)
class Deadline:
    """A response deadline and when its first nag is due."""

    due_at: datetime
    first_nag_at: datetime


@dataclass(frozen=True, slots=True)
class NagDecision:
    """What one SLA check does with a case: the rung to post now (if any) and the next check."""

    step: NagStep | None
    next_nag_at: datetime | None


@dataclass(frozen=True, slots=True)
class Ladder:
    """When each rung of the nag ladder is due, counted in the policy's business time."""

    policy: ResponsePolicy

    def at(self, step: NagStep, *, due_at: datetime, urgent: bool) -> datetime:
        """Return when `step` is due for a deadline `due_at`."""
        policy, target = self.policy, self.policy.target(urgent=urgent)
        due_at = due_at.astimezone(UTC)
        if step == NagStep.NONE:
            raise ValueError("NagStep.NONE is not a rung of the ladder")
        if step == NagStep.WARNING:
            # Measured back from the deadline: the row keeps the deadline, not when it started.
            return subtract_business_time(
                due_at, target * (1 - WARN_FRACTION), policy.hours, policy.zone, policy.holidays
            )
        if step == NagStep.BREACH:
            return due_at
        return add_business_time(
            due_at,
            target * REMINDER_FRACTION * step.reminder,
            policy.hours,
            policy.zone,
            policy.holidays,
        )

    def next_step(
        self, *, due_at: datetime, urgent: bool, posted: int, after: datetime | None = None
    ) -> tuple[NagStep, datetime] | None:
        """Return the first rung above `posted` (due later than `after`, if given) and its time."""
        for step in NagStep:
            if step <= posted:
                continue
            at = self.at(step, due_at=due_at, urgent=urgent)
            if after is None or at > after:
                return step, at
        return None

    def step_to_post(
        self, *, due_at: datetime, urgent: bool, posted: int, now: datetime
    ) -> NagStep | None:
        """Return the rung to post at `now`, or None when none is due.

        After downtime only the latest due rung is posted (no stale warning before a breach),
        but the breach itself is never skipped: it is the one the channel must see.
        """
        due = [
            step
            for step in NagStep
            if step > posted and self.at(step, due_at=due_at, urgent=urgent) <= now
        ]
        if not due:
            return None
        if posted < NagStep.BREACH <= due[-1]:
            return NagStep.BREACH
        return due[-1]

    def decide(
        self,
        *,
        due_at: datetime | None,
        urgent: bool,
        posted: int,
        now: datetime,
        awaiting_reply: bool,
    ) -> NagDecision:
        """Return what to post for a case at `now` and when to look at it again."""
        if not awaiting_reply or due_at is None:
            # Replied to or resolved: nothing is owed, so nothing is nagged or scheduled.
            return NagDecision(step=None, next_nag_at=None)
        step = self.step_to_post(due_at=due_at, urgent=urgent, posted=posted, now=now)
        following = self.next_step(
            due_at=due_at, urgent=urgent, posted=step if step is not None else posted, after=now
        )
        return NagDecision(step=step, next_nag_at=following[1] if following else None)


def schedule_first_nag(
    policy: ResponsePolicy, *, due_at: datetime | None, urgent: bool
) -> datetime | None:
    """Return when the first nag for a deadline `due_at` is due (None: no deadline, no nags)."""
    if due_at is None:
        return None
    return Ladder(policy).at(NagStep.WARNING, due_at=due_at, urgent=urgent)


def start_deadline(policy: ResponsePolicy, *, start: datetime, urgent: bool) -> Deadline:
    """Return the deadline for a customer post made at `start`, and when its first nag is due."""
    due_at = policy.due(start, urgent=urgent)
    return Deadline(
        due_at=due_at, first_nag_at=Ladder(policy).at(NagStep.WARNING, due_at=due_at, urgent=urgent)
    )
