"""Every Slack identifier Carebot owns, in one place: action and block ids, modal callback ids, the
slash command and the message-metadata event type. Builders, handler registration, tests and
`manifest.yml` all use these values, so a rename cannot leave one of them behind."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """`action_id`s of interactive elements: card buttons and modal inputs."""

    CLAIM = "case_claim"
    RELEASE = "case_release"
    REPLY = "case_reply"
    RESOLVE = "case_resolve"
    REOPEN = "case_reopen"
    REPLY_TEXT = "reply_text"
    RESOLVE_AFTER = "resolve_after"
    RESOLVE_REASON = "resolve_reason"
    RESOLVE_NOTE = "resolve_note"
    SHARE_DIGEST = "digest_share"
    OPEN_POST = "open_post"


class BlockId(StrEnum):
    """`block_id`s: stable names for card sections and the modal inputs whose state we read."""

    CARD_HEAD = "card_head"
    CARD_TEXT = "card_text"
    CARD_TEXT_CUT = "card_text_cut"
    CARD_META = "card_meta"
    CARD_STATUS = "card_status"
    CARD_OUTCOME = "card_outcome"
    CARD_ACTIONS = "card_actions"
    MODAL_POST = "modal_post"
    MODAL_POST_TEXT = "modal_post_text"
    MODAL_ERROR = "modal_error"
    MODAL_PROGRESS = "modal_progress"
    REPLY_TEXT = "reply_text_block"
    RESOLVE_AFTER = "resolve_after_block"
    RESOLVE_REASON = "resolve_reason_block"
    RESOLVE_NOTE = "resolve_note_block"
    REPLY_BLOCKED = "reply_blocked"


class CallbackId(StrEnum):
    """Modal `callback_id`s, matched by the view-submission listeners."""

    REPLY_MODAL = "reply_modal"
    RESOLVE_MODAL = "resolve_modal"


class Command(StrEnum):
    """Slash commands, as declared in `manifest.yml`."""

    CARE = "/care"


class MetadataEvent(StrEnum):
    """Message-metadata event types; a card carries its case id so it can be found again."""

    CASE_CARD = "carebot_case_card"


class OptionValue(StrEnum):
    """Values of the fixed options in modal checkboxes."""

    RESOLVE_AFTER = "resolve"
