"""Block Kit and mrkdwn as a terminal shows them: names for `<@U…>`, times for dates, link labels,
buttons as `[Label]`, emoji for the few shortcodes Carebot uses. Pure functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]


# -- Block Kit and mrkdwn as text -------------------------------------------------------------

# The few shortcodes Carebot uses, drawn as a terminal can; any other stays as typed.
EMOJI = {
    "arrows_counterclockwise": "🔄",
    "bell": "🔔",
    "bird": "🐦",
    "butterfly": "🦋",
    "elephant": "🐘",
    "hourglass_flowing_sand": "⏳",
    "leftwards_arrow_with_hook": "↩️",
    "outbox_tray": "📤",
    "raising_hand": "🙋",
    "red_circle": "🔴",
    "rotating_light": "🚨",
    "speech_balloon": "💬",
    "tada": "🎉",
    "warning": "⚠️",
    "white_check_mark": "✅",
}
_TOKEN = re.compile(r"<([^<>]+)>")
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
# Only underscores standing alone around words are italics: `dana_k` must keep its underscore.
_ITALIC = re.compile(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)")


def _token_text(token: str, names: dict[str, str]) -> str:
    """Return how Slack shows one `<…>` token: a name, a time, a link's label."""
    if token.startswith("@"):
        user = token[1:].split("|")[0]
        return f"@{names.get(user, user)}"
    if token.startswith("#"):
        channel, _, label = token[1:].partition("|")
        return f"#{label or channel}"
    if token.startswith("!date^"):
        # Slack shows a date token in each reader's zone and format; the demo's targets are
        # seconds long, so it shows the time to the second (in UTC, as the header says).
        stamp = token.split("^")[1]
        return datetime.fromtimestamp(int(stamp), UTC).strftime("%H:%M:%S")
    if token.startswith("!subteam^"):
        group, _, label = token.removeprefix("!subteam^").partition("|")
        return label or f"@{group}"
    if token.startswith("!"):
        return "@" + token[1:].split("|")[0]
    url, _, label = token.partition("|")
    return label or url


def mrkdwn_to_text(text: str, names: dict[str, str]) -> str:
    """Return mrkdwn as a person reads it in Slack: names, times and link labels, no markup."""
    text = _TOKEN.sub(lambda m: _token_text(m.group(1), names), text)
    text = _SHORTCODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = _BOLD.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    lines = [line for line in text.split("\n") if line.strip() != "```"]
    text = "\n".join(f"> {line[1:]}" if line.startswith(">") else line for line in lines)
    # Last: the escapes stand for characters the customer typed, which may look like markup.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(obj: Any, names: dict[str, str]) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text") or "")
    return mrkdwn_to_text(text, names) if obj.get("type") == "mrkdwn" else text


def _element_text(element: JSON, names: dict[str, str]) -> str:
    kind = element.get("type")
    if kind == "button":
        return f"[{_plain(element.get('text'), names)}]"
    if kind == "checkboxes":
        ticked = {str(o.get("value")) for o in element.get("initial_options") or []}
        return " ".join(
            f"{'☑' if str(o.get('value')) in ticked else '☐'} {_plain(o.get('text'), names)}"
            for o in element.get("options") or []
        )
    if kind == "plain_text_input":
        return "▭"
    if kind in {"static_select", "multi_static_select"}:
        return f"[{_plain(element.get('placeholder'), names) or 'choose'} ▾]"
    if kind == "image":
        return str(element.get("alt_text") or "")
    return _plain(element, names)


def _field_text(field: JSON, names: dict[str, str]) -> str:
    """Render a section field (`*Label*\nvalue`) as `Label: value` on one line."""
    label, _, value = _plain(field, names).partition("\n")
    return f"{label}: {value.replace(chr(10), ' · ')}" if value else label


def blocks_to_lines(blocks: list[JSON], names: dict[str, str]) -> list[str]:
    """Render Block Kit blocks as the lines of text a person sees, buttons as `[Label]`."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(_plain(block.get("text"), names).upper())
        elif kind == "section":
            if block.get("text"):
                lines += _plain(block["text"], names).split("\n")
            # One field a line, so a card update can show just the fields that changed.
            lines += [_field_text(f, names) for f in block.get("fields") or []]
            if isinstance(block.get("accessory"), dict):
                lines.append(_element_text(block["accessory"], names))
        elif kind == "context":
            parts = [_element_text(e, names) for e in block.get("elements") or []]
            lines.append(" · ".join(p for p in parts if p))
        elif kind == "actions":
            lines.append(" ".join(_element_text(e, names) for e in block.get("elements") or []))
        elif kind == "input":
            element = block.get("element") or {}
            lines.append(f"{_plain(block.get('label'), names)}: {_element_text(element, names)}")
        elif kind == "divider":
            lines.append("─" * 20)
    return [line.rstrip() for line in lines]


def view_to_text(view: JSON, names: dict[str, str]) -> str:
    """Render a modal in one line: its title, its inputs (or its message) and its buttons."""
    blocks = list(view.get("blocks") or [])
    inputs = [b for b in blocks if b.get("type") == "input"]
    # The customer's post at the top of a form repeats the card; the inputs are the news.
    shown = blocks_to_lines(inputs or blocks, names)
    buttons = " ".join(
        f"[{_plain(view.get(k), names)}]" for k in ("submit", "close") if view.get(k)
    )
    parts = [part for part in (*shown, buttons) if part]
    return f"“{_plain(view.get('title'), names)}”: " + " · ".join(parts)
