"""The mention card: one Slack message per case, rendered from the row alone and re-rendered on
every change of owner or status (`chat.update`). It never carries state that is not in the case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.blocks.codecs import CaseButton
from bot.blocks.compliance import removed_note
from bot.blocks.ids import ActionId, BlockId, MetadataEvent
from bot.blocks.kit import Json, actions, button, context, mrkdwn, section
from bot.blocks.text import (
    compact_number,
    escape_mrkdwn,
    link,
    slack_date,
    truncate,
    user_mention,
)
from bot.clock import ensure_utc
from bot.domain.cases import Case, CaseStatus, Priority, describe_resolution
from bot.domain.networks import network_icon, network_label
from bot.durations import format_duration

SECTION_TEXT_LIMIT = 3000
FALLBACK_EXCERPT = 150
# The last quarter of the response window counts as "due soon".
DUE_SOON_FRACTION = 0.25


class DeadlineState(StrEnum):
    """Where a case stands against its first-response target."""

    NONE = "none"
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    MET = "met"
    MISSED = "missed"


_DEADLINE_LABELS = {
    DeadlineState.ON_TRACK: "On track",
    DeadlineState.DUE_SOON: ":hourglass_flowing_sand: *Due soon*",
    DeadlineState.OVERDUE: ":red_circle: *Overdue*",
    DeadlineState.MET: "Met",
    DeadlineState.MISSED: "Missed",
}


@dataclass(frozen=True, slots=True)
class CardMessage:
    """A rendered card: notification text, blocks and the metadata that names its case."""

    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_kwargs(self) -> dict[str, Any]:
        """Return the card as keyword arguments for `chat.postMessage` / `chat.update`."""
        return {"text": self.text, "blocks": self.blocks, "metadata": self.metadata}


def deadline_state(
    case: Case, *, now: datetime, due_soon_after: datetime | None = None
) -> DeadlineState:
    """Classify the case against its deadline; `due_soon_after` defaults to the last quarter."""
    if case.due_at is None:
        return DeadlineState.NONE
    due_at = ensure_utc(case.due_at)
    if case.status != CaseStatus.OPEN:
        if case.first_response_at is None:
            # Closed without a reply (spam, handled elsewhere): no response was owed.
            return DeadlineState.NONE
        # A breach recorded by the nag ladder also counts when a later deadline replaced due_at.
        met = case.breached_at is None and ensure_utc(case.first_response_at) <= due_at
        return DeadlineState.MET if met else DeadlineState.MISSED
    # Open means a response is owed, also when a follow-up reopened a replied case: the card
    # shows the state of that next-response deadline, not whether the first one was met.
    moment = ensure_utc(now)
    if moment >= due_at or case.breached_at is not None:
        return DeadlineState.OVERDUE
    if due_soon_after is None:
        if (case.nag_step or 0) >= 1:
            # The ladder's warning is out (timed in business hours): the card agrees with it.
            return DeadlineState.DUE_SOON
        started = (
            case.posted_at
            if case.first_response_at is None
            else case.last_customer_at or case.posted_at
        )
        due_soon_after = due_at - (due_at - ensure_utc(started)) * DUE_SOON_FRACTION
    if moment >= ensure_utc(due_soon_after):
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TRACK


def render_card(
    case: Case, *, now: datetime, due_soon_after: datetime | None = None
) -> CardMessage:
    """Render the case as its Slack card."""
    if case.id is None:
        raise ValueError("a card needs a stored case; this one has no id yet")
    network = network_label(case.network)
    urgent = case.priority == Priority.URGENT
    escaped = escape_mrkdwn(case.text)
    shown = truncate(escaped, SECTION_TEXT_LIMIT)
    if case.content_removed:
        # The customer's words are gone from the database; the card says why, not what.
        escaped = shown = removed_note(case.content_removed)

    blocks: list[Json] = [
        section(BlockId.CARD_HEAD, text=mrkdwn(_head(case, network))),
        # verbatim keeps Slack from auto-linking names and URLs in text we did not write.
        section(BlockId.CARD_TEXT, text=mrkdwn(shown or "_(no text)_", verbatim=True)),
    ]
    if shown != escaped:
        note = f"Cut to fit Slack; {link(case.url, f'read the full post on {network}')}."
        blocks.append(context(BlockId.CARD_TEXT_CUT, [mrkdwn(note)]))
    blocks.append(context(BlockId.CARD_META, [mrkdwn(_meta(case, network))]))
    state = deadline_state(case, now=now, due_soon_after=due_soon_after)
    blocks.append(
        section(
            BlockId.CARD_STATUS,
            fields=[
                mrkdwn(f"*Priority*\n{_priority(case)}"),
                mrkdwn(f"*Respond by*\n{_deadline(case, state)}"),
                mrkdwn(f"*Status*\n{_status(case)}"),
                mrkdwn(f"*Owner*\n{_owner(case)}"),
            ],
        )
    )
    if case.status == CaseStatus.RESOLVED:
        blocks.append(context(BlockId.CARD_OUTCOME, [mrkdwn(_outcome(case))]))
    blocks.append(actions(BlockId.CARD_ACTIONS, _buttons(case)))

    excerpt = truncate(escape_mrkdwn(" ".join(case.text.split())), FALLBACK_EXCERPT)
    if case.content_removed:
        excerpt = "(post removed)"
    handle = escape_mrkdwn(case.author_handle)
    text = (
        f"{'[Urgent] ' if urgent else ''}{network} mention from @{handle}: "
        f"{excerpt or '(no text)'} ({_status_word(case)})"
    )
    return CardMessage(
        text=text,
        blocks=blocks,
        metadata={
            "event_type": str(MetadataEvent.CASE_CARD),
            "event_payload": {"case_id": case.id},
        },
    )


def _head(case: Case, network: str) -> str:
    icon = network_icon(case.network)
    parts = [
        f"{icon} *{network}*" if icon else f"*{network}*",
        f"*{escape_mrkdwn(case.author_name)}* @{escape_mrkdwn(case.author_handle)}",
    ]
    if case.author_verified:
        parts[-1] += " :white_check_mark:"
    if case.author_followers is not None:
        noun = "follower" if case.author_followers == 1 else "followers"
        parts.append(f"{compact_number(case.author_followers)} {noun}")
    prefix = ":rotating_light: *URGENT* · " if case.priority == Priority.URGENT else ""
    return prefix + " · ".join(parts)


def _meta(case: Case, network: str) -> str:
    parts = [f"Posted {slack_date(case.posted_at)}", link(case.url, f"View on {network}")]
    if (case.message_count or 1) > 1:
        parts.append(f"{case.message_count} messages")
    return " · ".join(parts)


def _priority(case: Case) -> str:
    if case.priority == Priority.URGENT:
        return ":rotating_light: *Urgent*"
    return "Normal"


def _deadline(case: Case, state: DeadlineState) -> str:
    if case.due_at is None:
        return "No target"
    token = slack_date(case.due_at)
    label = _DEADLINE_LABELS.get(state)
    return f"{token} · {label}" if label else token


def _first_response(case: Case) -> str:
    if case.first_response_at is None:
        return ""
    # Clamped at zero: the network's post time and our clock can disagree by a few seconds.
    waited = max(ensure_utc(case.first_response_at) - ensure_utc(case.posted_at), timedelta(0))
    return f" · first response in {format_duration(waited)}"


def _status(case: Case) -> str:
    if case.status == CaseStatus.REPLIED:
        who = f" by {user_mention(case.first_responder)}" if case.first_responder else ""
        return f"Replied{who}{_first_response(case)}"
    if case.status == CaseStatus.RESOLVED:
        who = f" by {user_mention(case.resolved_by)}" if case.resolved_by else ""
        reason = describe_resolution(case.resolve_reason, case.resolve_note)
        why = f": {escape_mrkdwn(truncate(reason, 300))}" if reason else ""
        return f"Resolved{who}{why}"
    if case.first_response_at is not None:
        return f"Open (customer wrote again){_first_response(case)}"
    return "Open"


def _outcome(case: Case) -> str:
    """Say how a closed case ended: when, and who replied (it stays on the card) or that
    nobody did."""
    when = f"Closed {slack_date(case.resolved_at)}" if case.resolved_at else "Closed"
    if case.first_responder:
        return f"{when} · replied by {user_mention(case.first_responder)}{_first_response(case)}"
    return f"{when} · closed without a reply"


def _status_word(case: Case) -> str:
    return {CaseStatus.REPLIED: "Replied", CaseStatus.RESOLVED: "Resolved"}.get(
        CaseStatus(case.status), "Open"
    )


def _owner(case: Case) -> str:
    if case.owner:
        return user_mention(case.owner)
    # A closed case nobody claimed is not waiting for anyone: "Unclaimed" would say it is.
    return "Nobody (closed)" if case.status == CaseStatus.RESOLVED else "Unclaimed"


def button_value(case: Case) -> str:
    """Return what a card button carries: the case id and the state version the card shows
    (`42:7`), so a press on an older drawing, or a replayed request, is recognised as stale."""
    # A case not read from the database has no version yet, and its buttons carry none.
    return CaseButton(case.id, case.state_version).encode()


def _button(label: str, action: ActionId, case: Case, *, primary: bool = False) -> Json:
    return button(label, action, button_value(case), primary=primary)


def _buttons(case: Case) -> list[Json]:
    if case.status == CaseStatus.RESOLVED:
        return [_button("Reopen", ActionId.REOPEN, case)]
    if case.status == CaseStatus.OPEN and case.owner is None:
        return [
            _button("Claim", ActionId.CLAIM, case, primary=True),
            _button("Reply", ActionId.REPLY, case),
            _button("Resolve", ActionId.RESOLVE, case),
        ]
    # A replied case stays workable: agents may answer again, hand it back or close it.
    buttons = [_button("Reply", ActionId.REPLY, case, primary=case.status == CaseStatus.OPEN)]
    if case.owner is not None:
        buttons.append(_button("Release", ActionId.RELEASE, case))
    buttons.append(_button("Resolve", ActionId.RESOLVE, case))
    return buttons
