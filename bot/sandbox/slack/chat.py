"""The sandbox Slack's chat.* methods and response_url posts.

chat.postMessage (threads, broadcasts, metadata, the channel's rate limit), chat.update (which
keeps the blocks when `blocks` is omitted) and chat.postEphemeral; a response_url's replace,
delete, in-channel and ephemeral answers, at most five per URL; and a slash command's immediate
answer, which Slack shows as it shows a response_url post.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from bot.sandbox import blockkit
from bot.sandbox.slack.faults import FaultKnobs
from bot.sandbox.slack.records import (
    JSON,
    Ephemeral,
    ResponsePost,
    SlackApiFailure,
    _ResponseTarget,
)
from bot.sandbox.slack.state import _USER_ID

RESPONSE_URL_MAX_USES = 5


class ChatMethods(FaultKnobs):
    """chat.postMessage, chat.update, chat.postEphemeral and the response_url endpoint."""

    def new_response_url(
        self,
        *,
        channel: str | None = None,
        message_ts: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """Issue a response_url tied to an optional source message and user."""
        response_id = secrets.token_hex(12)
        self._response_targets[response_id] = _ResponseTarget(
            channel=channel, message_ts=message_ts, user_id=user_id
        )
        return f"{self.base_url}/response/{response_id}"

    def command_answered(self, *, channel: str | None, user_id: str | None, payload: JSON) -> None:
        """Show a slash command's immediate answer (HTTP body or Socket Mode ack payload).

        Slack shows it as it shows a response_url post: to the user alone unless
        `response_type` is `in_channel`. An answer without text or blocks shows nothing.
        """
        if not payload.get("text") and not payload.get("blocks"):
            return
        # Invalid blocks are recorded as violations there, as for a response_url post.
        self._apply_response_url(
            _ResponseTarget(channel=channel, message_ts=None, user_id=user_id), payload
        )

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        target = self._response_targets.get(response_id)
        try:
            payload = await request.json()
        except json.JSONDecodeError:
            payload = None
        status, body = self._apply_response_url(target, payload)
        self.responses.append(
            ResponsePost(
                response_id=response_id,
                url=str(request.url),
                payload=payload if isinstance(payload, dict) else {"raw": payload},
                status=status,
                at=self.clock(),
            )
        )
        return web.json_response(body, status=status)

    def _apply_response_url(self, target: _ResponseTarget | None, payload: Any) -> tuple[int, JSON]:
        """Validate a response_url post and apply it to the source message or user."""
        if target is None:
            return 404, {"ok": False, "error": "no_service"}
        target.uses += 1
        if target.uses > RESPONSE_URL_MAX_USES:
            return 404, {"ok": False, "error": "used_url"}
        if not isinstance(payload, dict):
            return 400, {"ok": False, "error": "invalid_payload"}
        errors = blockkit.validate_message_text(payload.get("text"))
        if "blocks" in payload:
            errors += blockkit.validate_message_blocks(payload["blocks"])
        if errors:
            self._record_violations("response_url", errors)
            return 400, {"ok": False, "error": "invalid_blocks", "errors": errors}
        text = str(payload.get("text") or "")
        blocks: list[JSON] = payload.get("blocks") or []
        source = (
            self._messages.get((target.channel, target.message_ts))
            if target.channel is not None and target.message_ts is not None
            else None
        )
        if payload.get("delete_original") and source is not None:
            self._delete_message(source)
        elif payload.get("replace_original") and source is not None:
            source.text, source.blocks = text, blocks
            source.edited = {"user": self.bot_user_id, "ts": self._next_ts()}
        elif payload.get("response_type") == "in_channel" and target.channel is not None:
            self._store_message(
                self._resolve_channel(target.channel),
                text=text,
                blocks=blocks,
                user=self.bot_user_id,
                thread_ts=payload.get("thread_ts"),
                from_bot=True,
            )
        else:
            self._ephemerals.append(
                Ephemeral(
                    channel=target.channel,
                    user=target.user_id,
                    text=text,
                    blocks=blocks,
                    message_ts=self._next_ts(),
                    source="response_url",
                )
            )
        return 200, {"ok": True}

    def _chat_post_message(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        self._require_bot_in(channel)
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackApiFailure("no_text")
        self._check_blocks("chat.postMessage", args)
        metadata = _metadata(args.get("metadata"))
        self._take_rate_token(channel.id)
        thread_ts = args.get("thread_ts") or None
        message = self._store_message(
            channel,
            text=str(args.get("text") or ""),
            blocks=args.get("blocks") or [],
            user=self.bot_user_id,
            thread_ts=str(thread_ts) if thread_ts is not None else None,
            metadata=metadata,
            reply_broadcast=flag(args.get("reply_broadcast")),
            from_bot=True,
        )
        return {"channel": channel.id, "ts": message.ts, "message": message.as_dict()}

    def _chat_update(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        message = self._find_message(channel.id, args.get("ts"))
        if message.user != self.bot_user_id:
            raise SlackApiFailure("cant_update_message")
        self._check_blocks("chat.update", args)
        if "metadata" in args:
            message.metadata = _metadata(args["metadata"])
        if "text" in args:
            message.text = str(args["text"] or "")
        # Slack keeps the previous blocks when `blocks` is omitted; an empty list removes them.
        if args.get("blocks") is not None:
            message.blocks = args["blocks"]
        message.edited = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_dict(),
        }

    def _chat_post_ephemeral(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        user = args.get("user")
        if not isinstance(user, str) or not _USER_ID.match(user):
            raise SlackApiFailure("user_not_found")
        if channel.members is not None and user not in channel.members:
            raise SlackApiFailure("user_not_in_channel")
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackApiFailure("no_text")
        self._check_blocks("chat.postEphemeral", args)
        ephemeral = Ephemeral(
            channel=channel.id,
            user=user,
            text=str(args.get("text") or ""),
            blocks=args.get("blocks") or [],
            message_ts=self._next_ts(),
            thread_ts=args.get("thread_ts"),
        )
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.message_ts}


def _metadata(value: Any) -> JSON | None:
    """Check message metadata has Slack's shape: event_type plus an event_payload object."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not isinstance(value.get("event_payload", {}), dict)
    ):
        raise SlackApiFailure("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": value.get("event_payload", {})}


def flag(value: Any) -> bool:
    """Read a boolean argument sent as JSON, or as "true"/"1" in a form or query."""
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)
