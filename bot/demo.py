"""`carebot demo`: the real bot against the built-in sandbox Slack and X, with a scripted stream
of mentions, printed as a transcript of what the channel shows."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TextIO

from aiohttp import ClientSession

from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox, running_bot, sandbox

SCRIPT = [
    ("dana_k", "Dana K", 310, "@acmehelp my order #4411 still hasn't arrived, it's been 2 weeks"),
    ("ops_lee", "Lee (Ops)", 890, "@acmehelp is the app down? outage for our whole team"),
    ("mo_reads", "Mo", 42, "@acmehelp love the new dark mode, thank you!"),
]


def describe_card(message: StoredMessage) -> str:
    """Return a card as the few lines a person reading the channel would take in."""
    lines = [f"[card {message.ts}] {message.text}"]
    buttons = [
        element.get("text", {}).get("text", "")
        for block in message.blocks or []
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]
    if buttons:
        lines.append("    buttons: " + " | ".join(f"[{b}]" for b in buttons))
    return "\n".join(lines)


async def run_demo(*, keep: bool, out: TextIO) -> int:
    """Run the sandbox and the bot, play the script, print what the channel shows."""
    with tempfile.TemporaryDirectory(prefix="carebot-demo-") as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        async with sandbox() as stack:
            settings = stack.settings(database_url, poll_interval="1s")
            async with running_bot(settings) as bot:
                async with ClientSession() as http, http.get(bot.health_url) as response:
                    health = await response.json()
                print(f"sandbox Slack  {stack.slack.api_url}", file=out)
                print(f"sandbox X      {stack.x.api_url}", file=out)
                print(f"bot            {bot.events_url}  healthz: {health['status']}", file=out)
                await _play(stack, out)
                if keep:
                    _print_environment(stack, database_url, bot.events_url, out)
                    await asyncio.Event().wait()
    return 0


async def _play(stack: Sandbox, out: TextIO) -> None:
    for handle, name, followers, text in SCRIPT:
        stack.x.add_mention(text, author_handle=handle, author_name=name, followers=followers)
        print(f"\n@{handle} on X: {text}", file=out)
        await _wait_for_cards(stack, len(_cards(stack)) + 1)
        print(describe_card(_cards(stack)[-1]), file=out)


async def _wait_for_cards(stack: Sandbox, count: int) -> None:
    def enough() -> bool:
        return len(_cards(stack)) >= count

    await stack.slack.wait_for(enough, timeout=15)


def _cards(stack: Sandbox) -> list[StoredMessage]:
    return [m for m in stack.slack.channel_messages(stack.channel) if m.metadata]


def _print_environment(stack: Sandbox, database_url: str, events_url: str, out: TextIO) -> None:
    print("\nThe sandbox and bot stay up (Ctrl-C to stop). Point another client at them:", file=out)
    for key, value in stack.environment(database_url).items():
        print(f"{key}={value}", file=out)
    print(f"# Slack events, actions and commands: POST {events_url}", file=out)
