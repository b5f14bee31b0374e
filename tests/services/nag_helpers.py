"""Shared by the SLA check tests (test_nags*.py): the policy they run under, a notifier that
records the nags or fails the way Slack can, a checker over it, and a case inserted straight
into the database at a chosen post time with or without its card."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.durations import BusinessHours
from bot.nags import SlaChecker
from bot.sla import ResponsePolicy, start_deadline
from storage.engine import SessionFactory
from storage.models import CardState, Case, CaseStatus, Priority
from tests.conftest import FakeClock

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHANNEL = "C0CARE"
POLICY = ResponsePolicy(
    normal=timedelta(minutes=60),
    urgent=timedelta(minutes=15),
    hours=BusinessHours(),
    zone=ZoneInfo("UTC"),
)


@dataclass
class Posted:
    text: str
    thread_ts: str | None
    broadcast: bool


@dataclass
class RecordingNotifier:
    """Stands in for DeliveryService.notify: records posts, or fails like Slack can."""

    posts: list[Posted] = field(default_factory=list)
    fail_with: Exception | None = None
    fail_after: int = 0

    async def notify(
        self, text: str, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> str:
        if self.fail_with is not None and len(self.posts) >= self.fail_after:
            raise self.fail_with
        # Yield like a real HTTP call, so racing checkers interleave.
        await asyncio.sleep(0)
        self.posts.append(Posted(text, thread_ts, broadcast))
        return f"1700000000.{len(self.posts):06d}"

    def thread(self, ts: str) -> list[Posted]:
        return [p for p in self.posts if p.thread_ts == ts]

    def channel(self) -> list[Posted]:
        return [p for p in self.posts if p.thread_ts is None]


def checker(
    sessions: SessionFactory, clock: FakeClock, notifier: RecordingNotifier, **kwargs: Any
) -> SlaChecker:
    return SlaChecker(sessions=sessions, clock=clock, policy=POLICY, notifier=notifier, **kwargs)


async def add_case(
    sessions: SessionFactory,
    n: int,
    *,
    posted_at: datetime = T0,
    urgent: bool = False,
    card: bool = True,
    **overrides: Any,
) -> Case:
    deadline = start_deadline(POLICY, start=posted_at, urgent=urgent)
    values: dict[str, Any] = {
        "network": "x",
        "external_id": f"tweet-{n}",
        "conversation_id": f"tweet-{n}",
        "author_id": f"author-{n}",
        "author_handle": f"customer{n}",
        "author_name": f"Customer {n}",
        "text": "@acme where is my parcel?",
        "url": f"https://x.com/customer{n}/status/tweet-{n}",
        "posted_at": posted_at,
        "ingested_at": posted_at,
        "last_customer_at": posted_at,
        "priority": Priority.URGENT if urgent else Priority.NORMAL,
        "status": CaseStatus.OPEN,
        "due_at": deadline.due_at,
        "next_nag_at": deadline.first_nag_at,
        "nag_step": 0,
        "card_version": 1,
        "card_state": CardState.POSTED if card else CardState.PENDING,
        "slack_channel": CHANNEL if card else None,
        "card_ts": f"1600000000.{n:06d}" if card else None,
    }
    values.update(overrides)
    case = Case(**values)
    async with sessions() as s, s.begin():
        s.add(case)
    return case


async def load(sessions: SessionFactory, case_id: int) -> Case:
    async with sessions() as s:
        case = await s.get(Case, case_id)
    assert case is not None
    return case
