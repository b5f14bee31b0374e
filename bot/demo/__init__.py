"""`carebot demo`: the real bot between the sandbox Slack and X, a scripted stream of mentions, and
simulated agents working them, printed as a transcript of what the channel shows.

The bot runs in Socket Mode, as most teams run it (connected to the sandbox Slack's WebSocket with
an app token), or over HTTP with `--http`. Agents act only through the Slack simulator (envelopes
on that WebSocket, or signed requests: exactly what Slack sends) and customers only by posting on
the fake X, which the bot polls. Everything the transcript shows is
read back from what the fakes recorded (Web API calls, response_url posts, posts created on X), so
it shows what the bot really did, never what the script hoped it would do.
"""

from __future__ import annotations

from bot.demo.render import blocks_to_lines, mrkdwn_to_text, view_to_text
from bot.demo.runner import STOPPED, Demo, run_demo
from bot.demo.script import (
    AGENTS,
    ANA,
    BEN,
    CHLOE,
    CLOSING,
    LEAD,
    SCRIPT,
    TARGETS,
    Agent,
    Claim,
    Command,
    Customer,
    LateClaim,
    OpenHome,
    Post,
    Release,
    Reopen,
    Reply,
    Resolve,
    TakeOver,
)
from bot.demo.stage import DemoFailed
from bot.demo.summary import summary_text
from bot.demo.transcript import Transcript

__all__ = [
    "AGENTS",
    "ANA",
    "BEN",
    "CHLOE",
    "CLOSING",
    "LEAD",
    "SCRIPT",
    "STOPPED",
    "TARGETS",
    "Agent",
    "Claim",
    "Command",
    "Customer",
    "Demo",
    "DemoFailed",
    "LateClaim",
    "OpenHome",
    "Post",
    "Release",
    "Reopen",
    "Reply",
    "Resolve",
    "TakeOver",
    "Transcript",
    "blocks_to_lines",
    "mrkdwn_to_text",
    "run_demo",
    "summary_text",
    "view_to_text",
]
