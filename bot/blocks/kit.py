"""Minimal Block Kit constructors that return plain dicts.

Cards are drawn for every new mention and every change, so they are built here rather than with
`slack_sdk.models` objects, whose `to_dict()` re-validates each object through `dir()` (most of
the cost of drawing a card). The output is the same JSON; the tests and the sandbox parse
every payload with `slack_sdk.models` and Slack's limits, so validation is not lost.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def mrkdwn(text: str, *, verbatim: bool = False) -> Json:
    """Return a mrkdwn text object (`verbatim` stops Slack auto-linking text we did not write)."""
    obj: Json = {"type": "mrkdwn", "text": text}
    if verbatim:
        obj["verbatim"] = True
    return obj


def plain(text: str) -> Json:
    """Return a plain_text object with emoji shortcodes rendered."""
    return {"type": "plain_text", "text": text, "emoji": True}


def section(block_id: str, *, text: Json | None = None, fields: list[Json] | None = None) -> Json:
    """Return a section block with a text, fields, or both."""
    block: Json = {"type": "section", "block_id": block_id}
    if text is not None:
        block["text"] = text
    if fields is not None:
        block["fields"] = fields
    return block


def context(block_id: str, elements: list[Json]) -> Json:
    """Return a context block."""
    return {"type": "context", "block_id": block_id, "elements": elements}


def actions(block_id: str, elements: list[Json]) -> Json:
    """Return an actions block."""
    return {"type": "actions", "block_id": block_id, "elements": elements}


def button(label: str, action_id: str, value: str, *, primary: bool = False) -> Json:
    """Return a button element."""
    element: Json = {"type": "button", "text": plain(label), "action_id": action_id, "value": value}
    if primary:
        element["style"] = "primary"
    return element
