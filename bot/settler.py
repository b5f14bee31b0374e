"""Settling replies in doubt and saying how every reply ended: the replica-safe job that looks for
an unconfirmed reply on its network, records what it finds, and posts the thread lines and direct
messages each reply still owes (ARCHITECTURE rules 5 and 9). Sending is bot/replies.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.lines import reply_not_sent_notice, reply_sent_notice, thread_line
from bot.blocks.modals import reply_modal, sent_view
from bot.clock import Clock, ensure_utc
from bot.delivery import LEASE_TTL, DeliveryService
from bot.domain import ReplyNotPosted, ReplySent
from bot.domain.networks import network_label
from bot.errors import CarebotError, SourceError
from bot.replies import record_sent
from bot.slack_api import SLACK_CALL_ERRORS, SlackRateLimited, classify_slack_error
from bot.sources import Source
from storage import cases, claims, events
from storage.engine import SessionFactory
from storage.mapping import case_value
from storage.models import Case, CaseStatus, Reply, ReplyState

log = logging.getLogger(__name__)

# A pending reply older than this is past its process's send (X's client gives up after 15 s):
# that process died or lost the answer, and the settler takes the reply over.
PENDING_GRACE = timedelta(seconds=20)
SETTLE_BATCH = 50


def _claimed_by(reply: Reply, case: Case) -> bool:
    """Whether sending `reply` made its author the owner (record_response claims at sent_at)."""
    return case.owner == reply.author and case.claimed_at == reply.sent_at


class ReplySettler:
    """The replica-safe job that settles replies in doubt and says how every reply ended.

    It posts in the card channel's threads, so one process at a time runs it: the one holding
    that channel's delivery lease (bot/delivery.py); every change it makes is conditional too, so
    two runs could not settle a reply twice. Each run: take over pending replies whose send
    is past its time (their process died), look for each reply in doubt on its network, record
    what is found, then post owed thread lines and direct messages.
    """

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        sources: Mapping[str, Source],
        delivery: DeliveryService,
        slack: AsyncWebClient,
        holder: str,
        pending_grace: timedelta = PENDING_GRACE,
        visible_after: timedelta | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sources = sources  # by network: each reply is looked for where it was sent
        self._delivery = delivery
        self._slack = slack
        self._holder = holder
        self._pending_grace = pending_grace
        self._visible_after = visible_after

    async def run_once(self) -> None:
        """Settle what can be settled and deliver what is owed."""
        async with self._sessions() as s, s.begin():
            held = await claims.acquire_lease(
                s, name=self._lease, holder=self._holder, now=self._clock(), ttl=LEASE_TTL
            )
        if not held:
            return
        await self.settle()
        await self.announce()

    @property
    def _lease(self) -> str:
        return f"delivery:{self._delivery.channel}"

    async def settle(self) -> None:
        """Look for every reply in doubt on the network and record what is found."""
        now = self._clock()
        async with self._sessions() as s:
            doubtful = list(
                await cases.replies_to_settle(
                    s, pending_before=now - self._pending_grace, limit=SETTLE_BATCH
                )
            )
        for reply in doubtful:
            if reply.state == ReplyState.PENDING:
                async with self._sessions() as s, s.begin():
                    await cases.mark_reply_unknown(
                        s, reply_id=reply.id, error="Carebot stopped before the network answered."
                    )
            await self._settle_one(reply)

    async def _settle_one(self, reply: Reply) -> None:
        async with self._sessions() as s:
            case = await cases.get_case(s, case_id=reply.case_id)
        if case is None:
            return  # deleted with its case
        source = self._sources.get(case.network)
        if source is None:
            # Deciding "not posted" without looking could let a resend post twice; it stays in
            # doubt (and every other reply to the case waits) until the network is configured.
            log.warning(
                "reply %d: no %s source configured to look for it; left in doubt",
                reply.id,
                case.network,
            )
            return
        if reply.target_id is None:
            await self._not_posted(reply, "Carebot does not know which post it answered.")
            return
        try:
            found = await source.find_reply(
                to_external_id=reply.target_id,
                text=reply.text,
                not_before=ensure_utc(reply.created_at),
            )
        except (SourceError, CarebotError) as exc:
            log.warning("reply %d: could not check the network yet (%s)", reply.id, exc)
            return
        now = self._clock()
        if found is not None:
            async with self._sessions() as s, s.begin():
                settled = await record_sent(
                    s, reply_id=reply.id, external_id=found.external_id, url=found.url, now=now
                )
                case = await cases.get_case(s, case_id=reply.case_id)
                if settled and case is not None:
                    notice = reply_sent_notice(
                        case.author_handle, found.url, late=True, network_label=_label(case)
                    )
                    await cases.set_reply_notice(s, reply_id=reply.id, notice=notice)
            if settled and case is not None:
                log.info("reply %d was posted after all (%s)", reply.id, found.external_id)
                await self._update_modal(reply, sent_view(case_value(case), found.url))
            return
        visible_after = self._visible_after or timedelta(seconds=source.limits.reply_visible_after)
        if now - ensure_utc(reply.created_at) < visible_after:
            return  # the network may not show it yet; look again on a later run
        label = network_label(source.network)
        await self._not_posted(
            reply,
            f"{label} has no trace of it {int(visible_after.total_seconds())} s after it "
            "was sent, so it was not posted.",
        )

    async def _not_posted(self, reply: Reply, reason: str) -> None:
        async with self._sessions() as s, s.begin():
            if not await cases.mark_reply_failed(s, reply_id=reply.id, error=reason, announce=True):
                return
            case = await cases.get_case(s, case_id=reply.case_id)
            handle = case.author_handle if case is not None else "the customer"
            notice = reply_not_sent_notice(handle, reason, reply.text, resend_safe=True)
            await cases.set_reply_notice(s, reply_id=reply.id, notice=notice)
            events.add_event(
                s,
                case_id=reply.case_id,
                actor=reply.author,
                kind="reply_not_posted",
                at=self._clock(),
                detail={"reply_id": reply.id, "error": reason},
            )
        log.info("reply %d was not posted: %s", reply.id, reason)
        source = self._sources.get(case.network) if case is not None else None
        if case is not None and case.status != CaseStatus.RESOLVED:
            retry = reply_modal(
                case_value(case),
                reply_limit=source.limits.reply_max if source else 280,
                initial_text=reply.text,
                error=f"{reason} Sending it again is safe.",
                resolve_after=reply.resolve_after,
            )
            await self._update_modal(reply, retry)

    async def _update_modal(self, reply: Reply, view: dict[str, Any]) -> None:
        """Show the outcome in the agent's modal if it is still open (the DM says it anyway)."""
        if reply.view_id is None:
            return
        try:
            await self._slack.views_update(view_id=reply.view_id, view=view)
        except SLACK_CALL_ERRORS as exc:
            log.info("reply %d: modal not updated (%s); the DM tells the agent", reply.id, exc)

    async def announce(self) -> None:
        """Post owed thread lines and direct messages; what Slack refuses now is tried again."""
        async with self._sessions() as s:
            owed = list(await cases.replies_to_announce(s, limit=SETTLE_BATCH))
            cards = {
                r.case_id: await cases.get_case(s, case_id=r.case_id) for r in owed if r.thread_due
            }
        for reply in owed:
            try:
                if reply.thread_due:
                    await self._thread_line(reply, cards.get(reply.case_id))
            except _NotYet as exc:
                log.info("reply %d: thread line not posted yet (%s)", reply.id, exc)
            try:
                if reply.notice is not None:
                    await self._direct_message(reply.author, reply.notice)
                    async with self._sessions() as s, s.begin():
                        await cases.clear_reply_notice(s, reply_id=reply.id, notice=reply.notice)
            except _NotYet as exc:
                log.info("reply %d: agent not told yet (%s)", reply.id, exc)

    async def _thread_line(self, reply: Reply, case: Case | None) -> None:
        if case is None:
            line = None
        elif case.card_ts is None:
            raise _NotYet("its card is not posted yet")
        elif reply.state == ReplyState.SENT:
            line = thread_line(
                ReplySent(
                    reply.author,
                    reply.text,
                    reply.url,
                    case.network,
                    claimed=_claimed_by(reply, case),
                )
            )
        else:
            line = thread_line(ReplyNotPosted(reply.author, reply.error or "", case.network))
        if line is not None and case is not None and case.card_ts is not None:
            try:
                await self._delivery.notify(line, thread_ts=case.card_ts)
            except Exception as exc:  # Slack's failures: keep it owed for the next run
                raise _NotYet(str(exc)) from exc
        async with self._sessions() as s, s.begin():
            await cases.clear_reply_thread_due(s, reply_id=reply.id)

    async def _direct_message(self, user: str, text: str) -> None:
        try:
            await self._slack.chat_postMessage(channel=user, text=text, unfurl_links=False)
        except SLACK_CALL_ERRORS as exc:
            outcome = classify_slack_error(exc)
            if isinstance(outcome, SlackRateLimited):
                await asyncio.sleep(min(outcome.retry_after, 5.0))
            raise _NotYet(str(outcome)) from exc


class _NotYet(Exception):
    """An announcement that cannot be made on this run."""


def _label(case: Case) -> str:
    return network_label(case.network)
