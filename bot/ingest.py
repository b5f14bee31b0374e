"""Ingest: store new mentions as cases (or as follow-ups of an open case) and advance the source's
cursor in the same transaction, so a re-poll, a restart or an overlapping page never makes a second
case (ARCHITECTURE rule 3). Posting cards is a separate step driven by what is stored here."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.sla import Ladder, NagStep, ResponsePolicy, start_deadline
from bot.sources import Mention
from bot.sources.base import Rejected
from storage import intake, sql
from storage.engine import SessionFactory
from storage.models import CardState, Case, CaseStatus, Priority

log = logging.getLogger(__name__)

# What a database may refuse about one post (a value out of range, an encoding it cannot take).
STORE_ERRORS = (SQLAlchemyError, UnicodeError, ValueError, OverflowError)


def clean_text(value: str) -> str:
    """Return `value` as any database can store it: lone surrogates (from JSON escapes such as
    "\\ud83d" without its pair) and NUL characters become U+FFFD; proper pairs are joined."""
    if value.isascii() and "\x00" not in value:
        return value
    joined = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return joined.replace("\x00", "\ufffd")


def clean_mention(mention: Mention) -> Mention:
    """Return `mention` with every text field made storable (see `clean_text`)."""
    author = mention.author
    return dataclasses.replace(
        mention,
        external_id=clean_text(mention.external_id),
        conversation_id=clean_text(mention.conversation_id),
        text=clean_text(mention.text),
        url=clean_text(mention.url),
        author=dataclasses.replace(
            author,
            external_id=clean_text(author.external_id),
            handle=clean_text(author.handle),
            name=clean_text(author.name),
        ),
    )


class PriorityRules:
    """What makes a mention urgent: certain words, or an author with a large audience."""

    def __init__(self, *, urgent_words: Sequence[str], urgent_followers: int) -> None:
        words = [re.escape(w.strip()) for w in urgent_words if w.strip()]
        # Whole words only: "cancel" must not fire on "cancellation-free" marketing, "down" not
        # on "download"; an empty list matches nothing.
        self._pattern = re.compile(r"\b(?:" + "|".join(words) + r")\b" if words else r"$^", re.I)
        self._followers = urgent_followers

    def classify(self, mention: Mention) -> Priority:
        """Return the priority of a mention."""
        followers = mention.author.followers or 0
        if (self._followers > 0 and followers >= self._followers) or self._pattern.search(
            mention.text
        ):
            return Priority.URGENT
        return Priority.NORMAL


ConversationKey = tuple[str, str]  # (conversation id, author id)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest call stored."""

    new_cases: int
    follow_ups: int
    duplicates: int
    # New cases that were already past their response target when they arrived (first start).
    overdue: int = 0
    rejected: tuple[Rejected, ...] = ()  # posts the database would not take (quarantined)

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            new_cases=self.new_cases + other.new_cases,
            follow_ups=self.follow_ups + other.follow_ups,
            duplicates=self.duplicates + other.duplicates,
            overdue=self.overdue + other.overdue,
            rejected=self.rejected + other.rejected,
        )


