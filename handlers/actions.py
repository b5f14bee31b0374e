"""Card buttons: Claim, Release, Reply, Resolve, Reopen. Each acks first, calls one service and
shows the result (card redraw and thread line, or a modal). Refusals are domain errors that the
global error handler turns into an ephemeral message."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import ActionId
from bot.blocks.modals import reply_blocked_modal, reply_modal, resolve_modal
from bot.cards import publish_change
from bot.deps import Deps
from handlers.listener import guarded
from handlers.parsing import case_id_of, seen_version_of, user_of


async def on_claim(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], deps: Deps) -> None:
    """Claim the case for whoever pressed the button."""
    await ack()
    change = await deps.ownership.claim(case_id=case_id_of(action), user=user_of(body))
    await publish_change(deps.delivery, change.case, change.event)


async def on_release(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], deps: Deps
) -> None:
    """Return the case to the queue."""
    await ack()
    change = await deps.ownership.release(
        case_id=case_id_of(action), user=user_of(body), seen=seen_version_of(action)
    )
    await publish_change(deps.delivery, change.case, change.event)


async def on_reopen(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], deps: Deps
) -> None:
    """Reopen a resolved case."""
    await ack()
    change = await deps.ownership.reopen(
        case_id=case_id_of(action), user=user_of(body), seen=seen_version_of(action)
    )
    await publish_change(deps.delivery, change.case, change.event)


async def on_reply(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    deps: Deps,
) -> None:
    """Open the Reply modal (the trigger id lives 3 s, so views.open is the only Slack call)."""
    await ack()
    target = await deps.replies.reply_target(case_id=case_id_of(action), user=user_of(body))
    if target.post_id is None:
        view = reply_blocked_modal(target.case, post_url=target.post_url)
    else:
        view = reply_modal(target.case, reply_limit=deps.replies.reply_limit(target.case.network))
    await client.views_open(trigger_id=body["trigger_id"], view=view)


async def on_open_post(ack: AsyncAck) -> None:
    """Acknowledge the "Open on X" link button (Slack opens the URL itself)."""
    await ack()


async def on_resolve(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    deps: Deps,
) -> None:
    """Open the Resolve modal (reason and note are optional)."""
    await ack()
    seen = seen_version_of(action)
    case = await deps.ownership.check_can_resolve(
        case_id=case_id_of(action), user=user_of(body), seen=seen
    )
    await client.views_open(trigger_id=body["trigger_id"], view=resolve_modal(case, seen=seen))


def register(app: AsyncApp) -> None:
    """Register the card buttons."""
    app.action(ActionId.CLAIM)(guarded(on_claim))
    app.action(ActionId.RELEASE)(guarded(on_release))
    app.action(ActionId.REOPEN)(guarded(on_reopen))
    app.action(ActionId.REPLY)(guarded(on_reply))
    app.action(ActionId.RESOLVE)(guarded(on_resolve))
    app.action(ActionId.OPEN_POST)(on_open_post)
