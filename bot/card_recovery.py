"""Crash recovery of card posts: a case left `posting` may already be in the channel (the post
reached Slack, the record of it did not reach the database), so its card is looked for by message
metadata in the channel's history before it is ever posted again (ARCHITECTURE rule 3). What is
found is recorded as posted; the rest is queued to be posted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import MetadataEvent
from bot.clock import Clock
from bot.delivery_health import DeliveryStats, InstallWatch
from bot.slack_api import (
    SLACK_CALL_ERRORS,
    SlackInstallBroken,
    SlackRateLimited,
    classify_slack_error,
)
from storage import cards
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

HISTORY_MARGIN = timedelta(minutes=2)
# Recovery reads at most this many pages of 200 messages back when no earlier card bounds it.
HISTORY_PAGES = 10
# Rate limits met while reading history, in one recovery, before it gives up until the next run
# (the cards in doubt stay in doubt: never posted again on a guess).
HISTORY_RATE_LIMIT_BUDGET = 60.0


class CardRecovery:
    """Finds the cards of one channel that an earlier run posted but did not record."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        slack: AsyncWebClient,
        channel: str,
        clock: Clock,
        stats: DeliveryStats,
        watch: InstallWatch,
        blocked_for: float,
    ) -> None:
        self._sessions = sessions
        self._slack = slack
        self._channel = channel
        self._clock = clock
        self.stats = stats
        self._watch = watch
        # How long the cards in doubt wait when the history is out of reach (the install broken).
        self._blocked_for = blocked_for
        self._history_blocked_until = 0.0

    async def recover(self) -> None:
        """Find cards an earlier run posted but did not record; queue the rest to be posted."""
        if time.monotonic() < self._history_blocked_until:
            return  # history is out of reach; the cards in doubt wait, the others go on
        async with self._sessions() as s:
            uncertain = list(await cards.cards_in_doubt(s))
            if not uncertain:
                return
            attempts = [c.card_attempted_at for c in uncertain if c.card_attempted_at is not None]
            # Bounded by a card's ts (Slack's clock), never by ours: our clock may be skewed or
            # injected. Cards whose posts began well before these finished before these started.
            watermark = (
                await cards.newest_card_ts(
                    s, channel=self._channel, attempted_before=min(attempts) - HISTORY_MARGIN
                )
                if attempts
                else None
            )
        try:
            found = await self._cards_in_history(
                oldest=watermark, wanted={case.id for case in uncertain}
            )
        except SlackInstallBroken as exc:
            # Without history there is no knowing whether these are in the channel: they wait
            # (never posted twice on a guess) while every other card is delivered.
            self._history_blocked_until = time.monotonic() + self._blocked_for
            await self._watch.install_broken("history", exc)
            return
        await self._watch.succeeded("history")
        recovered = [c for c in uncertain if c.id in found]
        async with self._sessions() as s, s.begin():
            for case in recovered:
                await cards.record_card_posted(
                    s,
                    case_id=case.id,
                    channel=self._channel,
                    ts=found[case.id],
                    version=case.card_version - 1,
                )
                # The row may have changed after that post; let the sync job redraw it.
                await cards.touch_card(s, case_id=case.id, now=self._clock())
            await cards.record_card_not_posted(
                s, case_ids=[c.id for c in uncertain if c.id not in found]
            )
        if recovered:
            self.stats.cards_recovered += len(recovered)
            log.info(
                "found %d card(s) already in the channel; not posting them again", len(recovered)
            )

    async def _cards_in_history(self, *, oldest: str | None, wanted: set[int]) -> dict[int, str]:
        """Return {case id: ts} for the `wanted` cards in the channel, newest pages first."""
        found: dict[int, str] = {}
        cursor: str | None = None
        waited = 0.0
        for _page in range(HISTORY_PAGES):
            while True:
                try:
                    page = await self._slack.conversations_history(
                        channel=self._channel,
                        oldest=oldest,
                        include_all_metadata=True,
                        limit=200,
                        cursor=cursor,
                    )
                    break
                except SLACK_CALL_ERRORS as exc:
                    outcome = classify_slack_error(exc)
                    if not isinstance(outcome, SlackRateLimited):
                        raise outcome from exc
                    # A rate limit is no answer: it costs time, never a page of the search, and
                    # past the budget the lookup is left for the next run rather than guessed.
                    waited += outcome.retry_after
                    if waited > HISTORY_RATE_LIMIT_BUDGET:
                        raise outcome from exc
                    self.stats.rate_limited += 1
                    await asyncio.sleep(outcome.retry_after)
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") != MetadataEvent.CASE_CARD:
                    continue
                case_id = (metadata.get("event_payload") or {}).get("case_id")
                if isinstance(case_id, int | str) and str(case_id).isdigit():
                    found.setdefault(int(case_id), str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if wanted <= found.keys() or not page.get("has_more") or not cursor:
                break
        else:
            log.warning(
                "looked %d messages back for cards in doubt; posting the rest again",
                HISTORY_PAGES * 200,
            )
        return {case_id: ts for case_id, ts in found.items() if case_id in wanted}