class IngestService:
    """Turns mentions from a source into cases and follow-ups."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        policy: ResponsePolicy,
        rules: PriorityRules,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy
        self._rules = rules

    async def ingest(
        self,
        *,
        source_key: str,
        mentions: Sequence[Mention],
        cursor: str | None,
        backfill: bool = False,
    ) -> IngestResult:
        """Store `mentions` (oldest first) and save `cursor`, all in one transaction.

        `backfill` (the first poll, with no saved cursor): a mention already past its response
        target is stored as breached with its nags counted as said, so a day of history becomes
        cards marked *Overdue* rather than a burst of breach alerts (the poller posts one line).

        If the database refuses the batch, each mention is stored on its own and the ones it
        still refuses are quarantined (returned in `rejected`); the cursor moves past them."""
        mentions = [clean_mention(m) for m in mentions]
        try:
            return await self._ingest_batch(
                source_key=source_key, mentions=mentions, cursor=cursor, backfill=backfill
            )
        except STORE_ERRORS as exc:
            log.warning("%s: a batch of %d would not store (%s)", source_key, len(mentions), exc)
        totals = IngestResult(new_cases=0, follow_ups=0, duplicates=0)
        for mention in mentions:
            try:
                totals = totals + await self._ingest_batch(
                    source_key=source_key, mentions=[mention], cursor=None, backfill=backfill
                )
            except STORE_ERRORS as exc:
                reason = f"the database refused it: {type(exc).__name__}: {str(exc)[:200]}"
                rejected = (Rejected(mention.external_id, reason),)
                totals = totals + IngestResult(0, 0, 0, rejected=rejected)
        totals = totals + await self._ingest_batch(
            source_key=source_key, mentions=[], cursor=cursor
        )
        return totals

    async def _ingest_batch(
        self,
        *,
        source_key: str,
        mentions: Sequence[Mention],
        cursor: str | None,
        backfill: bool = False,
    ) -> IngestResult:
        now = self._clock()
        totals = IngestResult(new_cases=0, follow_ups=0, duplicates=0)
        async with self._sessions() as s, s.begin():
            by_network: dict[str, list[Mention]] = {}
            for mention in mentions:
                by_network.setdefault(mention.network, []).append(mention)
            for network, batch in by_network.items():
                totals = totals + await self._ingest_network(
                    s, network, batch, now=now, backfill=backfill
                )
            await intake.save_cursor(s, source=source_key, cursor=cursor, now=now)
        return totals

    async def _ingest_network(
        self,
        s: AsyncSession,
        network: str,
        batch: list[Mention],
        *,
        now: datetime,
        backfill: bool = False,
    ) -> IngestResult:
        known = await intake.known_message_ids(
            s, network=network, external_ids=[m.external_id for m in batch]
        )
        open_cases = await intake.open_cases_for_conversations(
            s, network=network, conversation_ids=[m.conversation_id for m in batch]
        )
        # New cases are inserted in bulk (a backlog can be thousands of mentions); a mention may
        # follow up a case already stored, or one created earlier in this same batch.
        new_rows: dict[ConversationKey, dict[str, Any]] = {}
        messages: list[tuple[ConversationKey | int, Mention, bool]] = []
        duplicates = follow_ups = 0
        for mention in batch:
            if mention.external_id in known:
                duplicates += 1
                continue
            known.add(mention.external_id)
            key = (mention.conversation_id, mention.author.external_id)
            stored = open_cases.get(key)
            if stored is not None:
                self._add_follow_up(stored, mention, now=now)
                messages.append((stored.id, mention, True))
                follow_ups += 1
            elif key in new_rows:
                self._add_follow_up_to_new(new_rows[key], mention)
                messages.append((key, mention, True))
                follow_ups += 1
            else:
                new_rows[key] = self._new_case_row(mention, now=now)
                messages.append((key, mention, False))
        overdue = (
            sum(self._settle_overdue(row, now=now) for row in new_rows.values()) if backfill else 0
        )
        ids = await intake.insert_cases(s, rows=list(new_rows.values()))
        await intake.insert_messages(
            s,
            rows=[
                self._message_row(
                    target if isinstance(target, int) else ids[target], mention, follow_up=up
                )
                for target, mention, up in messages
            ],
        )
        return IngestResult(
            new_cases=len(new_rows), follow_ups=follow_ups, duplicates=duplicates, overdue=overdue
        )

    def _settle_overdue(self, row: dict[str, Any], *, now: datetime) -> bool:
        """Mark a new case already past its deadline as breached, its due nags as said."""
        if row["due_at"] > now:
            return False
        ladder = Ladder(self._policy)
        urgent = row["priority"] == Priority.URGENT
        said = max(
            step
            for step in NagStep
            if step > NagStep.NONE and ladder.at(step, due_at=row["due_at"], urgent=urgent) <= now
        )
        following = ladder.next_step(due_at=row["due_at"], urgent=urgent, posted=said, after=now)
        row["nag_step"] = int(said)
        row["next_nag_at"] = following[1] if following else None
        row["breached_at"] = now
        return True

    def _new_case_row(self, mention: Mention, *, now: datetime) -> dict[str, Any]:
        priority = self._rules.classify(mention)
        author = mention.author
        deadline = start_deadline(
            self._policy, start=mention.posted_at, urgent=priority == Priority.URGENT
        )
        return dict(
            network=mention.network,
            external_id=mention.external_id,
            conversation_id=mention.conversation_id,
            author_id=author.external_id,
            author_handle=author.handle,
            author_name=author.name,
            author_followers=author.followers,
            author_verified=author.verified,
            text=mention.text,
            url=mention.url,
            posted_at=mention.posted_at,
            ingested_at=now,
            last_customer_at=mention.posted_at,
            priority=priority,
            status=CaseStatus.OPEN,
            message_count=1,
            due_at=deadline.due_at,
            card_state=CardState.PENDING,
            card_version=1,
            nag_step=0,
            next_nag_at=deadline.first_nag_at,
            breached_at=None,
        )

    def _add_follow_up_to_new(self, row: dict[str, Any], mention: Mention) -> None:
        row["message_count"] += 1
        row["last_customer_at"] = max(row["last_customer_at"], mention.posted_at)
        if row["priority"] != Priority.URGENT and self._rules.classify(mention) == Priority.URGENT:
            row["priority"] = Priority.URGENT
            deadline = start_deadline(self._policy, start=row["posted_at"], urgent=True)
            row["due_at"], row["next_nag_at"] = deadline.due_at, deadline.first_nag_at

    def _add_follow_up(self, case: Case, mention: Mention, *, now: datetime) -> None:
        case.message_count += 1
        case.last_customer_at = max(case.last_customer_at, mention.posted_at)
        if self._rules.classify(mention) == Priority.URGENT:
            case.priority = Priority.URGENT
        if case.status == CaseStatus.REPLIED:
            # The customer spoke again: a next-response deadline starts from their new post.
            case.status = CaseStatus.OPEN
            deadline = start_deadline(
                self._policy, start=mention.posted_at, urgent=case.priority == Priority.URGENT
            )
            case.due_at = deadline.due_at
            case.nag_step = 0
            case.next_nag_at = deadline.first_nag_at
            case.breached_at = None
            case.state_version += 1
        sql.mark_card_dirty(case, now=now)

    @staticmethod
    def _message_row(case_id: int, mention: Mention, *, follow_up: bool) -> dict[str, Any]:
        return dict(
            case_id=case_id,
            network=mention.network,
            external_id=mention.external_id,
            author_id=mention.author.external_id,
            text=mention.text,
            url=mention.url,
            posted_at=mention.posted_at,
            is_follow_up=follow_up,
            thread_posted=not follow_up,
            summons=mention.summons,
        )
