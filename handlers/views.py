"""Modal submissions: sending a reply and resolving with a reason."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import BlockId, CallbackId
from bot.blocks.lines import reply_not_sent_notice, reply_sent_notice
from bot.blocks.modals import (
    ReplySubmission,
    checking_view,
    input_errors,
    parse_reply_submission,
    parse_resolve_submission,
    reply_modal,
    sending_view,
    sent_view,
)
from bot.cards import publish_change
from bot.deps import Deps
from bot.domain import Case
from bot.errors import CarebotError
from bot.replies import ReplyNotSent, ReplyOutcome, ReplyUnconfirmed, start_reply
from bot.slack_api import SLACK_CALL_ERRORS
from handlers.listener import guarded
from handlers.parsing import user_of

log = logging.getLogger(__name__)

# Slack closes the connection after 3 s; answer by then with the outcome or "Sending…".
ACK_BUDGET_SECONDS = 2.0


async def on_reply_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, deps: Deps
) -> None:
    """Send the reply; whatever stops it, the modal stays open with the text and the reason."""
    submission = parse_reply_submission(view)
    user = user_of(body)
    try:
        case = await deps.replies.check_can_reply(case_id=submission.case_id, user=user)
        text = deps.replies.validate(submission.text, network=case.network)
    except CarebotError as exc:  # empty, too long, not allowed, resolved or claimed meanwhile
        await ack(**input_errors(BlockId.REPLY_TEXT, exc.user_message))
        return
    # One key per modal and text: a double submit, Slack's retry or a replayed request finds it.
    key = f"{view['id']}:{hashlib.sha256(text.encode()).hexdigest()[:24]}"
    attempt = start_reply(
        deps.replies,
        case_id=case.id,
        user=user,
        text=text,
        key=key,
        resolve_after=submission.resolve_after,
        view_id=view["id"],
    )
    result = await attempt.within(ACK_BUDGET_SECONDS)
    if result is None:
        await ack(response_action="update", view=sending_view(case, text))
        await _show_late(client, deps, case, submission, view["id"], user, await attempt.finish())
    elif isinstance(result, CarebotError):
        # Unconfirmed ones too: pressing Send again is refused until the reply is settled.
        await ack(**input_errors(BlockId.REPLY_TEXT, result.user_message))
    else:
        await ack(response_action="update", view=sent_view(result.case, result.url))


async def _show_late(
    client: AsyncWebClient,
    deps: Deps,
    case: Case,
    submission: ReplySubmission,
    view_id: str,
    user: str,
    result: ReplyOutcome | CarebotError,
) -> None:
    """Show an outcome known after the ack in the modal; if the modal is gone, tell the agent by
    direct message (with the text when it did not go out)."""
    if isinstance(result, ReplyOutcome):
        shown = sent_view(result.case, result.url)
    elif isinstance(result, ReplyUnconfirmed):
        shown = checking_view(case, submission.text, result.detail)
    else:
        shown = reply_modal(
            case,
            reply_limit=deps.replies.reply_limit(case.network),
            initial_text=submission.text,
            error=result.user_message,
            resolve_after=submission.resolve_after,
        )
    try:
        await client.views_update(view_id=view_id, view=shown)
        return
    except SLACK_CALL_ERRORS as exc:
        log.info("reply modal %s is gone (%s); telling %s by DM", view_id, exc, user)
    if isinstance(result, ReplyOutcome):
        notice = reply_sent_notice(case.author_handle, result.url, late=False)
        await deps.replies.owe_notice(reply_id=result.reply_id, notice=notice)
    elif isinstance(result, ReplyNotSent) and result.reply_id:
        notice = reply_not_sent_notice(
            case.author_handle, result.reason, submission.text, resend_safe=not result.permanent
        )
        await deps.replies.owe_notice(reply_id=result.reply_id, notice=notice)
    elif not isinstance(result, ReplyUnconfirmed):  # the settler tells of unconfirmed ones
        notice = reply_not_sent_notice(
            case.author_handle, result.user_message, submission.text, resend_safe=False
        )
        await _dm(client, user, notice)


async def _dm(client: AsyncWebClient, user: str, text: str) -> None:
    try:
        await client.chat_postMessage(channel=user, text=text, unfurl_links=False)
    except SLACK_CALL_ERRORS as exc:
        log.warning("could not DM %s their unsent reply: %s", user, exc)


async def on_resolve_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], deps: Deps
) -> None:
    """Resolve the case with the chosen reason and note."""
    submission = parse_resolve_submission(view)
    await ack()
    change = await deps.ownership.resolve(
        case_id=submission.case_id,
        user=user_of(body),
        reason=submission.reason,
        note=submission.note,
        seen=submission.seen,
    )
    await publish_change(deps.delivery, change.case, change.event)


def register(app: AsyncApp) -> None:
    """Register the modal submissions."""
    app.view(CallbackId.REPLY_MODAL)(guarded(on_reply_submit))
    app.view(CallbackId.RESOLVE_MODAL)(guarded(on_resolve_submit))
