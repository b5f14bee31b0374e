"""Posting one batch of new cards: up to `concurrency` posts at once, each card's fate sorted
out (posted, refused for good, in doubt, never sent), posted cards recorded in small groups, and
what certainly did not reach Slack put back in the queue. Pacing, the lease and the retry of a
rate-limited post are the `post` callable's (`bot.delivery.DeliveryService`); cards left in doubt
are `bot.card_recovery`'s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.blocks.card import render_card
from bot.clock import Clock
from bot.delivery_health import DeliveryStats
from bot.leases import LeaseLost
from bot.slack_api import SlackMessageRefused, SlackRejected, SlackUnavailable
from storage import cards
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import Case

log = logging.getLogger(__name__)

RECORD_GROUP = 25


async def post_batch(
    batch: Sequence[Case],
    *,
    post: Callable[..., Awaitable[str]],
    sessions: SessionFactory,
    channel: str,
    clock: Clock,
    stats: DeliveryStats,
    concurrency: int,
) -> None:
    """Post a card for each case in `batch`; re-raise the first failure that stops the batch."""
    semaphore = asyncio.Semaphore(concurrency)
    done: set[int] = set()
    in_doubt: set[int] = set()
    refused: set[int] = set()
    failure: Exception | None = None
    # Posted cards are recorded in small groups, one transaction each: a crash leaves at most
    # a group plus the posts in flight `posting`, and recovery finds those by metadata.
    unrecorded: list[tuple[int, str, int]] = []
    record_lock = asyncio.Lock()

    async def record(*, all_of_them: bool) -> None:
        async with record_lock:
            if not unrecorded or (len(unrecorded) < RECORD_GROUP and not all_of_them):
                return
            group = unrecorded[:]
            unrecorded.clear()
            async with sessions() as s, s.begin():
                await cards.record_cards_posted(s, channel=channel, posted=group)
            done.update(case_id for case_id, _, _ in group)
            stats.cards_posted += len(group)

    async def post_one(case: Case) -> None:
        nonlocal failure
        async with semaphore:
            if failure is not None:
                return
            card = render_card(case_value(case), now=clock())
            try:
                ts = await post(**card.as_kwargs())
            except SlackMessageRefused as exc:
                # This card only (e.g. blocks Slack will never take); the rest go on.
                log.error("case %d: Slack refused its card (%s); not retried", case.id, exc)
                refused.add(case.id)
                stats.skipped += 1
                return
            except SlackUnavailable as exc:
                # The post may have reached Slack: the case stays `posting` for recovery.
                in_doubt.add(case.id)
                failure = failure or exc
                return
            except (SlackRejected, LeaseLost) as exc:
                failure = failure or exc
                return
            unrecorded.append((case.id, ts, case.card_version))
        await record(all_of_them=False)

    await asyncio.gather(*(post_one(case) for case in batch))
    await record(all_of_them=True)
    if refused:
        async with sessions() as s, s.begin():
            await cards.mark_card_refused(s, case_ids=refused)
    if failure is not None:
        # What certainly did not reach Slack goes back to the queue, not to a history lookup.
        async with sessions() as s, s.begin():
            await cards.record_card_not_posted(
                s, case_ids=[c.id for c in batch if c.id not in done | in_doubt | refused]
            )
        raise failure
