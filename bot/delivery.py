"""Delivery: everything Carebot posts to Slack on its own — new cards, card updates, follow-ups in
threads and channel alerts — driven by database state, paced per channel, and safe to crash in.

A card is marked `posting` before `chat.postMessage` and `posted` after; a case found `posting` on
the next run may already be in the channel, so its card is looked up by message metadata in the
channel's history before it is posted again (ARCHITECTURE rule 3; `bot.card_recovery`). One
process delivers to a channel at a time (a DB lease, `bot.leases.Lease`), so replicas never post
the same card or pace against each other. Posting a batch of new cards is `bot.card_batch`; what
delivery knows of its health is `bot.delivery_health`; every Slack call goes through
`bot.slack_api`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.card import render_card
from bot.blocks.compliance import thread_line
from bot.card_batch import post_batch
from bot.card_recovery import CardRecovery
from bot.clock import Clock
from bot.delivery_health import DeliveryStats, InstallWatch, SlackHealth
from bot.domain import Case as CaseValue
from bot.domain.networks import network_label
from bot.leases import Backoff, Lease, LeaseLost, process_id
from bot.pacing import ChannelPacer
from bot.slack_api import (
    SlackDeliveryError,
    SlackInstallBroken,
    SlackMessageRefused,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
    post_message,
    update_message,
)
from storage import cards, events, followups
from storage import compliance as compliance_repo
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import Case, CaseMessage

log = logging.getLogger(__name__)

BATCH = 100
# New cards are posted this many at a time (per post in flight) between passes over thread
# lines, follow-ups and redraws, so a backlog of new cards (1/s when paced) never starves
# changes to posted ones: they wait ~20 s at most behind it.
PENDING_SLICE = 20
# A crashed holder's lease must lapse soon (its replacement waits that long), but it must outlast
# one Slack call: a post starts only with more than LEASE_MARGIN left, longer than the client's
# 15 s timeout, so no post can still land after another replica has taken the channel over.
LEASE_TTL = timedelta(seconds=20)
LEASE_MARGIN = timedelta(seconds=16)
# Cards should follow soon after Slack recovers; one call per 10 s is no load on a sick Slack.
MAX_BACKOFF = 10.0


__all__ = ["DeliveryService", "LeaseLost", "process_id"]


class DeliveryService:
    """Posts and updates cards in one channel, and echoes follow-ups in their threads."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        slack: AsyncWebClient,
        channel: str,
        clock: Clock,
        pacer: ChannelPacer | None = None,
        concurrency: int = 1,
        holder: str | None = None,
        alert_to: Sequence[str] = (),
    ) -> None:
        self._sessions = sessions
        self._slack = slack
        self._channel = channel
        self._clock = clock
        self._pacer = pacer or ChannelPacer()
        # One at a time keeps cards in the order cases arrived; benchmarks raise it.
        self._concurrency = max(1, concurrency)
        self._lease = Lease(
            sessions, name=f"delivery:{channel}", holder=holder or process_id(), ttl=LEASE_TTL
        )
        self._backoff = Backoff(maximum=MAX_BACKOFF)
        self.stats = DeliveryStats()
        self._watch = InstallWatch(slack=slack, channel=channel, alert_to=alert_to)
        self._recovery = CardRecovery(
            sessions=sessions,
            slack=slack,
            channel=channel,
            clock=clock,
            stats=self.stats,
            watch=self._watch,
            blocked_for=MAX_BACKOFF,
        )

    @property
    def channel(self) -> str:
        """Return the channel cards go to."""
        return self._channel

    def health(self) -> SlackHealth:
        """Return whether Slack takes what delivery sends, and why not (for /healthz)."""
        return self._watch.health()

    async def run_once(self) -> None:
        """Deliver everything that is due: new cards, then thread posts, then card updates."""
        if not self._backoff.ready():
            return
        try:
            if not await self._lease.acquire():
                return
            more = True
            while more:
                # Posting several at once (benchmarks) posts a slice as fast: scale it.
                more = await self.post_pending_cards(limit=PENDING_SLICE * self._concurrency)
                await self.post_card_lines()
                await self.post_follow_ups()
                await self.redraw_thread_lines()
                await self.sync_cards()
            self._backoff.succeeded()
        except SlackRateLimited as exc:
            self.stats.rate_limited += 1
            self._backoff.wait(exc.retry_after)
            log.warning("Slack is rate-limiting delivery; retrying in %.0fs", exc.retry_after)
        except SlackUnavailable as exc:
            delay = self._backoff.failed(at_least=1.0)
            self.stats.failures += 1
            log.warning("Slack unavailable (%s); retrying in %.0fs", exc, delay)
        except SlackInstallBroken as exc:
            # Nothing will work until a person fixes it; try again every MAX_BACKOFF seconds.
            self._backoff.wait(MAX_BACKOFF)
            self.stats.errors.append(exc.error)
            await self.install_broken("post", exc)
        except SlackRejected as exc:
            self._backoff.wait(MAX_BACKOFF)
            self.stats.errors.append(str(exc))
            log.error("Slack refused delivery to %s: %s", self._channel, exc)
        except LeaseLost:
            log.info("another process now delivers to %s", self._channel)

    async def post_pending_cards(self, *, limit: int | None = None) -> bool:
        """Post cards for cases that have none, urgent first, then oldest first; with `limit`,
        stop after that many and return whether more are waiting."""
        # Cards in doubt first: a case left `posting` may already be in the channel, and however
        # many urgent cases arrived since, it must be looked up before anything else is posted.
        await self._recovery.recover()
        posted = 0
        while limit is None or posted < limit:
            size = BATCH if limit is None else min(BATCH, limit - posted)
            async with self._sessions() as s, s.begin():
                batch = list(await cards.cases_needing_cards(s, limit=size))
                if not batch:
                    return False
                await cards.mark_cards_posting(
                    s, case_ids=[c.id for c in batch], channel=self._channel, now=self._clock()
                )
            await post_batch(
                batch,
                post=self._post,
                sessions=self._sessions,
                channel=self._channel,
                clock=self._clock,
                stats=self.stats,
                concurrency=self._concurrency,
            )
            posted += len(batch)
            if len(batch) < size:
                return False
        return True

    async def add_line(self, case_id: int, text: str) -> None:
        """Queue `text` for the case's card thread (durable: it waits for the card if need be)."""
        async with self._sessions() as s, s.begin():
            await events.add_card_line(s, case_id=case_id, text=text, now=self._clock())

    async def post_card_lines(self, *, case_id: int | None = None) -> None:
        """Post queued thread lines (claimed, replied, released…) whose card is in Slack."""
        while True:
            async with self._sessions() as s:
                pending = await events.card_lines_to_post(s, limit=BATCH, case_id=case_id)
            if not pending:
                return
            for line, case in pending:
                assert case.card_ts is not None
                async with self._sessions() as s, s.begin():
                    if not await events.claim_card_line(s, line_id=line.id, now=self._clock()):
                        continue  # another caller (or replica) is posting it
                try:
                    await self._post(text=line.text, thread_ts=case.card_ts, leased=False)
                except SlackMessageRefused as exc:
                    if exc.gone:
                        async with self._sessions() as s, s.begin():
                            await events.unclaim_card_line(s, line_id=line.id)
                        await self.card_gone(case, exc)  # it waits for the new card
                        continue
                    log.error("case %d: Slack refused a thread line (%s); skipped", case.id, exc)
                    self.stats.skipped += 1
                    continue
                except BaseException:
                    async with self._sessions() as s, s.begin():
                        await events.unclaim_card_line(s, line_id=line.id)
                    raise
                self.stats.thread_posts += 1

    async def post_follow_ups(self) -> None:
        """Echo follow-ups in their card's thread."""
        while True:
            async with self._sessions() as s:
                pending = await followups.follow_ups_to_post(s, limit=BATCH)
            if not pending:
                return
            for message, case in pending:
                assert case.card_ts is not None
                ts: str | None = None
                try:
                    ts = await self._post(text=_echo(message, case), thread_ts=case.card_ts)
                except SlackMessageRefused as exc:
                    if exc.gone:
                        await self.card_gone(case, exc)
                        continue  # it waits for the new card (or is dropped with a closed one)
                    log.error("case %d: Slack refused a follow-up (%s); skipped", case.id, exc)
                    self.stats.skipped += 1
                async with self._sessions() as s, s.begin():
                    await followups.mark_follow_up_posted(s, message_id=message.id)
                    if ts is not None:
                        await compliance_repo.thread_line_posted(s, message_id=message.id, ts=ts)
                self.stats.thread_posts += 1

    async def redraw_thread_lines(self) -> None:
        """Redraw thread echoes of follow-ups that were deleted, hidden or edited since posted."""
        while True:
            async with self._sessions() as s:
                dirty = await compliance_repo.thread_lines_to_redraw(s, limit=BATCH)
            if not dirty:
                return
            for message, case in dirty:
                assert message.thread_ts is not None
                await self._pacer.acquire(self._channel)
                try:
                    await update_message(
                        self._slack,
                        channel=case.slack_channel or self._channel,
                        ts=message.thread_ts,
                        text=_echo(message, case),
                    )
                except SlackDeliveryError as outcome:
                    if isinstance(outcome, SlackRateLimited):
                        self._pacer.pause(self._channel, outcome.retry_after)
                        return
                    if not (isinstance(outcome, SlackRejected) and "not_found" in str(outcome)):
                        raise
                    # Someone deleted the echo in Slack: nothing is left there to redraw.
                async with self._sessions() as s, s.begin():
                    await compliance_repo.thread_line_redrawn(s, message_id=message.id)

    async def sync_cards(self) -> None:
        """Re-render and `chat.update` every card whose case changed since it was drawn."""
        while True:
            async with self._sessions() as s:
                dirty = await cards.dirty_cards(s, limit=BATCH)
            if not dirty:
                return
            for case in dirty:
                await self.update_card(case_value(case))

    async def update_card(self, case: CaseValue) -> None:
        """Redraw one posted card from its row and mark it in sync."""
        assert case.card_ts is not None
        assert case.slack_channel is not None
        card = render_card(case, now=self._clock())
        try:
            await update_message(
                self._slack, channel=case.slack_channel, ts=case.card_ts, **card.as_kwargs()
            )
        except SlackDeliveryError as outcome:
            if isinstance(outcome, SlackRateLimited):
                await asyncio.sleep(outcome.retry_after)
                return
            if isinstance(outcome, SlackMessageRefused):
                # This card only: the redraws behind it go on.
                if outcome.gone:
                    await self.card_gone(case, outcome)
                    return
                log.error("case %d: Slack refused the redraw (%s); skipped", case.id, outcome)
                self.stats.skipped += 1
                async with self._sessions() as s, s.begin():
                    await cards.clear_card_dirty(s, case_id=case.id, version=case.card_version)
                return
            raise
        await self._succeeded("post")
        async with self._sessions() as s, s.begin():
            await cards.clear_card_dirty(s, case_id=case.id, version=case.card_version)
        self.stats.updates += 1

    async def card_gone(self, case: Case | CaseValue, exc: SlackMessageRefused) -> None:
        """The case's card (or its thread) was deleted: post a new card if the case is open."""
        async with self._sessions() as s, s.begin():
            reposted = await cards.card_gone(s, case_id=case.id, now=self._clock())
        if reposted:
            self.stats.cards_reposted += 1
            log.warning(
                "case %d: its card is gone from Slack (%s); posting a new one", case.id, exc
            )
        else:
            log.info("case %d: the card of this closed case is gone (%s)", case.id, exc)

    async def delivers_here(self) -> bool:
        """Say whether this process delivers to the channel now (taking the lease if it is free).

        Posts that can wait for the holder (thread lines queued by a click on another replica)
        are left to it, so one pacer spends the channel's message a second instead of several
        processes earning each other 429s."""
        return await self._lease.hold_for(timedelta(0))

    async def nags_may_go(self) -> bool:
        """Say whether nags may be posted now: only by the process that delivers to the channel,
        and only while no new card waits for it. A customer without a card cannot be answered
        at all; one whose card is up and overdue is at least in front of the team."""
        if not await self.delivers_here():
            return False
        async with self._sessions() as s:
            return not await cards.cards_waiting(s)

    async def notify(
        self, text: str, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> str:
        """Post `text` to the channel (or a thread), paced; return the message ts."""
        # Alerts come from whichever replica noticed (e.g. the one polling), so they do not wait
        # for the delivery lease.
        return await self._post(text=text, thread_ts=thread_ts, broadcast=broadcast, leased=False)

    async def _post(
        self,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        broadcast: bool = False,
        leased: bool = True,
    ) -> str:
        while True:
            await self._pacer.acquire(self._channel)
            if leased and not await self._lease.hold_for(LEASE_MARGIN):
                raise LeaseLost(self._channel)
            try:
                ts = await post_message(
                    self._slack,
                    channel=self._channel,
                    text=text,
                    blocks=blocks,
                    metadata=metadata,
                    thread_ts=thread_ts,
                    broadcast=broadcast,
                )
                await self._succeeded("post")
                return ts
            except SlackRateLimited as outcome:
                self.stats.rate_limited += 1
                log.info("Slack asked us to wait %.0fs before posting", outcome.retry_after)
                self._pacer.pause(self._channel, outcome.retry_after)

    async def install_broken(self, kind: str, exc: SlackInstallBroken) -> None:
        """Record an install-level refusal; alert once, where it can still be seen."""
        await self._watch.install_broken(kind, exc)

    async def _succeeded(self, kind: str) -> None:
        await self._watch.succeeded(kind)

    async def release(self) -> None:
        """Give up the delivery lease (on shutdown), so another replica can take over at once."""
        await self._lease.release()


def _echo(message: CaseMessage, case: Case) -> str:
    """Return a follow-up's thread line as the post stands now."""
    return thread_line(
        case.author_handle,
        message.text,
        message.url,
        removed=message.removed,
        edited=message.edited_at is not None,
        network_label=network_label(case.network),
    )
