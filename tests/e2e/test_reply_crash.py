"""A real bot process SIGKILLed at each point of a reply's send, then started again: before X
stored the post, after X stored it but before it answered, and after X answered but before the
database recorded it. The restarted bot settles the reply within a minute of start-up; the
sandbox X holds at most one post, and the card, its thread and the agent's DMs say what happened.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

from bot.blocks.ids import ActionId, BlockId
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import SIGNING_SECRET, Sandbox
from tests.processes import BotProcess, bot_process

AGENT = "U0AGENT1"
TEXT = "Sorry about that, Dana! A new parcel is on its way."
# X's real timings apply here: a pending send is taken over 20 s after it began, and "not in the
# brand's timeline" is trusted 30 s after it; settling must still fit in a minute.
SETTLED_WITHIN = 60.0


@pytest.fixture
def stack(stack: Sandbox) -> Sandbox:
    """The shared sandbox, with one mention waiting on X."""
    stack.x.add_mention("@acmehelp my parcel is lost", author_handle="dana")
    return stack


def card(stack: Sandbox) -> StoredMessage:
    return next(m for m in stack.slack.channel_messages(stack.channel) if m.metadata)


def thread(stack: Sandbox) -> str:
    return "\n".join(m.text for m in stack.slack.thread(stack.channel, card(stack).ts))


def dms(stack: Sandbox) -> str:
    return "\n".join(m.text for m in stack.slack.direct_messages(AGENT))


async def send_reply(stack: Sandbox, bot: BotProcess) -> str:
    """Open the Reply modal on the card and submit TEXT; return the modal's id."""
    await stack.slack.wait_for(
        lambda: any(m.metadata for m in stack.slack.channel_messages(stack.channel)), timeout=20
    )
    async with SlackSimulator(
        stack.slack, events_url=bot.events_url, signing_secret=SIGNING_SECRET
    ) as sim:
        before = set(stack.slack.views)
        shown = card(stack)
        await sim.click(AGENT, channel=stack.channel, ts=shown.ts, action_id=ActionId.REPLY)
        await stack.slack.wait_for(lambda: bool(set(stack.slack.views) - before))
        (view_id,) = set(stack.slack.views) - before
        response = await sim.submit_view(
            AGENT,
            view_id=view_id,
            values={
                BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: TEXT},
                BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: []},
            },
        )
    assert "Sending your reply" in str(response.body["view"])
    return view_id


async def kill(bot: BotProcess) -> None:
    bot.proc.send_signal(signal.SIGKILL)
    await bot.proc.wait()


@pytest.mark.parametrize("point", ["before X stored it", "after X stored it", "before recording"])
async def test_a_send_killed_at_each_point_is_settled_after_restart(
    stack: Sandbox, tmp_path: Path, point: str
) -> None:
    database = tmp_path / "c.db"
    env = stack.environment(f"sqlite+aiosqlite:///{database}", CAREBOT_POLL_INTERVAL="1s")
    log = tmp_path / "bot.log"
    lock: sqlite3.Connection | None = None
    if point == "before X stored it":
        stack.x.stall_before_storing(120)
    elif point == "after X stored it":
        stack.x.stall_after_storing(120)
    else:
        # Past the 2 s the modal waits, and long enough to take the database's write lock.
        stack.x.stall_after_storing(3.0)
    async with bot_process(env, cwd=tmp_path, log=log) as first:
        view_id = await send_reply(stack, first)
        if point == "before recording":
            await stack.slack.wait_for(lambda: bool(stack.x.posted_replies))
            lock = sqlite3.connect(database, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")  # X answers meanwhile; the bot cannot write it down
            await asyncio.sleep(4.0)
        else:
            await asyncio.sleep(0.5)
        await kill(first)
    if lock is not None:
        lock.rollback()
        lock.close()
    assert "Reply sent" not in str(stack.slack.views)  # the agent has not been told anything yet
    async with bot_process(env, cwd=tmp_path, log=log) as second:
        if point == "before X stored it":
            await stack.slack.wait_for(lambda: "did not go out" in dms(stack), SETTLED_WITHIN)
            assert stack.x.posted_replies == []
            assert TEXT in dms(stack).replace("&gt; ", "").replace("> ", "")
            assert "sending it again is safe" in dms(stack)
            await stack.slack.wait_for(lambda: "did not go out on X" in thread(stack), 10)
            assert "Replied" not in str(card(stack).blocks)
            # The modal no longer says "Sending…": it holds the text again, with Send.
            modal = stack.slack.views[view_id].payload
            assert TEXT in str(modal)
            assert "Sending it again is safe" in str(modal)
        else:
            await stack.slack.wait_for(lambda: "after all" in dms(stack), SETTLED_WITHIN)
            assert [p["text"] for p in stack.x.posted_replies] == [TEXT]
            await stack.slack.wait_for(lambda: "replied on X" in thread(stack), 10)
            await stack.slack.wait_for(lambda: "Replied" in str(card(stack).blocks), 10)
            assert "Reply sent" in str(stack.slack.views[view_id].payload)
        assert second.proc.returncode is None
    assert "Traceback" not in log.read_text(), log.read_text()
