"""The Slack side of an end-to-end test: signed requests to a running bot, shaped like Slack's.

`SlackSimulator` (`client`) plays the user in the Slack client, over HTTP or as Socket Mode
envelopes; `payloads` has the payload shapes, Slack's request signature and `SimResponse`.
"""

from bot.sandbox.simulator.client import SlackSimulator
from bot.sandbox.simulator.payloads import (
    NOT_ACKED,
    SimResponse,
    form_body,
    sign_request,
    signed_headers,
)

__all__ = [
    "NOT_ACKED",
    "SimResponse",
    "SlackSimulator",
    "form_body",
    "sign_request",
    "signed_headers",
]
