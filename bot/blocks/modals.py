"""The Reply and Resolve modals, the views a reply passes through while it is sent, and readers
for the submitted state (the `private_metadata` that ties a view to its case is bot/blocks/codecs).
Knowing a modal's layout and reading its submission live together so they cannot drift apart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks.codecs import ModalMetadata
from bot.blocks.compliance import removed_note
from bot.blocks.ids import ActionId, BlockId, CallbackId, OptionValue
from bot.blocks.text import escape_mrkdwn, link, quote, slack_date, truncate
from bot.domain.cases import Case, ResolveReason
from bot.domain.networks import network_label as label_for_network

TITLE_LIMIT = 24
# Slack caps plain_text_input at 3000 characters whatever we ask for.
INPUT_LIMIT = 3000
POST_PREVIEW_LIMIT = 2000
# The note has a 300-character column of its own (`resolve_note`); the limit stays as it was.
RESOLVE_NOTE_LIMIT = 250


@dataclass(frozen=True, slots=True)
class ReplySubmission:
    """What an agent submitted in the Reply modal."""

    case_id: int
    text: str
    resolve_after: bool


@dataclass(frozen=True, slots=True)
class ResolveSubmission:
    """What an agent submitted in the Resolve modal."""

    case_id: int
    reason: ResolveReason | None
    note: str | None
    seen: int | None = None  # the case's state version on the card the Resolve was pressed on


def input_errors(block_id: BlockId, message: str) -> dict[str, Any]:
    """Return the `response_action: errors` ack that shows `message` under an input."""
    return {"response_action": "errors", "errors": {str(block_id): truncate(message, 150)}}


def reply_modal(
    case: Case,
    *,
    reply_limit: int,
    network_label: str | None = None,
    initial_text: str | None = None,
    error: str | None = None,
    resolve_after: bool = True,
) -> dict[str, Any]:
    """Build the Reply modal; pass `initial_text` and `error` to show it again after a failure."""
    if reply_limit <= 0:
        raise ValueError(f"reply_limit must be positive, got {reply_limit}")
    network = network_label or _network(case)
    # Re-shown text longer than the limit must still fit, or Slack rejects the view and the text
    # is lost; the service then reports the length as an input error.
    max_length = min(max(reply_limit, len(initial_text or "")), INPUT_LIMIT)
    after = Option(value=OptionValue.RESOLVE_AFTER, text="Resolve after sending")
    blocks: list[Block] = [*_post_blocks(case, network)]
    if error:
        blocks.append(
            SectionBlock(
                block_id=BlockId.MODAL_ERROR,
                text=MarkdownTextObject(text=f":warning: {escape_mrkdwn(truncate(error, 2900))}"),
            )
        )
    blocks += [
        InputBlock(
            block_id=BlockId.REPLY_TEXT,
            label="Your reply",
            hint=f"{_reach(case, network)}; up to {reply_limit} characters.",
            element=PlainTextInputElement(
                action_id=ActionId.REPLY_TEXT,
                multiline=True,
                max_length=max_length,
                initial_value=initial_text or None,
                focus_on_load=True,
                placeholder="Write your reply",
            ),
        ),
        InputBlock(
            block_id=BlockId.RESOLVE_AFTER,
            label="When it is sent",
            optional=True,
            element=CheckboxesElement(
                action_id=ActionId.RESOLVE_AFTER,
                options=[after],
                initial_options=[after] if resolve_after else None,
            ),
        ),
    ]
    return _modal(
        CallbackId.REPLY_MODAL,
        f"Reply on {network}",
        case,
        blocks,
        submit="Send",
        close="Cancel",
    )


def _reach(case: Case, network: str) -> str:
    """Say who will see the reply. A Mastodon reply keeps the visibility of the post it answers,
    which the case does not store, so the hint says what each visibility means."""
    to = f"as a reply to @{case.author_handle}"
    if case.network.lower() == "mastodon":
        return (
            f"Sent on {network} {to}, as visible as their post: public stays public, and a "
            "direct message gets a direct answer that only the accounts it mentions see"
        )
    return f"Sent publicly on {network} {to}"


def reply_blocked_modal(
    case: Case, *, post_url: str, network_label: str | None = None
) -> dict[str, Any]:
    """Build the view shown instead of the Reply modal when the network forbids the reply.

    On X a self-serve app may reply only to posts that mention or quote the brand; when no post in
    the case does, nothing can be sent from Carebot, so the agent is offered the post on X.
    """
    network = network_label or _network(case)
    message = (
        f":no_entry: *{network} won't take a reply to this case from Carebot.* "
        f"{network} lets the brand reply only to posts that mention or quote it, and none of "
        f"@{escape_mrkdwn(case.author_handle)}'s posts still up in this case does. Answer on "
        f"{network} itself, or wait until the customer mentions the brand again."
    )
    blocks: list[Block] = [
        *_post_blocks(case, network),
        SectionBlock(
            block_id=BlockId.REPLY_BLOCKED,
            text=MarkdownTextObject(text=message),
            accessory=ButtonElement(
                text=f"Open on {network}", action_id=ActionId.OPEN_POST, url=post_url
            ),
        ),
    ]
    return _modal(CallbackId.REPLY_MODAL, f"Reply on {network}", case, blocks, close="Close")


def sending_view(case: Case, text: str, *, network_label: str | None = None) -> dict[str, Any]:
    """Build the view shown while a reply is on its way (no submit button)."""
    network = network_label or _network(case)
    message = f":hourglass_flowing_sand: Sending your reply…\n{_quoted(text)}"
    blocks: list[Block] = [
        SectionBlock(block_id=BlockId.MODAL_PROGRESS, text=MarkdownTextObject(text=message))
    ]
    return _modal(CallbackId.REPLY_MODAL, f"Reply on {network}", case, blocks, close="Close")


def checking_view(
    case: Case, text: str, reason: str, *, network_label: str | None = None
) -> dict[str, Any]:
    """Build the view shown when the network's answer was lost: no Send, and no invitation to
    send again, because the reply may be posted."""
    network = network_label or _network(case)
    message = (
        f":mag: {escape_mrkdwn(truncate(reason, 1500))}\n{_quoted(text)}\n"
        "You can close this window: the outcome also goes to the card's thread and to you by "
        "direct message, with your text if it did not go out."
    )
    blocks: list[Block] = [
        SectionBlock(block_id=BlockId.MODAL_PROGRESS, text=MarkdownTextObject(text=message))
    ]
    return _modal(CallbackId.REPLY_MODAL, f"Reply on {network}", case, blocks, close="Close")


def sent_view(
    case: Case, reply_url: str | None, *, network_label: str | None = None
) -> dict[str, Any]:
    """Build the view confirming a reply went out, with a link to it."""
    network = network_label or _network(case)
    where = f" {link(reply_url, f'View it on {network}')}." if reply_url else ""
    message = f":white_check_mark: Reply sent to @{escape_mrkdwn(case.author_handle)}.{where}"
    blocks: list[Block] = [
        SectionBlock(block_id=BlockId.MODAL_PROGRESS, text=MarkdownTextObject(text=message))
    ]
    return _modal(CallbackId.REPLY_MODAL, f"Reply on {network}", case, blocks, close="Done")


def resolve_modal(
    case: Case, *, network_label: str | None = None, seen: int | None = None
) -> dict[str, Any]:
    """Build the Resolve modal: an optional reason and an optional note."""
    network = network_label or _network(case)
    reasons = [Option(value=reason, text=reason.label) for reason in ResolveReason]
    blocks: list[Block] = [
        *_post_blocks(case, network),
        InputBlock(
            block_id=BlockId.RESOLVE_REASON,
            label="Reason",
            optional=True,
            element=StaticSelectElement(
                action_id=ActionId.RESOLVE_REASON,
                placeholder="Pick a reason",
                options=reasons,
            ),
        ),
        InputBlock(
            block_id=BlockId.RESOLVE_NOTE,
            label="Note",
            optional=True,
            hint="Shown on the card and in its thread.",
            element=PlainTextInputElement(
                action_id=ActionId.RESOLVE_NOTE,
                multiline=True,
                max_length=RESOLVE_NOTE_LIMIT,
            ),
        ),
    ]
    return _modal(
        CallbackId.RESOLVE_MODAL,
        "Resolve case",
        case,
        blocks,
        submit="Resolve",
        close="Cancel",
        seen=seen,
    )


def parse_reply_submission(view: Mapping[str, Any]) -> ReplySubmission:
    """Read the case, the reply text and the resolve-after choice from a submitted Reply modal."""
    values = _state(view)
    text = _value(values, BlockId.REPLY_TEXT, ActionId.REPLY_TEXT).get("value") or ""
    chosen = _value(values, BlockId.RESOLVE_AFTER, ActionId.RESOLVE_AFTER).get("selected_options")
    resolve_after = any(option.get("value") == OptionValue.RESOLVE_AFTER for option in chosen or [])
    return ReplySubmission(
        case_id=ModalMetadata.parse(view.get("private_metadata")).case_id,
        text=str(text),
        resolve_after=resolve_after,
    )


def parse_resolve_submission(view: Mapping[str, Any]) -> ResolveSubmission:
    """Read the case, reason and note from a submitted Resolve modal."""
    values = _state(view)
    selected = _value(values, BlockId.RESOLVE_REASON, ActionId.RESOLVE_REASON).get(
        "selected_option"
    )
    reason = None
    if selected:
        try:
            reason = ResolveReason(selected.get("value"))
        except ValueError as exc:
            raise ValueError(f"unknown resolve reason {selected.get('value')!r}") from exc
    note = str(_value(values, BlockId.RESOLVE_NOTE, ActionId.RESOLVE_NOTE).get("value") or "")
    metadata = ModalMetadata.parse(view.get("private_metadata"))
    return ResolveSubmission(
        case_id=metadata.case_id,
        reason=reason,
        note=note.strip() or None,
        seen=metadata.seen,
    )


def _network(case: Case) -> str:
    return label_for_network(case.network)


def _quoted(text: str) -> str:
    return quote(truncate(escape_mrkdwn(text), POST_PREVIEW_LIMIT))


def _post_blocks(case: Case, network: str) -> list[Block]:
    """Show the customer's post so the agent answers without switching windows."""
    author = (
        f"*{escape_mrkdwn(case.author_name)}* @{escape_mrkdwn(case.author_handle)} · "
        f"{slack_date(case.posted_at)} · {link(case.url, f'View on {network}')}"
    )
    return [
        ContextBlock(block_id=BlockId.MODAL_POST, elements=[MarkdownTextObject(text=author)]),
        SectionBlock(
            block_id=BlockId.MODAL_POST_TEXT,
            text=MarkdownTextObject(
                text=removed_note(case.content_removed)
                if case.content_removed
                else _quoted(case.text) or "_(no text)_",
                verbatim=True,
            ),
        ),
    ]


def _modal(
    callback_id: CallbackId,
    title: str,
    case: Case,
    blocks: list[Block],
    *,
    submit: str | None = None,
    close: str,
    seen: int | None = None,
) -> dict[str, Any]:
    if case.id is None:
        raise ValueError("a modal needs a stored case; this one has no id yet")
    view = View(
        type="modal",
        callback_id=callback_id,
        title=truncate(title, TITLE_LIMIT),
        submit=submit,
        close=close,
        blocks=blocks,
        private_metadata=ModalMetadata(case.id, seen).encode(),
    )
    return view.to_dict()


def _state(view: Mapping[str, Any]) -> Mapping[str, Any]:
    values = view.get("state", {}).get("values")
    if not isinstance(values, Mapping):
        raise ValueError("the submitted view has no state values")
    return values


def _value(values: Mapping[str, Any], block_id: BlockId, action_id: ActionId) -> Mapping[str, Any]:
    entry = values.get(block_id, {}).get(action_id, {})
    return entry if isinstance(entry, Mapping) else {}
