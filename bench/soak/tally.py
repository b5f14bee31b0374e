"""What the replicas asked of Slack, by kind, from the fake's record of every Web API call: new
cards, nag lines and roll-ups, other thread lines, channel alerts and redraws, each counted as
taken, rate-limited or refused. The channel takes about one message a second, so this says where
that second went when cards fall behind.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.sandbox.slack.records import SlackCall

# How bot/nags.py begins every rung (warning, breach, reminder) and the roll-up.
NAG_PREFIXES = (":hourglass_flowing_sand:", ":red_circle:", ":bell:")


def kind_of(call: SlackCall) -> str:
    """Name what one Web API call was for."""
    args: dict[str, Any] = call.args
    if call.method == "chat.update":
        return "redraw"
    if call.method != "chat.postMessage":
        return call.method
    text = str(args.get("text") or "")
    threaded = bool(args.get("thread_ts"))
    if args.get("metadata") and not threaded:
        return "card"
    if text.startswith(NAG_PREFIXES):
        return "nag line" if threaded else "nag roll-up"
    return "thread line" if threaded else "channel alert"


def outcome_of(call: SlackCall) -> str:
    if call.ok:
        return "ok"
    if call.status == 429 or call.error in ("ratelimited", "rate_limited"):
        return "429"
    return call.error or str(call.status)


def tally(calls: list[SlackCall]) -> dict[str, dict[str, int]]:
    """Return {kind: {outcome: count}} for every call the fake answered."""
    counts: dict[str, Counter[str]] = {}
    for call in calls:
        counts.setdefault(kind_of(call), Counter())[outcome_of(call)] += 1
    return {kind: dict(c.most_common()) for kind, c in sorted(counts.items())}


def by_minute(calls: list[SlackCall]) -> list[dict[str, int]]:
    """Return, for each minute from the first call, the messages Slack took by kind."""
    if not calls:
        return []
    start = calls[0].at
    minutes: list[Counter[str]] = []
    for call in calls:
        if not call.ok or call.method not in ("chat.postMessage", "chat.update"):
            continue
        index = int((call.at - start) // 60)
        while len(minutes) <= index:
            minutes.append(Counter())
        minutes[index][kind_of(call)] += 1
    return [dict(m) for m in minutes]
