"""The sandbox channel in a browser: a small aiohttp site on loopback that draws the sandbox
Slack's channel, threads, ephemerals, modals and App Home as a Slack client would, and lets a
person act in it as one of the demo's people.

The page is static HTML, CSS and JavaScript (package data in `static/`); it reads the fake's state
as JSON and hears about changes over server-sent events. Everything a person does goes through
`SlackSimulator`, so the bot receives exactly the signed requests Slack would send (with real
trigger_ids and response_urls issued by the fake), over whichever delivery the simulator uses.
"""

from __future__ import annotations

from bot.sandbox.web.networks import MentionSink, NewMention, x_sink
from bot.sandbox.web.server import Person, SandboxWeb

__all__ = ["MentionSink", "NewMention", "Person", "SandboxWeb", "x_sink"]
