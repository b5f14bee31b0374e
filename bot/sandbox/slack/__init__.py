"""The sandbox Slack: a fake Slack Web API served by aiohttp on 127.0.0.1.

`FakeSlack` (`fake`) serves the methods Carebot calls, grouped by family: `chat` (and
response_urls), `views`, `conversations`, `files`; `state` holds the workspace and the helpers the
methods share, `records` the plain records it keeps, `faults` the failure knobs (revoked tokens,
outages, injected errors, per-channel rate limits). Socket Mode is `bot.sandbox.socket_mode`.
"""

from bot.sandbox.slack.fake import FakeSlack
from bot.sandbox.slack.records import (
    JSON,
    Ephemeral,
    FakeChannel,
    FakeUser,
    ResponsePost,
    SlackApiFailure,
    SlackCall,
    StoredMessage,
    StoredView,
    Violation,
)

__all__ = [
    "JSON",
    "Ephemeral",
    "FakeChannel",
    "FakeSlack",
    "FakeUser",
    "ResponsePost",
    "SlackApiFailure",
    "SlackCall",
    "StoredMessage",
    "StoredView",
    "Violation",
]
