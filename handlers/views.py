"""Modal submissions: sending a reply and resolving with a reason."""

from __future__ import annotations

import hashlib
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import Deps
from bot.blocks.ids import BlockId, CallbackId
from bot.blocks.lines import reply_line
from bot.blocks.modals import (
    input_errors,
    parse_reply_submission,
    parse_resolve_submission,
    reply_modal,
    sending_view,
    sent_view,
)
from bot.cards import publish_change
from bot.errors import CarebotError, ReplyEmpty, ReplyTooLong
from bot.replies import ReplyOutcome, start_reply
from handlers.errors import guarded
from handlers.parsing import user_of

# Slack closes the connection after 3 s; answer by then with the outcome or "Sending…".
ACK_BUDGET_SECONDS = 2.0


async def on_reply_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, deps: Deps
) -> None:
    """Send the reply; errors go back onto the input so the agent's text is never lost."""
    submission = parse_reply_submission(view)
    user = user_of(body)
    try:
        text = deps.replies.validate(submission.text)
        case = await deps.replies.check_can_reply(case_id=submission.case_id, user=user)
    except (ReplyEmpty, ReplyTooLong) as exc:
        await ack(**input_errors(BlockId.REPLY_TEXT, exc.user_message))
        return
    # One key per modal and text: a double submit or Slack's retry finds it already sent.
    key = f"{view['id']}:{hashlib.sha256(text.encode()).hexdigest()[:24]}"
    attempt = start_reply(
        deps.replies,
        case_id=case.id,
        user=user,
        text=text,
        key=key,
        resolve_after=submission.resolve_after,
    )
    result = await attempt.within(ACK_BUDGET_SECONDS)
    if isinstance(result, CarebotError):
        await ack(**input_errors(BlockId.REPLY_TEXT, result.user_message))
        return
    if result is not None:
        await ack(response_action="update", view=sent_view(result.case, result.url))
        await _show_reply(deps, result, user)
        return
    await ack(response_action="update", view=sending_view(case, text))
    late = await attempt.finish()
    if isinstance(late, CarebotError):
        retry = reply_modal(
            case,
            reply_limit=deps.replies.reply_limit,
            initial_text=submission.text,
            error=late.user_message,
            resolve_after=submission.resolve_after,
        )
        await client.views_update(view_id=view["id"], view=retry)
        return
    await client.views_update(view_id=view["id"], view=sent_view(late.case, late.url))
    await _show_reply(deps, late, user)


async def _show_reply(deps: Deps, outcome: ReplyOutcome, user: str) -> None:
    if outcome.repeated:
        return  # the first submission already announced it
    await publish_change(deps.delivery, outcome.case, reply_line(user, outcome.text, outcome.url))


async def on_resolve_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], deps: Deps
) -> None:
    """Resolve the case with the chosen reason and note."""
    submission = parse_resolve_submission(view)
    await ack()
    reason = submission.reason.label if submission.reason else None
    if submission.note:
        reason = f"{reason}: {submission.note}" if reason else submission.note
    change = await deps.ownership.resolve(
        case_id=submission.case_id, user=user_of(body), reason=reason, seen=submission.seen
    )
    await publish_change(deps.delivery, change.case, change.line)


def register(app: AsyncApp) -> None:
    """Register the modal submissions."""
    app.view(CallbackId.REPLY_MODAL)(guarded(on_reply_submit))
    app.view(CallbackId.RESOLVE_MODAL)(guarded(on_resolve_submit))
