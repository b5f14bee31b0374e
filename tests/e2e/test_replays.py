"""Replays and stale clicks do nothing: state-changing buttons carry the case's state version, so
a replayed signed Reopen or Resolve, or a Release pressed on a card drawn before the case
changed, changes nothing and the presser is told why, privately."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.blocks.ids import ActionId, BlockId
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, sandbox
from storage.models import Case, CaseStatus, Event
from tests.e2e.helpers import bot_with_simulator, only_case

AGENT = "U0AGENT1"
OTHER = "U0AGENT2"
LEAD = "U0LEAD1"


@dataclass
class World:
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator

    @property
    def card(self) -> StoredMessage:
        (card,) = [m for m in self.stack.slack.channel_messages(self.stack.channel) if m.metadata]
        return card

    async def case(self) -> Case:
        return await only_case(self.bot)

    async def events(self, kind: str) -> int:
        assert self.bot.runtime.deps is not None
        async with self.bot.runtime.sessions() as s:
            return int(await s.scalar(select(func.count()).where(Event.kind == kind)) or 0)

    def told(self, user: str) -> list[str]:
        return [e.text for e in self.stack.slack.ephemerals(user)]

    async def until(self, predicate: Any, seconds: float = 15) -> None:
        await self.stack.slack.wait_for(predicate, timeout=seconds)

    async def send(self, payload: dict[str, Any]) -> None:
        response = await self.sim._send_payload(payload, sign=True, secret=None)
        assert response.status == 200

    def press(self, user: str, action: ActionId, seen: StoredMessage | None = None) -> Any:
        return self.sim.click_payload(
            user, channel=self.stack.channel, ts=self.card.ts, action_id=action, seen=seen
        )

    async def shows(self, text: str) -> None:
        await self.until(lambda: text in str(self.card.blocks))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with sandbox() as stack:
        stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            poll_interval="1s",
            agents=f"{AGENT},{OTHER}",
            leads=LEAD,
        )
        async with bot_with_simulator(stack, settings) as (bot, sim):
            world = World(stack, bot, sim)
            await world.until(
                lambda: any(m.metadata for m in stack.slack.channel_messages(stack.channel))
            )
            yield world


async def resolve(world: World, user: str) -> str:
    before = set(world.stack.slack.views)
    await world.send(world.press(user, ActionId.RESOLVE))
    await world.until(lambda: bool(set(world.stack.slack.views) - before))
    (view_id,) = set(world.stack.slack.views) - before
    return view_id


async def test_a_replayed_reopen_changes_nothing_and_the_presser_is_told(world: World) -> None:
    view_id = await resolve(world, AGENT)
    await world.sim.submit_view(AGENT, view_id=view_id, values={})
    await world.shows(ActionId.REOPEN)
    reopen = world.press(AGENT, ActionId.REOPEN)
    await world.send(reopen)
    await world.shows(ActionId.CLAIM)
    assert (await world.case()).status == CaseStatus.OPEN
    # Someone resolves it again; then the earlier Reopen request arrives a second time.
    view_id = await resolve(world, OTHER)
    await world.sim.submit_view(OTHER, view_id=view_id, values={})
    await world.shows(ActionId.REOPEN)
    told = len(world.told(AGENT))
    await world.send(reopen)
    await world.until(lambda: len(world.told(AGENT)) > told)
    assert "Nothing was done" in world.told(AGENT)[-1]
    case = await world.case()
    assert case.status == CaseStatus.RESOLVED
    assert case.resolved_by == OTHER
    assert await world.events("reopened") == 1


async def test_a_replayed_resolve_after_a_reopen_changes_nothing(world: World) -> None:
    view_id = await resolve(world, AGENT)
    submitted = copy.deepcopy(world.stack.slack.views[view_id].payload)
    await world.sim.submit_view(
        AGENT, view_id=view_id, values={BlockId.RESOLVE_REASON: {ActionId.RESOLVE_REASON: "spam"}}
    )
    await world.shows(ActionId.REOPEN)
    await world.send(world.press(AGENT, ActionId.REOPEN))
    await world.shows(ActionId.CLAIM)
    # The same Resolve submission, replayed (a signed request seen on the wire).
    told = len(world.told(AGENT))
    payload = {
        "type": "view_submission",
        "team": {"id": world.stack.slack.team_id},
        "user": {"id": AGENT, "username": "agent", "name": "agent"},
        "api_app_id": "A0CAREBOT",
        "token": "sandbox-verification-token",
        "trigger_id": world.stack.slack.issue_trigger_id(AGENT),
        "view": {**submitted, "id": view_id, "state": {"values": {}}},
        "response_urls": [],
    }
    await world.send(payload)
    await world.until(lambda: len(world.told(AGENT)) > told)
    assert "Nothing was done" in world.told(AGENT)[-1]
    assert (await world.case()).status == CaseStatus.OPEN
    assert await world.events("resolved") == 1


async def test_a_release_pressed_on_a_stale_card_changes_nothing(world: World) -> None:
    await world.send(world.press(AGENT, ActionId.CLAIM))
    await world.shows(f"<@{AGENT}>")
    drawn = copy.deepcopy(world.card)  # the lead's client shows the card owned by the agent
    await world.send(world.press(AGENT, ActionId.RELEASE))
    await world.shows(ActionId.CLAIM)
    await world.send(world.press(OTHER, ActionId.CLAIM))
    await world.shows(f"<@{OTHER}>")
    told = len(world.told(LEAD))
    await world.send(world.press(LEAD, ActionId.RELEASE, seen=drawn))
    await world.until(lambda: len(world.told(LEAD)) > told)
    assert "Nothing was done" in world.told(LEAD)[-1]
    assert (await world.case()).owner == OTHER
    assert await world.events("released") == 1
