"""Socket Mode in the sandbox Slack: `apps.connections.open` and the WebSocket behind it.

`FakeSocketMode` speaks Slack's Socket Mode protocol as Slack documents it and as slack_sdk's
client expects it: `links` has the tokens, one-time links, connections and acks; `envelopes` the
requests Slack sends over them and the retries of an unacknowledged event.
"""

from bot.sandbox.socket_mode.envelopes import FakeSocketMode
from bot.sandbox.socket_mode.links import (
    ACK_TIMEOUT_SECONDS,
    APP_TOKEN,
    DISCONNECT_GRACE_SECONDS,
    ENVELOPE_TYPES,
    EVENT_RETRIES,
    LINK_PATH,
    MAX_CONNECTIONS,
    TICKET_TTL_SECONDS,
    SocketAck,
    SocketConnection,
    SocketModeUnavailable,
)

__all__ = [
    "ACK_TIMEOUT_SECONDS",
    "APP_TOKEN",
    "DISCONNECT_GRACE_SECONDS",
    "ENVELOPE_TYPES",
    "EVENT_RETRIES",
    "LINK_PATH",
    "MAX_CONNECTIONS",
    "TICKET_TTL_SECONDS",
    "FakeSocketMode",
    "SocketAck",
    "SocketConnection",
    "SocketModeUnavailable",
]
