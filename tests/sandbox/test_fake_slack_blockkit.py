"""Block Kit validation in the sandbox Slack: invalid blocks and views refused over the API and
recorded as violations, form-encoded bodies parsed like JSON ones, and `bot.sandbox.blockkit`'s
checks one limit at a time."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox import blockkit
from bot.sandbox.slack import FakeSlack
from tests.sandbox.slack_helpers import CHANNEL, card, modal, slack_error

# -- Block Kit enforcement --------------------------------------------------------------------


async def test_invalid_blocks_are_rejected_and_recorded(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    error = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=too_long))
    assert error.response["error"] == "invalid_blocks"
    assert any("3000" in e for e in error.response["errors"])
    assert fake.violations
    assert fake.violations[0].method == "chat.postMessage"
    assert fake.channel_messages(CHANNEL) == []

    bad_modal = dict(
        modal(), title={"type": "plain_text", "text": "A title far too long for Slack"}
    )
    view_error = await slack_error(
        client.views_open(trigger_id=fake.issue_trigger_id("U1"), view=bad_modal)
    )
    assert view_error.response["error"] == "invalid_arguments"
    assert any("24" in m for m in view_error.response["response_metadata"]["messages"])
    assert fake.violations[-1].method == "views.open"


async def test_form_encoded_bodies_and_token_param(fake: FakeSlack) -> None:
    form = {
        "token": fake.bot_token,
        "channel": CHANNEL,
        "text": "from a form",
        "blocks": json.dumps(card()),
        "metadata": json.dumps({"event_type": "carebot_case", "event_payload": {"case_id": 7}}),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.api_url + "chat.postMessage", data=form) as resp,
    ):
        body = await resp.json()
    assert body["ok"] is True
    stored = fake.message(CHANNEL, body["ts"])
    assert stored.blocks == card()
    assert stored.metadata == {"event_type": "carebot_case", "event_payload": {"case_id": 7}}
    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == card()


# -- blockkit unit tests ----------------------------------------------------------------------


def test_valid_card_and_modal_have_no_violations() -> None:
    assert blockkit.validate_message_blocks(card()) == []
    assert blockkit.validate_view(modal()) == []
    assert blockkit.validate_message_text("x" * 40_000) == []


def _button(**overrides: Any) -> dict[str, Any]:
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Go"}}
    return {**button, **overrides}


INVALID_BLOCKS: list[tuple[str, list[dict[str, Any]], str]] = [
    ("too many blocks", [{"type": "divider"}] * 51, "at most 50"),
    ("unknown type", [{"type": "hologram"}], "unknown block type"),
    (
        "section text",
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        "3000",
    ),
    (
        "too many fields",
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        "10",
    ),
    (
        "long field",
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "2000",
    ),
    (
        "mrkdwn header",
        [{"type": "header", "text": {"type": "mrkdwn", "text": "Title"}}],
        "plain_text",
    ),
    (
        "long header",
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        "150",
    ),
    (
        "big context",
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "at most 10",
    ),
    (
        "too many actions",
        [{"type": "actions", "elements": [_button(action_id=f"a{i}") for i in range(26)]}],
        "at most 25",
    ),
    ("duplicate action_id", [{"type": "actions", "elements": [_button(), _button()]}], "unique"),
    (
        "long button text",
        [{"type": "actions", "elements": [_button(text={"type": "plain_text", "text": "b" * 76})]}],
        "75",
    ),
    (
        "mrkdwn button",
        [{"type": "actions", "elements": [_button(text={"type": "mrkdwn", "text": "*b*"})]}],
        "plain_text",
    ),
    ("long value", [{"type": "actions", "elements": [_button(value="v" * 2001)]}], "2000"),
    ("long action_id", [{"type": "actions", "elements": [_button(action_id="a" * 256)]}], "255"),
    (
        "duplicate block_id",
        [{"type": "divider", "block_id": "d"}, {"type": "divider", "block_id": "d"}],
        "not unique",
    ),
    ("long block_id", [{"type": "divider", "block_id": "b" * 256}], "255"),
]


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [(blocks, expected) for _, blocks, expected in INVALID_BLOCKS],
    ids=[name for name, _, _ in INVALID_BLOCKS],
)
def test_invalid_blocks_are_reported(blocks: list[dict[str, Any]], expected: str) -> None:
    errors = blockkit.validate_message_blocks(blocks)
    assert any(expected in e for e in errors), errors


INVALID_VIEWS: list[tuple[str, dict[str, Any], str]] = [
    ("long title", {"title": {"type": "plain_text", "text": "t" * 25}}, "24"),
    ("mrkdwn submit", {"submit": {"type": "mrkdwn", "text": "Send"}}, "plain_text"),
    ("long close", {"close": {"type": "plain_text", "text": "c" * 25}}, "24"),
    ("long metadata", {"private_metadata": "m" * 3001}, "3000"),
    ("bad type", {"type": "popup"}, "view.type"),
    ("too many blocks", {"blocks": [{"type": "divider"}] * 101}, "at most 100"),
]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [(changes, expected) for _, changes, expected in INVALID_VIEWS],
    ids=[name for name, _, _ in INVALID_VIEWS],
)
def test_invalid_views_are_reported(changes: dict[str, Any], expected: str) -> None:
    errors = blockkit.validate_view({**modal(), **changes})
    assert any(expected in e for e in errors), errors


def test_long_message_text_is_reported() -> None:
    assert blockkit.validate_message_text("x" * 40_001)
