"""The sandbox Slack's conversations.* and usergroups.* methods.

conversations.info, conversations.history (newest first, `oldest`/`latest`/`inclusive` windows and
Slack's cursor paging, answered by bisecting each channel's ordered timestamps so a long history
costs O(log n) per page) and usergroups.users.list.
"""

from __future__ import annotations

import base64
import bisect
import math
from typing import Any

from bot.sandbox.slack.chat import flag
from bot.sandbox.slack.records import JSON, SlackApiFailure
from bot.sandbox.slack.state import SlackState


class ConversationMethods(SlackState):
    """conversations.info, conversations.history and usergroups.users.list."""

    def _conversations_info(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": channel.id.startswith("C"),
                "is_group": channel.id.startswith("G"),
                "is_im": channel.id.startswith("D"),
                "is_private": channel.is_private,
                "is_archived": False,
                "is_member": self.bot_user_id in self._members(channel),
                "created": 1_700_000_000,
                "context_team_id": self.team_id,
            }
        }

    def _conversations_history(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        self._require_bot_in(channel)
        stamps = self._top_level.get(channel.id, [])
        inclusive = flag(args.get("inclusive"))
        oldest = _ts_key(args.get("oldest"), default=0)
        latest = _ts_key(args.get("latest"), default=math.inf)
        lo = (bisect.bisect_left if inclusive else bisect.bisect_right)(
            stamps, oldest, key=_ts_key_of
        )
        hi = (bisect.bisect_right if inclusive else bisect.bisect_left)(
            stamps, latest, key=_ts_key_of
        )
        cursor = _decode_ts_cursor(args.get("cursor"))
        if cursor is not None:
            hi = min(hi, bisect.bisect_right(stamps, cursor, key=_ts_key_of))
        limit = _limit(args.get("limit"), default=100)
        first = max(lo, hi - limit)
        page = [self._messages[(channel.id, ts)].as_dict() for ts in reversed(stamps[first:hi])]
        has_more = first > lo
        next_cursor = _ts_cursor(stamps[first - 1]) if has_more else ""
        return {
            "messages": page,
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _usergroups_users_list(self, args: JSON) -> JSON:
        users = self.usergroups.get(str(args.get("usergroup")))
        if users is None:
            raise SlackApiFailure("no_such_subteam")
        return {"users": list(users)}


def _limit(value: Any, *, default: int) -> int:
    try:
        limit = int(value) if value is not None else default
    except (TypeError, ValueError) as exc:
        raise SlackApiFailure("invalid_limit") from exc
    return max(1, min(limit, 1000))


def _ts_key(value: Any, *, default: float) -> float:
    """Turn a Slack ts ("1700000000.000100", "0", float) into comparable microseconds."""
    if value is None or value == "":
        return default
    # Parsed exactly: a float cannot hold 16 significant digits of seconds.micros reliably.
    seconds, _, fraction = str(value).partition(".")
    try:
        return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])
    except ValueError as exc:
        raise SlackApiFailure("invalid_ts_oldest") from exc


def _ts_key_of(ts: str) -> float:
    return _ts_key(ts, default=0)


def _ts_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_ts_cursor(cursor: Any) -> float | None:
    if not cursor:
        return None
    try:
        raw = base64.b64decode(str(cursor)).decode()
    except ValueError as exc:
        raise SlackApiFailure("invalid_cursor") from exc
    if not raw.startswith("next_ts:"):
        raise SlackApiFailure("invalid_cursor")
    return _ts_key(raw.removeprefix("next_ts:"), default=math.inf)
