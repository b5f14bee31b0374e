"""Shared by the FakeSlack client tests (test_fake_slack*.py): a hand-moved monotonic clock, the
card channel, a small valid mention card and reply modal, and a helper that awaits a call that
must fail with a SlackApiError."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


CHANNEL = "C0CARE"


def card(action_ids: tuple[str, ...] = ("claim", "reply")) -> list[dict[str, Any]]:
    """Return a small valid mention card."""
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "New mention on X"}},
        {
            "type": "section",
            "block_id": "body",
            "text": {"type": "mrkdwn", "text": "*@alice* my order is late"},
            "fields": [{"type": "mrkdwn", "text": "*Priority*\nnormal"}],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "due in 60 min"}]},
        {
            "type": "actions",
            "block_id": "case_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "text": {"type": "plain_text", "text": action_id.title()},
                    "value": "case-1",
                }
                for action_id in action_ids
            ],
        },
    ]


def modal() -> dict[str, Any]:
    """Return a valid reply modal."""
    return {
        "type": "modal",
        "callback_id": "reply_modal",
        "private_metadata": "case-1",
        "title": {"type": "plain_text", "text": "Reply"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reply",
                "label": {"type": "plain_text", "text": "Your reply"},
                "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
            }
        ],
    }


async def slack_error(call: Any) -> SlackApiError:
    """Await a client call that must fail and return its SlackApiError."""
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value
