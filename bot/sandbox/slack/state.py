"""The sandbox Slack's workspace: users, channels and messages, and the helpers every method uses.

`SlackState` holds what the fake knows (the records of `bot.sandbox.slack.records`), lets a test set
up the workspace and act in it as a person would, answers the inspection questions tests ask, and
owns the shared steps of the Web API methods: resolving a channel, storing and deleting a message,
checking Block Kit. The method families build on it (`chat`, `views`, `conversations`, `faults`).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.sandbox import blockkit
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
    _Bucket,
    _Failure,
    _ResponseTarget,
    _Trigger,
)

_FIRST_TS_MICROS = 1_700_000_000_000_000
_TS_STEP_MICROS = 100
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")


class SlackState:
    """The fake workspace's state, its setup and inspection, and the methods' shared steps."""

    if TYPE_CHECKING:
        # Served by `LoopbackServer` in `FakeSlack`; response_urls and upload URLs point at it.
        @property
        def base_url(self) -> str: ...

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",
        signing_secret: str = "sandbox-signing-secret",
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0CAREBOT",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.team_domain = "sandbox"
        self.bot_user_id = bot_user_id
        self.bot_id = "B0CAREBOT"
        self.app_id = "A0CAREBOT"
        self.clock = clock
        self.valid_tokens: set[str] = {bot_token}
        self.calls: list[SlackCall] = []
        self.violations: list[Violation] = []
        self.views: dict[str, StoredView] = {}
        self.home_views: dict[str, StoredView] = {}
        self.responses: list[ResponsePost] = []
        self.ratelimited_count = 0
        self.users: dict[str, FakeUser] = {}
        self.channels: dict[str, FakeChannel] = {}
        self._deleted_channels: set[str] = set()
        self.usergroups: dict[str, list[str]] = {}
        self._calls_by_method: dict[str, list[SlackCall]] = {}
        self._messages: dict[tuple[str, str], StoredMessage] = {}
        self._top_level: dict[str, list[str]] = {}
        self._ephemerals: list[Ephemeral] = []
        self._channel_names: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_targets: dict[str, _ResponseTarget] = {}
        self._external_ids: dict[str, str] = {}
        self._view_stacks: dict[str, list[str]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._outage_until: float | None = None
        self._ts_micros = _FIRST_TS_MICROS
        self._ids = itertools.count(1)
        self.add_user(bot_user_id, name="carebot", real_name="Carebot", is_bot=True)

    # -- workspace setup ---------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
    ) -> FakeUser:
        """Add (or replace) a workspace member; channels without a member list let them all in."""
        handle = name or user_id.lower()
        user = FakeUser(
            id=user_id,
            name=handle,
            real_name=real_name or handle,
            display_name=display_name if display_name is not None else handle,
            tz=tz,
            is_bot=is_bot,
        )
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        members: list[str] | None = None,
        is_private: bool = False,
    ) -> FakeChannel:
        """Add (or replace) a channel; `members=None` lets everyone in."""
        channel = FakeChannel(
            id=channel_id,
            name=name or channel_id.lower(),
            is_private=is_private,
            members=list(members) if members is not None else None,
        )
        self.channels[channel_id] = channel
        self._channel_names[channel.name] = channel_id
        self._deleted_channels.discard(channel_id)
        return channel

    def delete_channel(self, channel_id: str) -> None:
        """Make `channel_id` unknown: every method naming it answers `channel_not_found`."""
        channel = self.channels.pop(channel_id, None)
        if channel is not None:
            self._channel_names.pop(channel.name, None)
        self._deleted_channels.add(channel_id)

    def set_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """Set the members of a user group (`S…`) for usergroups.users.list."""
        self.usergroups[usergroup_id] = list(users)

    def post_as_user(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> StoredMessage:
        """Add a message written by a human, as if they typed it in Slack."""
        return self._store_message(
            self._resolve_channel(channel), text=text, blocks=[], user=user, thread_ts=thread_ts
        )

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message as a person would in Slack (its thread goes with it)."""
        message = self._find_message(channel, ts)
        for reply in list(message.replies):
            found = self._messages.get((channel, reply))
            if found is not None:
                self._delete_message(found)
        self._delete_message(message)

    def remove_bot(self, channel: str) -> None:
        """Take the bot out of `channel`: like Slack, posting and reading history there then
        answer `not_in_channel` (the app has no chat:write.public)."""
        found = self._resolve_channel(channel)
        found.members = [u for u in self._members(found) if u != self.bot_user_id]

    def invite_bot(self, channel: str) -> None:
        """Add the bot to `channel` again."""
        found = self._resolve_channel(channel)
        if found.members is not None and self.bot_user_id not in found.members:
            found.members.append(self.bot_user_id)

    # -- inspection --------------------------------------------------------------------------

    def direct_messages(self, user_id: str) -> list[StoredMessage]:
        """Return what the app posted in its direct message with `user_id`, oldest first."""
        channel = _dm_channel(user_id)
        return self.channel_messages(channel) if channel in self.channels else []

    def calls_to(self, method: str) -> list[SlackCall]:
        """Return the recorded calls to one method, oldest first."""
        return list(self._calls_by_method.get(method, []))

    def channel_messages(self, channel: str) -> list[StoredMessage]:
        """Return a channel's top-level messages, oldest first, with their current content."""
        return [self._messages[(channel, ts)] for ts in self._top_level.get(channel, [])]

    def thread(self, channel: str, ts: str) -> list[StoredMessage]:
        """Return the replies in the thread under (channel, ts), oldest first, parent excluded."""
        parent = self._messages.get((channel, ts))
        if parent is None:
            return []
        return [self._messages[(channel, reply)] for reply in parent.replies]

    def message(self, channel: str, ts: str) -> StoredMessage:
        """Return the current message at (channel, ts); fail the test clearly if there is none."""
        found = self._messages.get((channel, ts))
        if found is None:
            raise AssertionError(f"FakeSlack has no message ts={ts} in channel {channel}")
        return found

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        """Return ephemeral messages, all or those shown to one user, oldest first."""
        return [e for e in self._ephemerals if user is None or e.user == user]

    # The `timeout` parameter is the documented test-facing API; it bounds polling, not one await.
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Poll `predicate` until it holds; raise AssertionError naming it after `timeout` s."""
        # Real time, not the injected clock: tests often freeze the clock while the bot works.
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__qualname__", repr(predicate))
                recent = (
                    ", ".join(f"{c.method}->{c.error or 'ok'}" for c in self.calls[-8:]) or "none"
                )
                raise AssertionError(
                    f"FakeSlack.wait_for: {name} still false after {timeout}s "
                    f"(last calls: {recent})"
                )
            await asyncio.sleep(0.01)

    # -- helpers -----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_micros += _TS_STEP_MICROS
        seconds, micros = divmod(self._ts_micros, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0SB{next(self._ids):07d}"

    def _record_violations(self, method: str, errors: list[str]) -> None:
        self.violations.extend(Violation(method=method, detail=e) for e in errors)

    def _resolve_channel(self, value: Any) -> FakeChannel:
        """Find a channel by id or name; unknown ids that look like Slack ids are created."""
        if not isinstance(value, str) or not value:
            raise SlackApiFailure("channel_not_found")
        channel = self.channels.get(value)
        if channel is not None:
            return channel
        by_name = self._channel_names.get(value.removeprefix("#"))
        if by_name is not None:
            return self.channels[by_name]
        if _CHANNEL_ID.match(value) and value not in self._deleted_channels:
            return self.add_channel(value)
        if _USER_ID.match(value):
            # Slack: a user ID as `channel` posts in the app's direct message with that user.
            return self.channels.get(_dm_channel(value)) or self.add_channel(
                _dm_channel(value),
                name=f"dm-{value.lower()}",
                members=[value, self.bot_user_id],
                is_private=True,
            )
        raise SlackApiFailure("channel_not_found")

    def _find_message(self, channel: str, ts: Any) -> StoredMessage:
        found = self._messages.get((channel, ts)) if isinstance(ts, str) else None
        if found is None:
            raise SlackApiFailure("message_not_found")
        return found

    def _check_blocks(self, method: str, args: JSON) -> None:
        errors = blockkit.validate_message_text(args.get("text"))
        if args.get("blocks") is not None:
            errors += blockkit.validate_message_blocks(args["blocks"])
        if errors:
            self._record_violations(method, errors)
            error = "msg_too_long" if not args.get("blocks") else "invalid_blocks"
            raise SlackApiFailure(error, extra={"errors": errors})

    def _check_view(self, method: str, view: Any) -> JSON:
        if view is None:
            raise SlackApiFailure("invalid_arguments")
        errors = blockkit.validate_view(view)
        if errors:
            self._record_violations(method, errors)
            raise SlackApiFailure(
                "invalid_arguments", extra={"response_metadata": {"messages": errors}}
            )
        checked: JSON = view
        return checked

    def _store_message(
        self,
        channel: FakeChannel,
        *,
        text: str,
        blocks: list[JSON],
        user: str,
        thread_ts: str | None = None,
        metadata: JSON | None = None,
        reply_broadcast: bool = False,
        from_bot: bool = False,
    ) -> StoredMessage:
        parent = None
        if thread_ts is not None:
            parent = self._messages.get((channel.id, thread_ts))
            if parent is None:
                raise SlackApiFailure("thread_not_found")
            if parent.is_reply:
                parent = self._messages[(channel.id, str(parent.thread_ts))]
        message = StoredMessage(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            user=user,
            bot_id=self.bot_id if from_bot else None,
            app_id=self.app_id if from_bot else None,
            team=self.team_id,
            thread_ts=parent.ts if parent is not None else None,
            parent_user_id=parent.user if parent is not None else None,
            metadata=metadata,
            reply_broadcast=reply_broadcast and parent is not None,
        )
        self._messages[(channel.id, message.ts)] = message
        if parent is not None:
            parent.replies.append(message.ts)
            if user not in parent.reply_users:
                parent.reply_users.append(user)
        if parent is None or message.reply_broadcast:
            self._top_level.setdefault(channel.id, []).append(message.ts)
        return message

    def _delete_message(self, message: StoredMessage) -> None:
        del self._messages[(message.channel, message.ts)]
        top = self._top_level.get(message.channel, [])
        if message.ts in top:
            top.remove(message.ts)
        if message.is_reply:
            parent = self._messages.get((message.channel, str(message.thread_ts)))
            if parent is not None and message.ts in parent.replies:
                parent.replies.remove(message.ts)

    def _members(self, channel: FakeChannel) -> list[str]:
        if channel.members is not None:
            return list(channel.members)
        return list(self.users)

    def _require_bot_in(self, channel: FakeChannel) -> None:
        if channel.members is not None and self.bot_user_id not in channel.members:
            raise SlackApiFailure("not_in_channel")


def _dm_channel(user_id: str) -> str:
    return f"D{user_id[1:]}"
