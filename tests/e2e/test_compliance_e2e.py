"""Content compliance end to end: the real bot against the sandbox X and Slack. A post deleted,
an author gone private and a post edited on X are followed within one compliance interval: the
card and its thread lines are redrawn from the database, without the removed words."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import bot
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox, running_bot
from tests.e2e.helpers import cards

REPO = Path(bot.__file__).resolve().parent.parent


def card_for(stack: Sandbox, text: str) -> StoredMessage:
    return next(m for m in cards(stack) if text in m.text)


def shown(stack: Sandbox, card: StoredMessage) -> str:
    current = stack.slack.message(stack.channel, card.ts)
    return str(current.blocks) + current.text


def thread(stack: Sandbox, card: StoredMessage) -> str:
    return "\n".join(m.text for m in stack.slack.thread(stack.channel, card.ts))


async def test_deletes_protection_and_edits_reach_slack(stack: Sandbox, tmp_path: Path) -> None:
    x = stack.x
    first = x.add_mention("@acmehelp my password is hunter2, help", author_handle="dana")
    x.add_mention("@acmehelp a private complaint", author_handle="eve")
    typo = x.add_mention("@acmehelp my ordr is late", author_handle="finn")
    settings = stack.settings(
        f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", poll_interval="1s", compliance_interval="1s"
    )
    async with running_bot(settings, pacing_per_second=None):
        await stack.slack.wait_for(lambda: len(cards(stack)) == 3, timeout=15)
        dana = card_for(stack, "hunter2")
        follow = x.add_mention(
            "@acmehelp also my PIN is 1234", author_handle="dana", in_reply_to=first
        )
        await stack.slack.wait_for(lambda: "PIN is 1234" in thread(stack, dana), timeout=15)
        eve, finn = card_for(stack, "private complaint"), card_for(stack, "ordr")
        x.delete(first)
        x.delete(follow)
        x.protect("eve")
        x.edit(typo, "@acmehelp my order is late & cold")
        await stack.slack.wait_for(
            lambda: (
                "The author deleted this post" in shown(stack, dana)
                and "made their posts private" in shown(stack, eve)
                and "late &amp; cold" in shown(stack, finn)
                and "The author deleted this post" in thread(stack, dana)
            ),
            timeout=20,
        )
    assert "hunter2" not in shown(stack, dana)
    assert "PIN is 1234" not in thread(stack, dana)
    assert "private complaint" not in shown(stack, eve)
    assert "ordr" not in shown(stack, finn)
    assert stack.slack.violations == []


async def test_carebot_forget_says_what_it_removed(stack: Sandbox, tmp_path: Path) -> None:
    stack.x.add_mention("@acmehelp I'm Dana from 1 Elm St", author_handle="dana")
    database = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    settings = stack.settings(database, poll_interval="1s")
    async with running_bot(settings, pacing_per_second=None):
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
    env = {"DATABASE_URL": database, "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "forget",
        "@Dana",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("Erased @dana: the text of 1 post, their name, handle")
    # Run again, the bot redraws the card without her.
    async with running_bot(settings, pacing_per_second=None):
        card = cards(stack)[0]
        await stack.slack.wait_for(
            lambda: "erased at the author's request" in shown(stack, card), timeout=15
        )
    assert "Elm St" not in shown(stack, card)
    assert "@dana" not in shown(stack, card)
