"""Nags end to end with a 20-second response target: the real bot (in this process, or as a
subprocess that is SIGKILLed) against the sandbox Slack and X over loopback. An untouched mention
gets its warning and its breach, a mention replied to in time gets neither, a restart between the
two does not repeat the warning, and two bots sharing PostgreSQL post each rung once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.blocks.ids import ActionId, BlockId
from bot.clock import ensure_utc, utc_now
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox, running_bot
from storage.engine import create_engine, session_factory
from storage.models import Case
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.e2e.helpers import bot_with_simulator, cards
from tests.processes import bot_process as run_bot_process

WARNING, BREACH, REMINDER = ":hourglass_flowing_sand:", ":red_circle:", ":bell:"
FAST = {"poll_interval": "1s", "sla_first_response": "20s", "sla_check_interval": "1s"}


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def card_for(stack: Sandbox, handle: str) -> StoredMessage:
    (card,) = [m for m in cards(stack) if f"@{handle}" in str(m.blocks)]
    return card


def rungs(stack: Sandbox, card: StoredMessage) -> list[StoredMessage]:
    return [
        m
        for m in stack.slack.thread(stack.channel, card.ts)
        if m.text.startswith((WARNING, BREACH, REMINDER))
    ]


def count(stack: Sandbox, card: StoredMessage, prefix: str) -> int:
    return sum(m.text.startswith(prefix) for m in rungs(stack, card))


async def reply_to(stack: Sandbox, sim: SlackSimulator, card: StoredMessage, text: str) -> None:
    """Reply through the card's Reply button and modal, as an agent would."""
    before = set(stack.slack.views)
    response = await sim.click(
        "U0AGENT1", channel=stack.channel, ts=card.ts, action_id=ActionId.REPLY
    )
    assert response.status == 200
    await stack.slack.wait_for(lambda: bool(set(stack.slack.views) - before))
    (view_id,) = set(stack.slack.views) - before
    submitted = await sim.submit_view(
        "U0AGENT1",
        view_id=view_id,
        values={
            BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: text},
            BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: []},
        },
    )
    assert submitted.status == 200


async def test_untouched_mention_is_warned_and_breached_a_replied_one_is_not(
    stack: Sandbox, tmp_path: Path
) -> None:
    stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
    stack.x.add_mention("@acmehelp where is my refund?", author_handle="eve")
    settings = stack.settings(sqlite_url(tmp_path / "c.db"), leads="U0LEAD1", **FAST)
    async with bot_with_simulator(stack, settings) as (_bot, sim):
        await stack.slack.wait_for(lambda: len(cards(stack)) == 2, timeout=15)
        started = time.monotonic()
        dana, eve = card_for(stack, "dana"), card_for(stack, "eve")
        await reply_to(stack, sim, eve, "So sorry, Eve! Your refund went out today.")
        assert time.monotonic() - started < 10
        await stack.slack.wait_for(lambda: count(stack, dana, WARNING) == 1, timeout=25)
        await stack.slack.wait_for(lambda: count(stack, dana, BREACH) == 1, timeout=15)
        await stack.slack.wait_for(
            lambda: "Overdue" in str(stack.slack.message(stack.channel, dana.ts).blocks),
            timeout=5,
        )
        # Eve's deadline has passed too by now: give the checker a few more runs to misbehave.
        await asyncio.sleep(3)
    warning, breach = rungs(stack, dana)
    assert warning.text.startswith(f"{WARNING} <!here> Nobody has claimed this yet;")
    assert breach.text.startswith(f"{BREACH} <@U0LEAD1> Nobody has claimed this")
    assert breach.reply_broadcast
    assert breach.ts in [m.ts for m in stack.slack.channel_messages(stack.channel)]
    assert not warning.reply_broadcast
    assert rungs(stack, eve) == []
    assert stack.slack.violations == []


# --- a SIGKILL between the warning and the breach ----------------------------------------


def read_log(path: Path) -> str:
    return path.read_text(errors="replace")


@asynccontextmanager
async def bot_process(
    stack: Sandbox, db_path: Path, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run the bot against the sandbox as a process of its own; stop it on exit if still alive."""
    env = stack.environment(
        sqlite_url(db_path),
        CAREBOT_POLL_INTERVAL="1s",
        CAREBOT_SLA_FIRST_RESPONSE="20s",
        CAREBOT_SLA_CHECK_INTERVAL="1s",
    )
    async with run_bot_process(env, cwd=db_path.parent, log=log) as bot:
        yield bot.proc


async def due_at(db_path: Path) -> float:
    """Return the (only) case's deadline as a time.monotonic() value."""
    engine = create_engine(sqlite_url(db_path))
    try:
        async with session_factory(engine)() as s:
            case = (await s.scalars(select(Case))).one()
    finally:
        await engine.dispose()
    assert case.due_at is not None
    return time.monotonic() + (ensure_utc(case.due_at) - utc_now()).total_seconds()


async def test_a_restart_between_warning_and_breach_does_not_repeat_the_warning(
    stack: Sandbox, tmp_path: Path
) -> None:
    stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
    db_path, log = tmp_path / "c.db", tmp_path / "bot.log"
    async with bot_process(stack, db_path, log) as first:
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
        card = cards(stack)[0]
        await stack.slack.wait_for(lambda: count(stack, card, WARNING) == 1, timeout=25)
        first.kill()  # SIGKILL: no clean shutdown, no lease released
        await first.wait()
    deadline = await due_at(db_path)
    async with bot_process(stack, db_path, log):
        # The new process checked (it checks at start, then every second) before the deadline,
        # so a warning it did not know about would have been posted again.
        assert time.monotonic() < deadline - timedelta(seconds=1).total_seconds(), read_log(log)
        await stack.slack.wait_for(lambda: count(stack, card, BREACH) == 1, timeout=15)
        await asyncio.sleep(2)
    assert [m.text.split(" ")[0] for m in rungs(stack, card)] == [WARNING, BREACH]


# --- two bots sharing PostgreSQL --------------------------------------------------------------


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs CAREBOT_TEST_POSTGRES_URL")
async def test_two_bots_sharing_postgres_post_each_rung_once(stack: Sandbox) -> None:
    assert POSTGRES_URL is not None
    await reset_postgres(POSTGRES_URL)
    handles = ["ann", "bob", "cyd"]
    for handle in handles:
        stack.x.add_mention(f"@acmehelp order for {handle} never came", author_handle=handle)
    # Eight seconds: warning at 6 s (room for the cards to be posted first, even on a busy
    # machine), breach at 8, reminders at 12, 16 and 20.
    settings = stack.settings(POSTGRES_URL, **{**FAST, "sla_first_response": "8s"})
    async with (
        running_bot(settings, pacing_per_second=None),
        running_bot(settings, pacing_per_second=None),
    ):
        await stack.slack.wait_for(lambda: len(cards(stack)) == 3, timeout=15)
        for handle in handles:
            card = card_for(stack, handle)

            def reminded(card: StoredMessage = card) -> bool:
                return count(stack, card, REMINDER) >= 3

            await stack.slack.wait_for(reminded, timeout=30)
        await asyncio.sleep(2)
    assert len(cards(stack)) == 3
    for handle in handles:
        posted = Counter(m.text for m in rungs(stack, card_for(stack, handle)))
        assert sum(posted.values()) == 5, posted
        assert set(posted.values()) == {1}, posted
        assert [m.text.split(" ")[0] for m in rungs(stack, card_for(stack, handle))] == [
            WARNING,
            BREACH,
            REMINDER,
            REMINDER,
            REMINDER,
        ]
