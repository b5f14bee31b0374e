"""The access table (README "Who may do what"), one test per cell, through signed requests from
the simulator to the real bot. Four setups: agents and leads listed, agents only (every agent is a
lead, nobody else is anything), leads only (everyone is an agent), and neither (everyone is all).

The expected answers are written out here as the README states them, not computed from
`bot.access`, so a change of policy has to change this table too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.blocks.ids import ActionId, BlockId
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, sandbox
from storage.models import Case, CaseStatus
from tests.e2e.helpers import bot_with_simulator, cards

pytestmark = pytest.mark.asyncio(loop_scope="module")

OUTSIDER = "U0OUTSIDE"
AGENT = "U0AGENT1"
OWNER = "U0AGENT2"  # an agent who owns the case under test
LEAD = "U0LEAD1"
TYPED_IN = "C0LEADS"

SETUPS: dict[str, dict[str, str]] = {
    "agents+leads": {"agents": f"{AGENT},{OWNER}", "leads": LEAD},
    "agents-only": {"agents": f"{AGENT},{OWNER}", "leads": ""},
    "leads-only": {"agents": "", "leads": LEAD},
    "open": {"agents": "", "leads": ""},
}
# Who asks for the digest a Share button sits under, in each setup (someone who may).
DIGEST_OWNER = {"agents+leads": LEAD, "agents-only": AGENT, "leads-only": LEAD, "open": OUTSIDER}

Y, N = True, False
# (setup, action, user, allowed). "…_owned": the case belongs to OWNER.
TABLE: list[tuple[str, str, str, bool]] = [
    # agents and leads listed
    ("agents+leads", "claim", OUTSIDER, N),
    ("agents+leads", "claim", AGENT, Y),
    ("agents+leads", "claim", LEAD, Y),
    ("agents+leads", "reply", OUTSIDER, N),
    ("agents+leads", "reply", AGENT, Y),
    ("agents+leads", "reply_owned", AGENT, N),
    ("agents+leads", "reply_owned", OWNER, Y),
    ("agents+leads", "reply_owned", LEAD, Y),
    ("agents+leads", "release_owned", OUTSIDER, N),
    ("agents+leads", "release_owned", AGENT, N),
    ("agents+leads", "release_owned", OWNER, Y),
    ("agents+leads", "release_owned", LEAD, Y),
    ("agents+leads", "resolve", OUTSIDER, N),
    ("agents+leads", "resolve", AGENT, Y),
    ("agents+leads", "resolve_owned", AGENT, N),
    ("agents+leads", "resolve_owned", OWNER, Y),
    ("agents+leads", "resolve_owned", LEAD, Y),
    ("agents+leads", "reopen", OUTSIDER, N),
    ("agents+leads", "reopen", AGENT, Y),
    ("agents+leads", "digest", OUTSIDER, N),
    ("agents+leads", "digest", AGENT, N),
    ("agents+leads", "digest", LEAD, Y),
    ("agents+leads", "share", OUTSIDER, N),
    ("agents+leads", "share", AGENT, N),
    ("agents+leads", "share", LEAD, Y),
    ("agents+leads", "queue", OUTSIDER, N),
    ("agents+leads", "queue", AGENT, Y),
    ("agents+leads", "home", OUTSIDER, N),
    ("agents+leads", "home", AGENT, Y),
    ("agents+leads", "home", LEAD, Y),
    # agents listed, no leads: every agent is a lead, and nobody else may do anything
    ("agents-only", "claim", OUTSIDER, N),
    ("agents-only", "claim", AGENT, Y),
    ("agents-only", "reply", OUTSIDER, N),
    ("agents-only", "reply", AGENT, Y),
    ("agents-only", "reply_owned", OUTSIDER, N),
    ("agents-only", "reply_owned", AGENT, Y),
    ("agents-only", "release_owned", OUTSIDER, N),
    ("agents-only", "release_owned", AGENT, Y),
    ("agents-only", "resolve", OUTSIDER, N),
    ("agents-only", "resolve_owned", AGENT, Y),
    ("agents-only", "reopen", OUTSIDER, N),
    ("agents-only", "reopen", AGENT, Y),
    ("agents-only", "digest", OUTSIDER, N),
    ("agents-only", "digest", AGENT, Y),
    ("agents-only", "share", OUTSIDER, N),
    ("agents-only", "share", AGENT, Y),
    ("agents-only", "queue", OUTSIDER, N),
    ("agents-only", "queue", AGENT, Y),
    ("agents-only", "home", OUTSIDER, N),
    ("agents-only", "home", AGENT, Y),
    # leads listed, no agents: everyone is an agent, only leads lead
    ("leads-only", "claim", OUTSIDER, Y),
    ("leads-only", "reply_owned", OUTSIDER, N),
    ("leads-only", "reply_owned", LEAD, Y),
    ("leads-only", "release_owned", OUTSIDER, N),
    ("leads-only", "release_owned", LEAD, Y),
    ("leads-only", "resolve_owned", OUTSIDER, N),
    ("leads-only", "reopen", OUTSIDER, Y),
    ("leads-only", "digest", OUTSIDER, N),
    ("leads-only", "digest", LEAD, Y),
    ("leads-only", "share", OUTSIDER, N),
    ("leads-only", "queue", OUTSIDER, Y),
    ("leads-only", "home", OUTSIDER, Y),
    # nobody listed: everyone may do everything
    ("open", "claim", OUTSIDER, Y),
    ("open", "reply_owned", OUTSIDER, Y),
    ("open", "release_owned", OUTSIDER, Y),
    ("open", "resolve_owned", OUTSIDER, Y),
    ("open", "reopen", OUTSIDER, Y),
    ("open", "digest", OUTSIDER, Y),
    ("open", "share", OUTSIDER, Y),
    ("open", "queue", OUTSIDER, Y),
    ("open", "home", OUTSIDER, Y),
]
CASE_ACTIONS = {"claim", "reply", "reply_owned", "release_owned", "resolve", "resolve_owned"}


@dataclass
class World:
    setup: str
    stack: Sandbox
    bot: RunningBot
    sim: SlackSimulator
    free: list[StoredMessage] = field(default_factory=list)

    def take_card(self) -> tuple[int, StoredMessage]:
        card = self.free.pop(0)
        return int(card.metadata["event_payload"]["case_id"]), card  # type: ignore[index]

    async def case(self, case_id: int) -> Case:
        assert self.bot.runtime.deps is not None
        async with self.bot.runtime.sessions() as s:
            return (await s.scalars(select(Case).where(Case.id == case_id))).one()

    def refusals(self, user: str) -> list[str]:
        return [e.text for e in self.stack.slack.ephemerals(user)]

    async def until(self, predicate: Callable[[], Any], seconds: float = 10) -> None:
        await self.stack.slack.wait_for(predicate, timeout=seconds)

    async def until_case(self, case_id: int, check: Callable[[Case], bool]) -> None:
        for _ in range(200):
            if check(await self.case(case_id)):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"case {case_id} never reached the expected state")

    async def click(self, user: str, card: StoredMessage, action: ActionId) -> None:
        channel = self.stack.channel
        live = self.stack.slack.message(channel, card.ts)
        response = await self.sim.click(user, channel=channel, ts=live.ts, action_id=action)
        assert response.status == 200


def _cards_needed(setup: str) -> int:
    return sum(1 for s, action, _, _ in TABLE if s == setup and action in CASE_ACTIONS | {"reopen"})


async def _world(setup: str, tmp_path: Path) -> AsyncGenerator[World, None]:
    async with sandbox() as stack:
        stack.slack.add_channel(TYPED_IN, name="care-leads")
        needed = _cards_needed(setup)
        for n in range(needed):
            stack.x.add_mention(f"@acmehelp problem number {n}", author_handle=f"cust{n}")
        settings = stack.settings(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", poll_interval="1s", **SETUPS[setup]
        )
        async with bot_with_simulator(stack, settings) as (bot, sim):
            await stack.slack.wait_for(lambda: len(cards(stack)) == needed, timeout=30)
            yield World(setup, stack, bot, sim, free=cards(stack))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def worlds(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """Each setup's world, started on first use and kept for the module."""
    started: dict[str, Any] = {}
    generators: list[AsyncGenerator[World, None]] = []

    async def get(setup: str) -> World:
        if setup not in started:
            generator = _world(setup, tmp_path_factory.mktemp(setup.replace("+", "-")))
            generators.append(generator)
            started[setup] = await anext(generator)
        world: World = started[setup]
        return world

    yield {"get": get}
    for generator in reversed(generators):
        await generator.aclose()


