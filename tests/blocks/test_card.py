"""The mention card, checked as data: content, buttons by state, escaping and Slack's limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.blocks.card import CardMessage, DeadlineState, deadline_state, render_card
from bot.blocks.ids import ActionId, BlockId, MetadataEvent
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
        "author_followers": 12_400,
        "author_verified": True,
        "text": "@brand my order never arrived, can someone help?",
        "url": "https://x.com/dana_k/status/1790000000000000001",
        "posted_at": POSTED,
        "ingested_at": POSTED + timedelta(seconds=30),
        "priority": Priority.NORMAL,
        "status": CaseStatus.OPEN,
        "message_count": 1,
        "last_customer_at": POSTED,
        "owner": None,
        "due_at": POSTED + timedelta(hours=1),
    }
    values.update(overrides)
    return Case(**values)


def render(case: Case, now: datetime | None = None) -> CardMessage:
    return render_card(case, now=now or POSTED + timedelta(minutes=5))


def buttons(card: CardMessage) -> dict[str, dict[str, Any]]:
    (actions,) = [b for b in card.blocks if b["block_id"] == BlockId.CARD_ACTIONS]
    return {element["action_id"]: element for element in actions["elements"]}


def block(card: CardMessage, block_id: BlockId) -> dict[str, Any]:
    (found,) = [b for b in card.blocks if b["block_id"] == block_id]
    return found


def all_mrkdwn(card: CardMessage) -> str:
    return json.dumps(card.blocks)


def assert_valid(card: CardMessage) -> None:
    assert 0 < len(card.blocks) <= 50
    ids = [b["block_id"] for b in card.blocks]
    assert len(ids) == len(set(ids))
    for raw in card.blocks:
        parsed = Block.parse(raw)
        assert parsed is not None
        parsed.validate_json()
        assert parsed.to_dict() == raw


def test_open_unclaimed_card_offers_claim_first() -> None:
    card = render(make_case())
    shown = buttons(card)
    assert list(shown) == [ActionId.CLAIM, ActionId.REPLY, ActionId.RESOLVE]
    assert shown[ActionId.CLAIM]["style"] == "primary"
    assert "Claim" in shown[ActionId.CLAIM]["text"]["text"]
    assert "Reply" in shown[ActionId.REPLY]["text"]["text"]
    assert "Resolve" in shown[ActionId.RESOLVE]["text"]["text"]
    assert "*Owner*\nUnclaimed" in all_mrkdwn(card).replace("\\n", "\n")
    assert_valid(card)


def test_open_claimed_card_offers_reply_first_and_release() -> None:
    card = render(make_case(owner="U0AGENT1", claimed_at=POSTED + timedelta(minutes=2)))
    shown = buttons(card)
    assert list(shown) == [ActionId.REPLY, ActionId.RELEASE, ActionId.RESOLVE]
    assert shown[ActionId.REPLY]["style"] == "primary"
    assert "Release" in shown[ActionId.RELEASE]["text"]["text"]
    assert ActionId.CLAIM not in shown
    fields = [f["text"] for f in block(card, BlockId.CARD_STATUS)["fields"]]
    assert "*Owner*\n<@U0AGENT1>" in fields
    assert_valid(card)


def test_replied_card_shows_responder_and_time_to_first_response() -> None:
    case = make_case(
        status=CaseStatus.REPLIED,
        owner="U0AGENT1",
        first_responder="U0AGENT1",
        first_response_at=POSTED + timedelta(minutes=12),
    )
    card = render(case)
    shown = buttons(card)
    assert list(shown) == [ActionId.REPLY, ActionId.RELEASE, ActionId.RESOLVE]
    assert "style" not in shown[ActionId.REPLY]
    fields = [f["text"] for f in block(card, BlockId.CARD_STATUS)["fields"]]
    assert "*Status*\nReplied by <@U0AGENT1> · first response in 12m" in fields
    assert "Replied" in card.text
    assert_valid(card)


def test_replied_card_without_owner_has_no_release() -> None:
    case = make_case(
        status=CaseStatus.REPLIED,
        first_responder="U0AGENT1",
        first_response_at=POSTED + timedelta(minutes=3),
    )
    assert list(buttons(render(case))) == [ActionId.REPLY, ActionId.RESOLVE]


def test_resolved_card_offers_only_reopen_and_shows_reason() -> None:
    case = make_case(
        status=CaseStatus.RESOLVED,
        owner="U0AGENT1",
        resolved_by="U0LEAD01",
        resolved_at=POSTED + timedelta(minutes=30),
        resolve_reason=ResolveReason.SPAM,
    )
    card = render(case)
    shown = buttons(card)
    assert list(shown) == [ActionId.REOPEN]
    assert "Reopen" in shown[ActionId.REOPEN]["text"]["text"]
    fields = [f["text"] for f in block(card, BlockId.CARD_STATUS)["fields"]]
    assert "*Status*\nResolved by <@U0LEAD01>: Spam" in fields
    assert "*Owner*\n<@U0AGENT1>" in fields
    assert_valid(card)


def test_free_text_resolve_note_is_escaped() -> None:
    case = make_case(status=CaseStatus.RESOLVED, resolved_by="U0LEAD01", resolve_note="<!here>")
    assert "Resolved by <@U0LEAD01>: &lt;!here&gt;" in all_mrkdwn(render(case))


def test_the_reason_and_the_note_read_as_one() -> None:
    case = make_case(
        status=CaseStatus.RESOLVED,
        resolved_by="U0LEAD01",
        resolve_reason=ResolveReason.SPAM,
        resolve_note="bot account",
    )
    assert "Resolved by <@U0LEAD01>: Spam: bot account" in all_mrkdwn(render(case))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"owner": "U0AGENT1"},
        {"status": CaseStatus.REPLIED, "first_response_at": POSTED, "first_responder": "U0AGENT1"},
        {"status": CaseStatus.RESOLVED, "resolved_by": "U0AGENT1"},
    ],
)
def test_every_button_carries_the_case_id(overrides: dict[str, Any]) -> None:
    for element in buttons(render(make_case(**overrides))).values():
        assert element["value"] == "42"


def test_block_ids_are_stable_across_states() -> None:
    open_ids = [b["block_id"] for b in render(make_case()).blocks]
    claimed_ids = [b["block_id"] for b in render(make_case(owner="U0AGENT1")).blocks]
    assert open_ids == claimed_ids


def test_hostile_text_renders_inert() -> None:
    case = make_case(text=HOSTILE, author_name="<!everyone> Eve", author_handle="eve<@U1>")
    card = render(case)
    text_block = block(card, BlockId.CARD_TEXT)["text"]
    assert text_block["text"] == "&lt;!channel&gt; &lt;@U123&gt; &amp;lt; &lt;https://evil|x&gt;"
    assert text_block["verbatim"] is True
    rendered = all_mrkdwn(card) + card.text
    for live in ["<!channel>", "<@U123>", "<https://evil", "<!everyone>", "<@U1>"]:
        assert live not in rendered
    assert_valid(card)


def test_very_long_text_is_cut_within_section_limits_with_a_note() -> None:
    card = render(make_case(text="word " * 2000))
    for raw in card.blocks:
        if raw["type"] == "section" and "text" in raw:
            assert len(raw["text"]["text"]) <= 3000
        for field in raw.get("fields", []):
            assert len(field["text"]) <= 2000
    assert block(card, BlockId.CARD_TEXT)["text"]["text"].endswith("…")
    note = block(card, BlockId.CARD_TEXT_CUT)["elements"][0]["text"]
    assert "full post" in note
    assert "https://x.com/dana_k/status/1790000000000000001" in note
    assert_valid(card)


def test_long_escaped_text_is_cut_without_breaking_entities() -> None:
    card = render(make_case(text="<" * 10_000))
    shown = block(card, BlockId.CARD_TEXT)["text"]["text"]
    assert len(shown) <= 3000
    assert shown.removesuffix("…").replace("&lt;", "") == ""


def test_short_text_has_no_cut_note() -> None:
    ids = [b["block_id"] for b in render(make_case()).blocks]
    assert BlockId.CARD_TEXT_CUT not in ids


def test_head_shows_network_author_followers_and_verified_mark() -> None:
    head = block(render(make_case()), BlockId.CARD_HEAD)["text"]["text"]
    assert "*X*" in head
    assert "*Dana K* @dana_k" in head
    assert ":white_check_mark:" in head
    assert "12.4k followers" in head


def test_head_omits_unknown_followers_and_verification() -> None:
    head = block(render(make_case(author_followers=None, author_verified=None)), BlockId.CARD_HEAD)[
        "text"
    ]["text"]
    assert "followers" not in head
    assert ":white_check_mark:" not in head


def test_meta_shows_post_time_link_and_message_count() -> None:
    meta = block(render(make_case(message_count=3)), BlockId.CARD_META)["elements"][0]["text"]
    assert f"<!date^{int(POSTED.timestamp())}^" in meta
    assert "<https://x.com/dana_k/status/1790000000000000001|View on X>" in meta
    assert "3 messages" in meta
    single = block(render(make_case()), BlockId.CARD_META)["elements"][0]["text"]
    assert "messages" not in single


def test_deadline_is_a_slack_date_token() -> None:
    fields = [f["text"] for f in block(render(make_case()), BlockId.CARD_STATUS)["fields"]]
    (deadline,) = [f for f in fields if f.startswith("*Respond by*")]
    due = int((POSTED + timedelta(hours=1)).timestamp())
    assert re.search(
        rf"<!date\^{due}\^\{{date_short_pretty\}} at \{{time\}}\|[^<>|]+ UTC>", deadline
    )
    assert "On track" in deadline


@pytest.mark.parametrize(
    ("minutes", "state", "label"),
    [
        (10, DeadlineState.ON_TRACK, "On track"),
        (45, DeadlineState.DUE_SOON, "Due soon"),
        (59, DeadlineState.DUE_SOON, "Due soon"),
        (60, DeadlineState.OVERDUE, "Overdue"),
        (90, DeadlineState.OVERDUE, "Overdue"),
    ],
)
def test_deadline_state_while_open(minutes: int, state: DeadlineState, label: str) -> None:
    case = make_case()
    now = POSTED + timedelta(minutes=minutes)
    assert deadline_state(case, now=now) == state
    assert label in json.dumps(render(case, now).blocks)


def test_due_soon_after_overrides_the_default_window() -> None:
    case = make_case()
    now = POSTED + timedelta(minutes=20)
    assert deadline_state(case, now=now, due_soon_after=now) == DeadlineState.DUE_SOON
    assert deadline_state(case, now=now) == DeadlineState.ON_TRACK


def test_deadline_met_missed_and_not_owed() -> None:
    late = POSTED + timedelta(hours=2)
    met = make_case(status=CaseStatus.REPLIED, first_response_at=POSTED + timedelta(minutes=5))
    missed = make_case(status=CaseStatus.REPLIED, first_response_at=late)
    closed = make_case(status=CaseStatus.RESOLVED, resolved_at=late)
    assert deadline_state(met, now=late) == DeadlineState.MET
    assert deadline_state(missed, now=late) == DeadlineState.MISSED
    assert deadline_state(closed, now=late) == DeadlineState.NONE
    assert deadline_state(make_case(due_at=None), now=late) == DeadlineState.NONE


def test_urgent_is_shown_prominently() -> None:
    card = render(make_case(priority=Priority.URGENT))
    assert block(card, BlockId.CARD_HEAD)["text"]["text"].startswith(":rotating_light: *URGENT*")
    fields = [f["text"] for f in block(card, BlockId.CARD_STATUS)["fields"]]
    assert "*Priority*\n:rotating_light: *Urgent*" in fields
    assert card.text.startswith("[Urgent]")
    assert "URGENT" not in json.dumps(render(make_case()).blocks)


def test_fallback_text_names_network_handle_excerpt_and_status() -> None:
    card = render(make_case(text="line one\n\nline two " + "x" * 400))
    assert card.text.startswith("X mention from @dana_k: line one line two")
    assert card.text.endswith("(Open)")
    assert len(card.text) < 250


def test_fallback_text_is_never_empty_and_escaped() -> None:
    assert render(make_case(text="")).text
    assert "<!channel>" not in render(make_case(text=HOSTILE)).text


def test_metadata_names_the_case() -> None:
    card = render(make_case())
    assert card.metadata == {"event_type": "carebot_case_card", "event_payload": {"case_id": 42}}
    assert card.metadata["event_type"] == MetadataEvent.CASE_CARD
    assert card.as_kwargs()["metadata"] is card.metadata


def test_case_without_id_is_refused() -> None:
    with pytest.raises(ValueError, match="no id"):
        render(make_case(id=None))


def test_a_card_resolved_without_a_reply_does_not_say_unclaimed() -> None:
    card = render(
        make_case(
            status=CaseStatus.RESOLVED,
            resolved_by="U0LEAD01",
            resolved_at=POSTED + timedelta(minutes=30),
            resolve_reason=ResolveReason.SPAM,
        )
    )
    fields = [f["text"] for f in block(card, BlockId.CARD_STATUS)["fields"]]
    assert "*Owner*\nUnclaimed" not in fields
    assert "*Owner*\nNobody (closed)" in fields
    outcome = str(block(card, BlockId.CARD_OUTCOME))
    assert "closed without a reply" in outcome
    assert "Wed 1 May 2024 at 12:30 UTC" in outcome


def test_a_card_resolved_after_a_reply_still_says_who_replied_and_how_fast() -> None:
    card = render(
        make_case(
            status=CaseStatus.RESOLVED,
            owner="U0AGENT1",
            first_responder="U0AGENT1",
            first_response_at=POSTED + timedelta(minutes=12),
            resolved_by="U0AGENT1",
            resolved_at=POSTED + timedelta(minutes=13),
        )
    )
    outcome = str(block(card, BlockId.CARD_OUTCOME))
    assert "replied by <@U0AGENT1>" in outcome
    assert "first response in 12m" in outcome
    fields = [f["text"] for f in block(card, BlockId.CARD_STATUS)["fields"]]
    assert "*Owner*\n<@U0AGENT1>" in fields


def test_open_cards_have_no_outcome_line() -> None:
    assert not [b for b in render(make_case()).blocks if b["block_id"] == BlockId.CARD_OUTCOME]
