"""The Reply and Resolve modals, the sending/sent views, and the private_metadata codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.views import View

from bot.blocks.codecs import case_id_from_metadata, decode_metadata, encode_metadata
from bot.blocks.ids import ActionId, BlockId, CallbackId, OptionValue
from bot.blocks.modals import (
    ReplySubmission,
    ResolveSubmission,
    input_errors,
    parse_reply_submission,
    parse_resolve_submission,
    reply_modal,
    resolve_modal,
    sending_view,
    sent_view,
)
from bot.domain import Case, CaseStatus, Priority, ResolveReason

POSTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOSTILE = "<!channel> <@U123> &lt; <https://evil|x>"


def make_case(**overrides: Any) -> Case:
    values: dict[str, Any] = {
        "id": 42,
        "network": "x",
        "external_id": "1790000000000000001",
        "conversation_id": "1790000000000000001",
        "author_id": "9001",
        "author_handle": "dana_k",
        "author_name": "Dana K",
        "text": "@brand my order never arrived",
        "url": "https://x.com/dana_k/status/1790000000000000001",
        "posted_at": POSTED,
        "ingested_at": POSTED,
        "priority": Priority.NORMAL,
        "status": CaseStatus.OPEN,
        "message_count": 1,
        "last_customer_at": POSTED,
        "due_at": POSTED + timedelta(hours=1),
    }
    values.update(overrides)
    return Case(**values)


def assert_valid(modal: dict[str, Any]) -> None:
    View(**modal).validate_json()
    assert len(modal["title"]["text"]) <= 24
    assert len(modal["blocks"]) <= 100
    ids = [b["block_id"] for b in modal["blocks"]]
    assert len(ids) == len(set(ids))


def find(modal: dict[str, Any], block_id: BlockId) -> dict[str, Any]:
    found: dict[str, Any]
    (found,) = [b for b in modal["blocks"] if b["block_id"] == block_id]
    return found


def test_reply_modal_shape() -> None:
    modal = reply_modal(make_case(), reply_limit=280)
    assert_valid(modal)
    assert modal["type"] == "modal"
    assert modal["callback_id"] == CallbackId.REPLY_MODAL
    assert modal["title"]["text"] == "Reply on X"
    assert modal["submit"]["text"] == "Send"
    assert modal["close"]["text"] == "Cancel"
    assert decode_metadata(modal["private_metadata"]) == {"case_id": 42}
    element = find(modal, BlockId.REPLY_TEXT)["element"]
    assert element["type"] == "plain_text_input"
    assert element["action_id"] == ActionId.REPLY_TEXT
    assert element["multiline"] is True
    assert element["max_length"] == 280
    assert "initial_value" not in element
    assert BlockId.MODAL_ERROR not in [b["block_id"] for b in modal["blocks"]]


def test_reply_modal_has_exactly_one_text_input() -> None:
    modal = reply_modal(make_case(), reply_limit=280)
    text_inputs = [
        b
        for b in modal["blocks"]
        if b["type"] == "input" and b["element"]["type"] == "plain_text_input"
    ]
    assert len(text_inputs) == 1


def test_reply_modal_resolve_after_is_checked_by_default() -> None:
    checkbox = find(reply_modal(make_case(), reply_limit=280), BlockId.RESOLVE_AFTER)
    assert checkbox["optional"] is True
    element = checkbox["element"]
    assert element["action_id"] == ActionId.RESOLVE_AFTER
    assert [o["value"] for o in element["initial_options"]] == [OptionValue.RESOLVE_AFTER]
    assert element["options"][0]["text"]["text"] == "Resolve after sending"
    unchecked = find(
        reply_modal(make_case(), reply_limit=280, resolve_after=False), BlockId.RESOLVE_AFTER
    )
    assert "initial_options" not in unchecked["element"]


def test_reply_modal_shows_the_post_escaped() -> None:
    modal = reply_modal(make_case(text=HOSTILE, author_name="<!here>"), reply_limit=280)
    assert_valid(modal)
    post = find(modal, BlockId.MODAL_POST_TEXT)["text"]
    assert post["verbatim"] is True
    assert post["text"] == ">&lt;!channel&gt; &lt;@U123&gt; &amp;lt; &lt;https://evil|x&gt;"
    author = find(modal, BlockId.MODAL_POST)["elements"][0]["text"]
    assert "*&lt;!here&gt;* @dana_k" in author


def test_reply_modal_cuts_a_long_post() -> None:
    modal = reply_modal(make_case(text="word " * 2000), reply_limit=280)
    assert_valid(modal)
    assert len(find(modal, BlockId.MODAL_POST_TEXT)["text"]["text"]) <= 3000


def test_reply_modal_reshown_after_an_error_keeps_the_text() -> None:
    modal = reply_modal(
        make_case(), reply_limit=280, initial_text="Sorry <3 & thanks", error="X is down <now>"
    )
    assert_valid(modal)
    assert find(modal, BlockId.REPLY_TEXT)["element"]["initial_value"] == "Sorry <3 & thanks"
    assert find(modal, BlockId.MODAL_ERROR)["text"]["text"] == ":warning: X is down &lt;now&gt;"


def test_reply_modal_never_drops_reshown_text_longer_than_the_limit() -> None:
    too_long = "a" * 300
    modal = reply_modal(make_case(), reply_limit=280, initial_text=too_long)
    assert_valid(modal)
    element = find(modal, BlockId.REPLY_TEXT)["element"]
    assert element["initial_value"] == too_long
    assert element["max_length"] == 300


def test_reply_modal_title_fits_long_network_names() -> None:
    modal = reply_modal(make_case(), reply_limit=500, network_label="A Very Long Network Name")
    assert_valid(modal)
    assert modal["title"]["text"].startswith("Reply on A Very")


def test_reply_modal_rejects_a_nonsense_limit() -> None:
    with pytest.raises(ValueError, match="positive"):
        reply_modal(make_case(), reply_limit=0)


def test_sending_view_has_no_submit_button() -> None:
    view = sending_view(make_case(), "On it <@U1>!")
    assert_valid(view)
    assert "submit" not in view
    text = find(view, BlockId.MODAL_PROGRESS)["text"]["text"]
    assert "Sending your reply…" in text
    assert "&lt;@U1&gt;" in text
    assert decode_metadata(view["private_metadata"]) == {"case_id": 42}


def test_sent_view_links_to_the_reply() -> None:
    view = sent_view(make_case(), "https://x.com/brand/status/2")
    assert_valid(view)
    assert "submit" not in view
    text = find(view, BlockId.MODAL_PROGRESS)["text"]["text"]
    assert "<https://x.com/brand/status/2|View it on X>" in text
    assert (
        "Reply sent" in find(sent_view(make_case(), None), BlockId.MODAL_PROGRESS)["text"]["text"]
    )


def test_resolve_modal_shape() -> None:
    modal = resolve_modal(make_case())
    assert_valid(modal)
    assert modal["callback_id"] == CallbackId.RESOLVE_MODAL
    assert modal["submit"]["text"] == "Resolve"
    reason = find(modal, BlockId.RESOLVE_REASON)
    assert reason["optional"] is True
    assert reason["element"]["type"] == "static_select"
    assert reason["element"]["action_id"] == ActionId.RESOLVE_REASON
    labels = [o["text"]["text"] for o in reason["element"]["options"]]
    assert labels == ["Praise", "Spam", "Duplicate", "Handled elsewhere", "Other"]
    note = find(modal, BlockId.RESOLVE_NOTE)
    assert note["optional"] is True
    assert note["element"]["action_id"] == ActionId.RESOLVE_NOTE


def test_metadata_round_trips() -> None:
    encoded = encode_metadata(case_id=7, note="hé")
    assert decode_metadata(encoded) == {"case_id": 7, "note": "hé"}
    assert case_id_from_metadata(encoded) == 7


@pytest.mark.parametrize("garbage", [None, "", "not json", "[1, 2]", "null", "42", '"x"'])
def test_decode_metadata_rejects_garbage(garbage: str | None) -> None:
    with pytest.raises(ValueError, match="private_metadata"):
        decode_metadata(garbage)


@pytest.mark.parametrize("text", ['{"case_id": "7"}', '{"case_id": true}', '{"case_id": 0}', "{}"])
def test_case_id_must_be_a_positive_integer(text: str) -> None:
    with pytest.raises(ValueError, match="case_id"):
        case_id_from_metadata(text)


def test_encode_metadata_rejects_what_slack_cannot_carry() -> None:
    with pytest.raises(ValueError, match="plain JSON"):
        encode_metadata(when=POSTED)
    with pytest.raises(ValueError, match="3000"):
        encode_metadata(blob="x" * 3000)


def submitted(values: dict[str, Any], metadata: str = '{"case_id":42}') -> dict[str, Any]:
    return {"private_metadata": metadata, "state": {"values": values}}


def test_parse_reply_submission() -> None:
    view = submitted(
        {
            BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: {"type": "plain_text_input", "value": "Hi"}},
            BlockId.RESOLVE_AFTER: {
                ActionId.RESOLVE_AFTER: {
                    "type": "checkboxes",
                    "selected_options": [{"value": OptionValue.RESOLVE_AFTER}],
                }
            },
        }
    )
    assert parse_reply_submission(view) == ReplySubmission(
        case_id=42, text="Hi", resolve_after=True
    )


def test_parse_reply_submission_with_nothing_filled_in() -> None:
    view = submitted(
        {
            BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: {"type": "plain_text_input", "value": None}},
            BlockId.RESOLVE_AFTER: {
                ActionId.RESOLVE_AFTER: {"type": "checkboxes", "selected_options": []}
            },
        }
    )
    assert parse_reply_submission(view) == ReplySubmission(case_id=42, text="", resolve_after=False)


def test_parse_resolve_submission() -> None:
    view = submitted(
        {
            BlockId.RESOLVE_REASON: {
                ActionId.RESOLVE_REASON: {
                    "type": "static_select",
                    "selected_option": {"value": "spam"},
                }
            },
            BlockId.RESOLVE_NOTE: {
                ActionId.RESOLVE_NOTE: {"type": "plain_text_input", "value": " bot "}
            },
        }
    )
    assert parse_resolve_submission(view) == ResolveSubmission(
        case_id=42, reason=ResolveReason.SPAM, note="bot"
    )
    empty = submitted(
        {
            BlockId.RESOLVE_REASON: {ActionId.RESOLVE_REASON: {"selected_option": None}},
            BlockId.RESOLVE_NOTE: {ActionId.RESOLVE_NOTE: {"value": None}},
        }
    )
    assert parse_resolve_submission(empty) == ResolveSubmission(case_id=42, reason=None, note=None)


def test_parse_rejects_views_without_state_or_with_unknown_reasons() -> None:
    with pytest.raises(ValueError, match="state"):
        parse_reply_submission({"private_metadata": '{"case_id":1}'})
    bad = submitted(
        {BlockId.RESOLVE_REASON: {ActionId.RESOLVE_REASON: {"selected_option": {"value": "x"}}}}
    )
    with pytest.raises(ValueError, match="unknown resolve reason"):
        parse_resolve_submission(bad)


def test_input_errors_targets_the_block() -> None:
    assert input_errors(BlockId.REPLY_TEXT, "Too long") == {
        "response_action": "errors",
        "errors": {"reply_text_block": "Too long"},
    }


def test_reply_blocked_modal_offers_the_post_and_no_input() -> None:
    from bot.blocks.modals import reply_blocked_modal
    from bot.sandbox.blockkit import validate_view

    case = _xrules_case()
    view = reply_blocked_modal(case, post_url="https://x.com/dana/status/9")
    assert validate_view(view) == []
    assert view.get("submit") is None
    blocked = next(b for b in view["blocks"] if b.get("block_id") == BlockId.REPLY_BLOCKED)
    assert blocked["accessory"]["url"] == "https://x.com/dana/status/9"
    assert blocked["accessory"]["text"]["text"] == "Open on X"
    assert "mention or quote it" in blocked["text"]["text"]


def test_a_removed_post_shows_its_note_in_the_modal() -> None:
    from bot.blocks.modals import reply_modal

    case = _xrules_case(text="", content_removed="deleted")
    shown = str(reply_modal(case, reply_limit=280)["blocks"])
    assert "The author deleted this post." in shown


def _xrules_case(**overrides: Any) -> Case:
    from datetime import UTC, datetime

    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": 7,
        "network": "x",
        "external_id": "9",
        "conversation_id": "9",
        "author_id": "42",
        "author_handle": "dana",
        "author_name": "Dana",
        "text": "@acmehelp hi",
        "url": "https://x.com/dana/status/9",
        "posted_at": at,
        "ingested_at": at,
        "last_customer_at": at,
    }
    values.update(overrides)
    return Case(**values)
