"""In-process listener tests: `build_app` and a request through `async_dispatch`, against the
sandbox Slack. A button value or modal metadata that was tampered with is answered with the
codec's clear message (ephemerally, by the one error handler), never a failed request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import AccessPolicy
from bot.app import build_app
from bot.blocks.codecs import STALE_VIEW
from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.delivery import DeliveryService
from bot.deps import Deps
from bot.digest import DigestService
from bot.durations import parse_business_hours
from bot.inflight import InFlight
from bot.ownership import OwnershipService
from bot.replies import ReplyService
from bot.sandbox.slack import FakeSlack
from bot.settings import Settings
from bot.sla import ResponsePolicy
from bot.sources.registry import SourceRegistry
from storage.engine import SessionFactory
from tests.conftest import FakeClock

CHANNEL = "C0CARE"
AGENT = "U0AGENT"


@pytest.fixture
async def wired(
    sessions: SessionFactory, clock: FakeClock
) -> AsyncIterator[tuple[FakeSlack, Wired]]:
    async with FakeSlack() as slack:
        slack.add_channel(CHANNEL)
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        settings = Settings(
            slack_bot_token="xoxb-sandbox", channel=CHANNEL, slack_api_url=slack.api_url
        )
        access = AccessPolicy(slack=client, agents=[], leads=[])
        policy = ResponsePolicy(
            normal=timedelta(hours=1),
            urgent=timedelta(minutes=15),
            hours=parse_business_hours("24/7"),
            zone=ZoneInfo("UTC"),
        )
        deps = Deps(
            channel=CHANNEL,
            delivery=DeliveryService(sessions=sessions, slack=client, channel=CHANNEL, clock=clock),
            ownership=OwnershipService(
                sessions=sessions,
                clock=clock,
                access=access,
                reschedule=lambda case, now: (now + timedelta(hours=1), None),
            ),
            replies=ReplyService(
                sessions=sessions, clock=clock, access=access, sources=SourceRegistry.of([])
            ),
            digest=DigestService(sessions=sessions, clock=clock, access=access, policy=policy),
            in_flight=InFlight(),
        )
        yield slack, Wired(deps, build_app(settings, deps, client=client))


@dataclass(frozen=True, slots=True)
class Wired:
    """The listeners' dependencies and the Bolt app built on them."""

    deps: Deps
    app: AsyncApp


async def dispatch(wired: Wired, payload: dict[str, Any]) -> int:
    """Send one interactivity payload through the app, wait for its listener, return the status."""
    app, deps = wired.app, wired.deps
    request = AsyncBoltRequest(
        body=urlencode({"payload": json.dumps(payload)}),
        headers={"content-type": ["application/x-www-form-urlencoded"]},
    )
    response = await app.async_dispatch(request)
    assert await deps.in_flight.drain(5.0) == 0
    return response.status


def button_press(action: ActionId, value: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0TEAM"},
        "user": {"id": AGENT},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "channel_id": CHANNEL, "message_ts": "1.000001"},
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": str(action),
                "block_id": str(BlockId.CARD_ACTIONS),
                "value": value,
            }
        ],
    }


@pytest.mark.parametrize(
    ("action", "value"),
    [
        (ActionId.CLAIM, "42:x"),
        (ActionId.RELEASE, "42:7:1"),
        (ActionId.RESOLVE, "DROP TABLE"),
        (ActionId.REPLY, ""),
    ],
)
async def test_a_tampered_button_value_gets_the_clear_message(
    wired: tuple[FakeSlack, Wired], action: ActionId, value: str
) -> None:
    slack, bot = wired
    assert await dispatch(bot, button_press(action, value)) == 200
    (told,) = slack.ephemerals(AGENT)
    assert told.text == "That button is out of date; use the latest card."
    assert told.channel == CHANNEL


async def test_a_tampered_share_value_gets_the_clear_message(
    wired: tuple[FakeSlack, Wired],
) -> None:
    slack, bot = wired
    assert await dispatch(bot, button_press(ActionId.SHARE_DIGEST, "7d@soon")) == 200
    (told,) = slack.ephemerals(AGENT)
    assert told.text == "That digest button is out of date; run /care digest again."


@pytest.mark.parametrize("metadata", ["", "not json", '{"case_id":"7"}', '{"case_id":7,"seen":-1}'])
async def test_tampered_modal_metadata_gets_the_clear_message(
    wired: tuple[FakeSlack, Wired], metadata: str
) -> None:
    slack, bot = wired
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEAM"},
        "user": {"id": AGENT},
        "view": {
            "id": "V0VIEW",
            "type": "modal",
            "callback_id": str(CallbackId.RESOLVE_MODAL),
            "private_metadata": metadata,
            "state": {"values": {}},
        },
    }
    assert await dispatch(bot, payload) == 200
    (told,) = slack.ephemerals(AGENT)
    assert told.text == STALE_VIEW
    assert told.channel == CHANNEL  # no channel in a view submission: the care channel
