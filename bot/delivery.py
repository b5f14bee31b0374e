"""Delivery: everything Carebot posts to Slack on its own — new cards, card updates, follow-ups in
threads and channel alerts — driven by database state, paced per channel, and safe to crash in.

A card is marked `posting` before `chat.postMessage` and `posted` after; a case found `posting` on
the next run may already be in the channel, so its card is looked up by message metadata in the
channel's history before it is posted again (ARCHITECTURE rule 3). One process delivers to a
channel at a time (a DB lease), so replicas never post the same card or pace against each other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.card import render_card
from bot.blocks.ids import MetadataEvent
from bot.blocks.lines import follow_up_line
from bot.clock import Clock
from bot.pacing import ChannelPacer
from storage import repo
from storage.engine import SessionFactory
from storage.models import CardState, Case

log = logging.getLogger(__name__)

BATCH = 100
LEASE_TTL = timedelta(seconds=60)
HISTORY_MARGIN = timedelta(minutes=2)
MAX_BACKOFF = 30.0


def process_id() -> str:
    """Return an id for this process, unique across replicas, for leases."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SlackUnavailable(Exception):
    """Slack failed in a way that may or may not have done the work (5xx, timeout, refused)."""


class SlackRateLimited(Exception):
    """Slack answered 429; nothing was done."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after}s")
        self.retry_after = retry_after


class SlackRejected(Exception):
    """Slack refused the call for a reason retrying will not fix (e.g. not_in_channel)."""


def classify_slack_error(exc: BaseException) -> Exception:
    """Map a Slack client exception to one of the three outcomes delivery acts on."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429 or exc.response.get("error") == "ratelimited":
            retry = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after"
            )
            return SlackRateLimited(float(retry) if retry else 1.0)
        if status >= 500 or exc.response.get("error") in {
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
        }:
            return SlackUnavailable(f"Slack answered {status}")
        return SlackRejected(str(exc.response.get("error")))
    if isinstance(exc, SlackClientError | aiohttp.ClientError | TimeoutError | OSError):
        return SlackUnavailable(type(exc).__name__)
    raise exc


