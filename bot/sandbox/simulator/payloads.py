"""The request side of the sandbox's Slack simulator: payloads, signatures and answers.

Slack's v0 request signature, the form encodings interactivity uses, the state a modal's
inputs carry in `view.state.values` (typed by element, defaulting to their initial values), the
button a click presses, and `SimResponse`, the bot's answer (an HTTP response or a Socket Mode
ack standing for one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bot.sandbox.slack import JSON, StoredMessage
from bot.sandbox.socket_mode import SocketAck

# Elements that hold a typed value in view.state.values, keyed by element type.
_STATE_KEYS = {
    "plain_text_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "number_input": "value",
    "static_select": "selected_option",
    "radio_buttons": "selected_option",
    "checkboxes": "selected_options",
    "multi_static_select": "selected_options",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
}
_OPTION_KEYS = frozenset({"selected_option", "selected_options"})
_LIST_KEYS = frozenset(
    {"selected_options", "selected_users", "selected_conversations", "selected_channels"}
)


# Socket Mode has no HTTP status; an envelope the bot did not ack in time is reported as this.
NOT_ACKED = 504


@dataclass
class SimResponse:
    """The bot's answer to one simulated Slack request.

    Over Socket Mode, `status` is 200 for an acked envelope (NOT_ACKED if Slack gave up waiting),
    `body` the ack's payload ("" for an ack without one, as an empty HTTP answer), `headers` empty.
    """

    status: int
    body: Any
    elapsed: float
    headers: Mapping[str, str]

    @classmethod
    def from_ack(cls, ack: SocketAck) -> SimResponse:
        """Return a Socket Mode ack as the HTTP answer it stands for."""
        return cls(
            status=200 if ack.acked else NOT_ACKED,
            body=ack.payload if ack.payload is not None else "",
            elapsed=ack.elapsed,
            headers={},
        )


def sign_request(secret: str, timestamp: str, body: bytes) -> str:
    """Return Slack's `X-Slack-Signature` for a request body sent at `timestamp`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def form_body(payload: JSON) -> bytes:
    """Return an interactivity payload as Slack posts it: `payload=<JSON>`, form-encoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed_headers(
    secret: str,
    body: bytes,
    *,
    content_type: str = "application/x-www-form-urlencoded",
    timestamp: int | None = None,
) -> dict[str, str]:
    """Return the headers Slack sends with `body`, signed with `secret`."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign_request(secret, stamp, body),
    }


def _now_ts() -> str:
    return f"{time.time():.6f}"


def _find_button(message: StoredMessage, action_id: str) -> tuple[str, JSON]:
    """Find a button by action_id in actions blocks and section accessories."""
    seen: list[str] = []
    for block in message.blocks:
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        elif block.get("type") == "section" and block.get("accessory"):
            candidates = [block["accessory"]]
        for element in candidates:
            if not isinstance(element, dict) or element.get("type") != "button":
                continue
            seen.append(str(element.get("action_id")))
            if element.get("action_id") == action_id:
                return str(block.get("block_id") or ""), element
    raise AssertionError(
        f"message {message.ts} in {message.channel} has no button with action_id "
        f"{action_id!r}; its buttons: {seen or 'none'}"
    )


def _state_values(
    blocks: list[JSON], values: dict[str, dict[str, Any]], view_id: str
) -> dict[str, dict[str, JSON]]:
    """Build view.state.values for every input element, typed as Slack types them."""
    elements: dict[str, dict[str, JSON]] = {}
    for block in blocks:
        block_id = str(block.get("block_id") or "")
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            found = [block["element"]]
        elif block.get("type") == "actions":
            found = [e for e in block.get("elements") or [] if isinstance(e, dict)]
        else:
            continue
        for element in found:
            if element.get("type") in _STATE_KEYS and element.get("action_id"):
                elements.setdefault(block_id, {})[str(element["action_id"])] = element
    for block_id, actions in values.items():
        for action_id in actions:
            if action_id not in elements.get(block_id, {}):
                raise AssertionError(
                    f"view {view_id} has no input {block_id}/{action_id}; inputs: "
                    f"{ {b: sorted(a) for b, a in elements.items()} }"
                )
    state: dict[str, dict[str, JSON]] = {}
    for block_id, actions in elements.items():
        for action_id, element in actions.items():
            given = values.get(block_id, {}).get(action_id)
            state.setdefault(block_id, {})[action_id] = _typed_value(element, given)
    return state


def _typed_value(element: JSON, given: Any) -> JSON:
    """Shape one input's value the way Slack reports it in view.state.values.

    `given` None means the user did not touch the input: Slack then reports its initial value
    (a box ticked by default stays ticked), as a person submitting the modal as shown would.
    """
    kind = str(element["type"])
    key = _STATE_KEYS[kind]
    if given is None:
        given = _initial(element, key)
    if key not in _OPTION_KEYS:
        if key in _LIST_KEYS:
            return {"type": kind, key: list(given or [])}
        return {"type": kind, key: given}
    options = {str(o.get("value")): o for o in _options(element)}
    wanted = [given] if isinstance(given, str) else list(given or [])
    for value in wanted:
        if value not in options:
            raise AssertionError(
                f"{kind} {element.get('action_id')!r} has no option {value!r}; "
                f"options: {sorted(options)}"
            )
    chosen = [options[v] for v in wanted]
    if key == "selected_option":
        return {"type": kind, key: chosen[0] if chosen else None}
    return {"type": kind, key: chosen}


def _initial(element: JSON, key: str) -> Any:
    """Return the value an untouched input submits, in the form `_typed_value` is given."""
    if key == "selected_option":
        option = element.get("initial_option")
        return str(option["value"]) if isinstance(option, dict) else None
    if key == "selected_options":
        return [str(o["value"]) for o in element.get("initial_options") or []]
    # Slack names each initial value after its state key: value/initial_value,
    # selected_date/initial_date, selected_users/initial_users, …
    return element.get("initial_" + key.removeprefix("selected_"))


def _options(element: JSON) -> list[JSON]:
    options: list[JSON] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options