async def _attempt(world: World, action: str, user: str) -> bool:
    """Do `action` as `user`; return whether it took effect (refusals are told privately)."""
    deps = world.bot.runtime.deps
    assert deps is not None
    slack = world.stack.slack
    told = len(world.refusals(user))

    def refused() -> bool:
        return len(world.refusals(user)) > told

    if action in CASE_ACTIONS | {"reopen"}:
        case_id, card = world.take_card()
        if action.endswith("_owned"):
            await deps.ownership.claim(case_id=case_id, user=OWNER)
        if action == "reopen":
            await deps.ownership.resolve(case_id=case_id, user=AGENT)
        await world.until(lambda: _shows(world, card, action))
        if action == "claim":
            await world.click(user, card, ActionId.CLAIM)
            await world.until(lambda: refused() or "claimed" in _thread(world, card))
            return (await world.case(case_id)).owner == user
        if action == "release_owned":
            await world.click(user, card, ActionId.RELEASE)
            await world.until(lambda: refused() or "released" in _thread(world, card).lower())
            return (await world.case(case_id)).owner is None
        if action == "reopen":
            await world.click(user, card, ActionId.REOPEN)
            await world.until(lambda: refused() or "reopened" in _thread(world, card))
            return (await world.case(case_id)).status == CaseStatus.OPEN
        before = set(slack.views)
        button = ActionId.REPLY if action.startswith("reply") else ActionId.RESOLVE
        await world.click(user, card, button)
        await world.until(lambda: refused() or bool(set(slack.views) - before))
        if refused():
            return False
        (view_id,) = set(slack.views) - before
        if button == ActionId.RESOLVE:
            await world.sim.submit_view(
                user,
                view_id=view_id,
                values={BlockId.RESOLVE_REASON: {ActionId.RESOLVE_REASON: "spam"}},
            )
            await world.until_case(case_id, lambda c: c.status == CaseStatus.RESOLVED)
        return True
    if action in {"digest", "queue"}:
        response = await world.sim.slash_command(user, text=action, channel_id=TYPED_IN)
        assert response.status == 200
        await world.until(refused)
        return "Sorry" not in world.refusals(user)[-1]
    if action == "share":
        asker = DIGEST_OWNER[world.setup]
        asked = len(world.refusals(asker))
        await world.sim.slash_command(asker, text="digest 7d", channel_id=TYPED_IN)
        await world.until(lambda: len(world.refusals(asker)) > asked)
        answer = slack.ephemerals(asker)[-1]
        seen = StoredMessage(
            channel=TYPED_IN, ts=answer.message_ts, text=answer.text, blocks=answer.blocks, user=""
        )
        told = len(world.refusals(user))
        posted = len(slack.channel_messages(TYPED_IN))
        response = await world.sim.click(
            user, channel=TYPED_IN, ts=answer.message_ts, action_id=ActionId.SHARE_DIGEST, seen=seen
        )
        assert response.status == 200
        await world.until(lambda: refused() or len(slack.channel_messages(TYPED_IN)) > posted)
        return len(slack.channel_messages(TYPED_IN)) > posted
    assert action == "home"
    slack.home_views.pop(user, None)
    await world.sim.app_home_opened(user)
    await world.until(lambda: user in slack.home_views)
    shown = str(slack.home_views[user].blocks)
    assert ("Open cases" in shown) != ("for Carebot agents" in shown)
    return "Open cases" in shown and "SLA attainment" in shown


def _thread(world: World, card: StoredMessage) -> str:
    return "\n".join(m.text for m in world.stack.slack.thread(world.stack.channel, card.ts))


def _shows(world: World, card: StoredMessage, action: str) -> bool:
    blocks = str(world.stack.slack.message(world.stack.channel, card.ts).blocks)
    if action.endswith("_owned"):
        return f"<@{OWNER}>" in blocks
    if action == "reopen":
        return ActionId.REOPEN in blocks
    return True


@pytest.mark.parametrize(
    ("setup", "action", "user", "allowed"),
    TABLE,
    ids=[f"{s}-{a}-{u}-{'yes' if ok else 'no'}" for s, a, u, ok in TABLE],
)
async def test_access_cell(
    worlds: dict[str, Any], setup: str, action: str, user: str, allowed: bool
) -> None:
    world: World = await worlds["get"](setup)
    told = len(world.refusals(user))
    assert await _attempt(world, action, user) is allowed
    if not allowed and action != "home":
        # The refusal is private and says why.
        text = world.refusals(user)[told:][-1]
        assert "Sorry" in text or "owns this case" in text
    assert world.stack.slack.violations == []