@dataclass(slots=True)
class DeliveryStats:
    """Counters for logs, tests and benchmarks."""

    cards_posted: int = 0
    cards_recovered: int = 0
    rate_limited: int = 0
    failures: int = 0
    updates: int = 0
    thread_posts: int = 0
    errors: list[str] = field(default_factory=list)


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
    ) -> None:
        self._sessions = sessions
        self._slack = slack
        self._channel = channel
        self._clock = clock
        self._pacer = pacer or ChannelPacer()
        # One at a time keeps cards in the order cases arrived; benchmarks raise it.
        self._concurrency = max(1, concurrency)
        self._holder = holder or process_id()
        self._backoff = 0.0
        self._not_before = 0.0
        self.stats = DeliveryStats()

    @property
    def channel(self) -> str:
        """Return the channel cards go to."""
        return self._channel

    async def run_once(self) -> None:
        """Deliver everything that is due: new cards, then thread posts, then card updates."""
        if time.monotonic() < self._not_before:
            return
        try:
            if not await self._hold_lease():
                return
            await self.post_pending_cards()
            await self.post_follow_ups()
            await self.sync_cards()
            self._backoff = 0.0
        except SlackUnavailable as exc:
            self._backoff = min(MAX_BACKOFF, max(1.0, self._backoff * 2))
            self._not_before = time.monotonic() + self._backoff
            self.stats.failures += 1
            log.warning("Slack unavailable (%s); retrying in %.0fs", exc, self._backoff)
        except SlackRejected as exc:
            self._not_before = time.monotonic() + MAX_BACKOFF
            self.stats.errors.append(str(exc))
            log.error("Slack refused delivery to %s: %s", self._channel, exc)

    async def post_pending_cards(self) -> None:
        """Post cards for every case that has none, urgent first, then oldest first."""
        while True:
            async with self._sessions() as s, s.begin():
                batch = list(await repo.cases_needing_cards(s, limit=BATCH))
                if not batch:
                    return
                uncertain = [c for c in batch if c.card_state == CardState.POSTING]
                await repo.mark_cards_posting(
                    s, case_ids=[c.id for c in batch], channel=self._channel, now=self._clock()
                )
            if uncertain:
                batch = await self._recover(batch, uncertain)
            await self._post_batch(batch)
            await self._hold_lease()

    async def post_follow_ups(self) -> None:
        """Echo follow-ups in their card's thread."""
        while True:
            async with self._sessions() as s:
                pending = await repo.follow_ups_to_post(s, limit=BATCH)
            if not pending:
                return
            for message, case in pending:
                assert case.card_ts is not None
                await self._post(
                    text=follow_up_line(case.author_handle, message.text, message.url),
                    thread_ts=case.card_ts,
                )
                async with self._sessions() as s, s.begin():
                    await repo.mark_follow_up_posted(s, message_id=message.id)
                self.stats.thread_posts += 1

    async def sync_cards(self) -> None:
        """Re-render and `chat.update` every card whose case changed since it was drawn."""
        while True:
            async with self._sessions() as s:
                dirty = await repo.dirty_cards(s, limit=BATCH)
            if not dirty:
                return
            for case in dirty:
                await self.update_card(case)

    async def update_card(self, case: Case) -> None:
        """Redraw one posted card from its row and mark it in sync."""
        assert case.card_ts is not None
        assert case.slack_channel is not None
        card = render_card(case, now=self._clock())
        try:
            await self._slack.chat_update(
                channel=case.slack_channel, ts=case.card_ts, **card.as_kwargs()
            )
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            outcome = classify_slack_error(exc)
            if isinstance(outcome, SlackRateLimited):
                await asyncio.sleep(outcome.retry_after)
                return
            raise outcome from exc
        async with self._sessions() as s, s.begin():
            await repo.clear_card_dirty(s, case_id=case.id, version=case.card_version)
        self.stats.updates += 1

    async def notify(
        self, text: str, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> str:
        """Post `text` to the channel (or a thread), paced; return the message ts."""
        return await self._post(text=text, thread_ts=thread_ts, broadcast=broadcast)

    async def _post(
        self,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> str:
        while True:
            await self._pacer.acquire(self._channel)
            try:
                response = await self._slack.chat_postMessage(
                    channel=self._channel,
                    text=text,
                    blocks=blocks,
                    metadata=metadata,
                    thread_ts=thread_ts,
                    reply_broadcast=broadcast or None,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                return str(response["ts"])
            except (
                SlackApiError,
                SlackClientError,
                aiohttp.ClientError,
                TimeoutError,
                OSError,
            ) as exc:
                outcome = classify_slack_error(exc)
                if not isinstance(outcome, SlackRateLimited):
                    raise outcome from exc
                self.stats.rate_limited += 1
                log.info("Slack asked us to wait %.0fs before posting", outcome.retry_after)
                self._pacer.pause(self._channel, outcome.retry_after)

    async def _post_batch(self, batch: Sequence[Case]) -> None:
        semaphore = asyncio.Semaphore(self._concurrency)
        posted: list[tuple[Case, str]] = []
        failure: BaseException | None = None

        async def post_one(case: Case) -> None:
            nonlocal failure
            async with semaphore:
                if failure is not None:
                    return
                card = render_card(case, now=self._clock())
                try:
                    ts = await self._post(**card.as_kwargs())
                except (SlackUnavailable, SlackRejected) as exc:
                    failure = failure or exc
                    return
                posted.append((case, ts))

        await asyncio.gather(*(post_one(case) for case in batch))
        async with self._sessions() as s, s.begin():
            for case, ts in posted:
                await repo.record_card_posted(
                    s, case_id=case.id, channel=self._channel, ts=ts, version=case.card_version
                )
        self.stats.cards_posted += len(posted)
        if failure is not None:
            if isinstance(failure, SlackRejected):
                # Nothing was posted for the rest: put them back rather than look them up.
                done = {case.id for case, _ in posted}
                async with self._sessions() as s, s.begin():
                    await repo.record_card_not_posted(
                        s, case_ids=[c.id for c in batch if c.id not in done]
                    )
            raise failure

    async def _recover(self, batch: list[Case], uncertain: list[Case]) -> list[Case]:
        """Find cards an earlier run posted but did not record; return the cases still to post."""
        attempts = [c.card_attempted_at for c in uncertain if c.card_attempted_at is not None]
        since = min(attempts) - HISTORY_MARGIN if attempts else self._clock() - LEASE_TTL
        found = await self._cards_in_history(since)
        recovered = [c for c in uncertain if c.id in found]
        if recovered:
            async with self._sessions() as s, s.begin():
                for case in recovered:
                    await repo.record_card_posted(
                        s,
                        case_id=case.id,
                        channel=self._channel,
                        ts=found[case.id],
                        version=case.card_version - 1,
                    )
                    # The row may have changed after that post; let the sync job redraw it.
                    await repo.touch_card(s, case_id=case.id, now=self._clock())
            self.stats.cards_recovered += len(recovered)
            log.info(
                "found %d card(s) already in the channel; not posting them again", len(recovered)
            )
        return [c for c in batch if c.id not in found]

    async def _cards_in_history(self, since: datetime) -> dict[int, str]:
        found: dict[int, str] = {}
        cursor: str | None = None
        while True:
            try:
                page = await self._slack.conversations_history(
                    channel=self._channel,
                    oldest=f"{since.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except (
                SlackApiError,
                SlackClientError,
                aiohttp.ClientError,
                TimeoutError,
                OSError,
            ) as exc:
                outcome = classify_slack_error(exc)
                if isinstance(outcome, SlackRateLimited):
                    await asyncio.sleep(outcome.retry_after)
                    continue
                raise outcome from exc
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") != MetadataEvent.CASE_CARD:
                    continue
                case_id = (metadata.get("event_payload") or {}).get("case_id")
                if isinstance(case_id, int | str) and str(case_id).isdigit():
                    found.setdefault(int(case_id), str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return found

    async def _hold_lease(self) -> bool:
        async with self._sessions() as s, s.begin():
            held = await repo.acquire_lease(
                s,
                name=f"delivery:{self._channel}",
                holder=self._holder,
                now=self._clock(),
                ttl=LEASE_TTL,
            )
        return held

    async def release(self) -> None:
        """Give up the delivery lease (on shutdown), so another replica can take over at once."""
        async with self._sessions() as s, s.begin():
            await repo.release_lease(s, name=f"delivery:{self._channel}", holder=self._holder)
