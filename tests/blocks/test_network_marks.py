"""What a card and the Reply modal say about the case's network: the network's icon in the card's
head (one emoji per network, from its registry spec), and who will see a reply there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.blocks.card import render_card
from bot.blocks.ids import BlockId
from bot.blocks.modals import reply_modal
from bot.domain.cases import Case, CaseStatus, Priority
from bot.domain.networks import network_icon
from bot.sources.registry import NETWORKS, network_spec

POSTED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HANDLES = {"x": "dana_k", "bluesky": "kim-w.bsky.social", "mastodon": "sam@social.example"}


def make_case(network: str, **overrides: Any) -> Case:
    values: dict[str, Any] = {
        "id": 7,
        "network": network,
        "external_id": "101",
        "conversation_id": "101",
        "author_id": "9001",
        "author_handle": HANDLES.get(network, "someone"),
        "author_name": "A Customer",
        "author_followers": 40,
        "author_verified": False,
        "text": "where is my order?",
        "url": "https://example.org/post/101",
        "posted_at": POSTED,
        "ingested_at": POSTED,
        "priority": Priority.NORMAL,
        "status": CaseStatus.OPEN,
        "message_count": 1,
        "last_customer_at": POSTED,
        "owner": None,
        "due_at": POSTED + timedelta(hours=1),
    }
    values.update(overrides)
    return Case(**values)


def head(case: Case) -> str:
    card = render_card(case, now=POSTED)
    (found,) = [b for b in card.blocks if b["block_id"] == BlockId.CARD_HEAD]
    return str(found["text"]["text"])


def reply_hint(case: Case) -> str:
    view = reply_modal(case, reply_limit=300)
    (found,) = [b for b in view["blocks"] if b.get("block_id") == BlockId.REPLY_TEXT]
    return str(found["hint"]["text"])


def test_every_network_has_its_own_icon() -> None:
    icons = [spec.icon for spec in NETWORKS]
    assert len(set(icons)) == len(icons)
    assert all(icon.startswith(":") and icon.endswith(":") for icon in icons)


@pytest.mark.parametrize("network", [spec.key for spec in NETWORKS])
def test_the_card_head_starts_with_the_network_icon_and_name(network: str) -> None:
    spec = network_spec(network)
    assert spec is not None
    assert network_icon(network) == spec.icon
    assert head(make_case(network)).startswith(f"{spec.icon} *{spec.label}* · ")


def test_an_urgent_card_keeps_the_icon_after_the_urgent_mark() -> None:
    shown = head(make_case("bluesky", priority=Priority.URGENT))
    assert shown.startswith(":rotating_light: *URGENT* · :butterfly: *Bluesky* · ")


def test_a_network_without_a_spec_has_no_icon() -> None:
    assert network_icon("friendster") == ""
    assert head(make_case("friendster")).startswith("*Friendster* · ")


@pytest.mark.parametrize("network", ["x", "bluesky"])
def test_replies_on_x_and_bluesky_are_public(network: str) -> None:
    case = make_case(network)
    hint = reply_hint(case)
    spec = network_spec(network)
    assert spec is not None
    assert hint.startswith(f"Sent publicly on {spec.label} ")
    assert f"as a reply to @{case.author_handle}" in hint
    assert hint.endswith("up to 300 characters.")


def test_a_mastodon_reply_is_not_promised_to_be_public() -> None:
    case = make_case("mastodon")
    hint = reply_hint(case)
    # The reply keeps the post's visibility: a direct message is answered directly.
    assert "publicly" not in hint
    assert hint.startswith("Sent on Mastodon as a reply to @sam@social.example")
    assert "as visible as their post" in hint
    assert "a direct message gets a direct answer that only the accounts it mentions see" in hint
    assert hint.endswith("up to 300 characters.")
    assert len(hint) <= 2000  # Slack's limit on an input's hint
