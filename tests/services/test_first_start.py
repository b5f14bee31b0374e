"""First start: the backfill takes in the last day of mentions; those already past their response
target become cards marked overdue with one summary line in the channel, not a burst of breach
alerts. Later polls (with a saved cursor) nag as always. Real databases, an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.durations import BusinessHours
from bot.ingest import IngestService, PriorityRules
from bot.nags import SlaChecker
from bot.poller import Poller
from bot.sla import NagStep, ResponsePolicy
from bot.sources import Author, FetchResult, Mention, SentReply, SourceLimits
from storage.engine import SessionFactory
from storage.models import CardState, Case
from tests.conftest import FakeClock

POLICY = ResponsePolicy(
    normal=timedelta(minutes=60),
    urgent=timedelta(minutes=15),
    hours=BusinessHours(),
    zone=ZoneInfo("UTC"),
)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Notes:
    """Records what the poller and the SLA check post, as DeliveryService.notify would."""

    posts: list[tuple[str, str | None, bool]] = field(default_factory=list)

    async def notify(
        self, text: str, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> str:
        self.posts.append((text, thread_ts, broadcast))
        return f"1700000000.{len(self.posts):06d}"


@dataclass
class ScriptedSource:
    """A source whose next fetch returns the mentions a test queued; records the cursors asked."""

    network: str = "x"
    limits: SourceLimits = field(default_factory=lambda: SourceLimits(280, len))
    queued: list[Mention] = field(default_factory=list)
    asked: list[str | None] = field(default_factory=list)

    async def fetch_since(self, cursor: str | None, *, not_before: datetime) -> FetchResult:
        self.asked.append(cursor)
        mentions, self.queued = self.queued, []
        return FetchResult(mentions=mentions, cursor=mentions[-1].external_id if mentions else None)

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def whoami(self) -> Author:
        return Author(external_id="brand", handle="acme", name="Acme")

    async def reply(self, *, to_external_id: str, text: str) -> SentReply:
        raise AssertionError("the poller never replies")

    async def find_reply(
        self, *, to_external_id: str, text: str, not_before: datetime
    ) -> SentReply | None:
        raise AssertionError("the poller never looks for replies")


def mention(n: int, *, age: timedelta, text: str = "@acme where is my parcel?") -> Mention:
    return Mention(
        network="x",
        external_id=f"{1000 + n}",
        conversation_id=f"{1000 + n}",
        author=Author(external_id=f"a{n}", handle=f"customer{n}", name=f"Customer {n}"),
        text=text,
        url=f"https://x.com/customer{n}/status/{1000 + n}",
        posted_at=NOW - age,
    )


def build(
    sessions: SessionFactory, clock: FakeClock
) -> tuple[Poller, SlaChecker, ScriptedSource, Notes]:
    notes = Notes()
    source = ScriptedSource()
    ingest = IngestService(
        sessions=sessions,
        clock=clock,
        policy=POLICY,
        rules=PriorityRules(urgent_words=["outage"], urgent_followers=10_000),
    )
    poller = Poller(
        source=source,
        ingest=ingest,
        sessions=sessions,
        clock=clock,
        notify=notes.notify,
        backfill=timedelta(hours=24),
        interval=timedelta(seconds=60),
        holder="test",
    )
    sla = SlaChecker(sessions=sessions, clock=clock, policy=POLICY, notifier=notes)
    return poller, sla, source, notes


async def post_cards(sessions: SessionFactory) -> None:
    """Stand in for delivery: every pending card is posted."""
    async with sessions() as s, s.begin():
        for case in (await s.scalars(select(Case).where(Case.card_ts.is_(None)))).all():
            await s.execute(
                update(Case)
                .where(Case.id == case.id)
                .values(card_state=CardState.POSTED, slack_channel="C0CARE", card_ts=f"1.{case.id}")
            )


async def cases(sessions: SessionFactory) -> dict[str, Case]:
    async with sessions() as s:
        return {c.author_handle: c for c in (await s.scalars(select(Case))).all()}


async def test_backfilled_overdue_mentions_get_one_summary_line_not_a_burst_of_nags(
    sessions: SessionFactory,
) -> None:
    clock = FakeClock(NOW)
    poller, sla, source, notes = build(sessions, clock)
    source.queued = [
        *(mention(n, age=timedelta(hours=3 + n)) for n in range(8)),  # long overdue
        mention(8, age=timedelta(minutes=70)),  # breached 10 min ago; first reminder at 90 min
        mention(9, age=timedelta(minutes=5)),  # fresh: nagged as always
    ]
    await poller.run_once()
    await post_cards(sessions)
    assert source.asked == [None]  # the first poll: no saved cursor

    (summary,) = notes.posts
    assert summary[1] is None  # in the channel, not a thread
    assert "took in 10 mentions from the last 1d" in summary[0]
    assert "9 of them were already past the response target" in summary[0]

    result = await sla.run_once()
    assert (result.posted, result.breaches) == (0, 0)
    stored = await cases(sessions)
    for handle in [f"customer{n}" for n in range(9)]:
        assert stored[handle].breached_at is not None, handle
        assert stored[handle].nag_step >= NagStep.BREACH
    assert stored["customer0"].nag_step == NagStep.REMINDER_3
    assert stored["customer0"].next_nag_at is None
    assert stored["customer9"].breached_at is None
    assert stored["customer9"].nag_step == NagStep.NONE

    # Time goes on: the recent one gets its reminder, the fresh one its warning, nothing else.
    clock.advance(minutes=41)
    result = await sla.run_once()
    assert result.breaches == 0
    assert len(notes.posts) == 3, notes.posts
    assert any("reminder 1 of 3" in text for text, _, _ in notes.posts[1:]), notes.posts
    assert any(":hourglass_flowing_sand:" in text for text, _, _ in notes.posts[1:])


async def test_after_the_first_poll_overdue_mentions_are_nagged_as_always(
    sessions: SessionFactory,
) -> None:
    clock = FakeClock(NOW)
    poller, sla, source, notes = build(sessions, clock)
    source.queued = [mention(0, age=timedelta(minutes=1))]
    await poller.run_once()
    assert notes.posts == []  # nothing was overdue: no summary

    # The bot was down for two hours; the mention posted meanwhile is overdue, and it is news.
    clock.advance(hours=2)
    source.queued = [mention(1, age=timedelta(minutes=90))]
    await poller.run_once()
    await post_cards(sessions)
    assert source.asked == [None, "1000"]
    assert notes.posts == []
    result = await sla.run_once()
    assert result.breaches == 2
    assert all(":red_circle:" in text and broadcast for text, _, broadcast in notes.posts)
