"""`SlackSimulator`: the Slack side of an end-to-end test, playing the user in the Slack client.

It reads the current cards and modals from a `FakeSlack`, builds block_actions,
view_submission, slash-command and Events API payloads the way Slack sends them (form-encoded
`payload=` JSON, form fields, JSON envelopes), signs them and POSTs them over loopback HTTP,
measuring how long the bot took to answer. With `socket_mode=True` the same payloads go to a
Socket Mode bot as envelopes over the fake's WebSocket instead, and the answer is the ack's
payload, so one test runs against either mode.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import aiohttp

from bot.sandbox.simulator.payloads import (
    SimResponse,
    _find_button,
    _now_ts,
    _state_values,
    form_body,
    signed_headers,
)
from bot.sandbox.slack import JSON, FakeSlack, StoredMessage


class SlackSimulator:
    """Send Slack's interactivity, slash-command and event requests to a bot over HTTP."""

    def __init__(
        self,
        fake: FakeSlack,
        *,
        events_url: str = "",
        signing_secret: str = "",
        socket_mode: bool = False,
        team_id: str | None = None,
        api_app_id: str = "A0CAREBOT",
        verification_token: str = "sandbox-verification-token",
    ) -> None:
        self.fake = fake
        self.socket_mode = socket_mode
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.team_id = team_id or fake.team_id
        self.api_app_id = api_app_id
        self.verification_token = verification_token
        self._session: aiohttp.ClientSession | None = None
        self._event_ids: Iterator[int] = itertools.count(1)

    async def start(self) -> None:
        """Open the HTTP session (inside the running event loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- interactions ------------------------------------------------------------------------

    async def click(
        self,
        user_id: str,
        *,
        channel: str,
        ts: str,
        action_id: str,
        sign: bool = True,
        secret: str | None = None,
        seen: StoredMessage | None = None,
    ) -> SimResponse:
        """Press the button `action_id` on the message at (channel, ts).

        By default the button is found on the message as it is now; pass `seen`, an earlier copy,
        to press a button on a card that changed since this user's client drew it (two people
        pressing Claim at nearly the same time).
        """
        payload = self.click_payload(
            user_id, channel=channel, ts=ts, action_id=action_id, seen=seen
        )
        return await self._send_payload(payload, sign=sign, secret=secret)

    def click_payload(
        self,
        user_id: str,
        *,
        channel: str,
        ts: str,
        action_id: str,
        seen: StoredMessage | None = None,
    ) -> JSON:
        """Return the block_actions payload Slack sends when `user_id` presses `action_id`."""
        message = seen or self.fake.message(channel, ts)
        block_id, button = _find_button(message, action_id)
        action: JSON = {
            "action_id": action_id,
            "block_id": block_id,
            "text": button.get("text"),
            "value": button.get("value", ""),
            "type": "button",
            "action_ts": _now_ts(),
        }
        if "style" in button:
            action["style"] = button["style"]
        container: JSON = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if message.is_reply:
            container["thread_ts"] = message.thread_ts
        return {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": container,
            "trigger_id": self.fake.issue_trigger_id(user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "message": message.as_dict(),
            "state": {"values": {}},
            "response_url": self.fake.new_response_url(
                channel=channel, message_ts=message.ts, user_id=user_id
            ),
            "actions": [action],
        }

    async def submit_view(
        self,
        user_id: str,
        *,
        view_id: str,
        values: dict[str, dict[str, Any]],
        sign: bool = True,
        secret: str | None = None,
    ) -> SimResponse:
        """Submit the stored modal `view_id` with `values[block_id][action_id]` filled in."""
        payload = self.view_submission_payload(user_id, view_id=view_id, values=values)
        response = await self._send_payload(payload, sign=sign, secret=secret)
        if response.status == 200:
            self.fake.view_submitted(view_id, response.body)
        return response

    def view_submission_payload(
        self, user_id: str, *, view_id: str, values: dict[str, dict[str, Any]]
    ) -> JSON:
        """Return the view_submission payload of `user_id` submitting the stored modal."""
        stored = self.fake.views.get(view_id)
        if stored is None:
            raise AssertionError(
                f"FakeSlack has no view {view_id}; known: {sorted(self.fake.views)}"
            )
        if stored.closed:
            raise AssertionError(f"view {view_id} is closed; a user cannot submit it")
        view = dict(stored.payload)
        view["state"] = {"values": _state_values(stored.blocks, values, view_id)}
        return {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": self.fake.issue_trigger_id(user_id),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    async def slash_command(
        self,
        user_id: str,
        *,
        text: str = "",
        command: str = "/care",
        channel_id: str = "C0SANDBOX",
        sign: bool = True,
        secret: str | None = None,
    ) -> SimResponse:
        """Run a slash command as `user_id` typed it in `channel_id`."""
        fields = self.slash_command_fields(
            user_id, text=text, command=command, channel_id=channel_id
        )
        if self.socket_mode:
            response = SimResponse.from_ack(
                await self.fake.socket_mode.deliver("slash_commands", fields)
            )
        else:
            response = await self.send(
                urlencode(fields).encode(),
                content_type="application/x-www-form-urlencoded",
                sign=sign,
                secret=secret,
            )
        if response.status == 200 and isinstance(response.body, dict):
            # An answer in the response itself is shown like one sent to the response_url.
            self.fake.command_answered(channel=channel_id, user_id=user_id, payload=response.body)
        return response

    def slash_command_body(
        self, user_id: str, *, text: str = "", command: str = "/care", channel_id: str = "C0SANDBOX"
    ) -> bytes:
        """Return the form body Slack sends when `user_id` runs `command text` in `channel_id`."""
        fields = self.slash_command_fields(
            user_id, text=text, command=command, channel_id=channel_id
        )
        return urlencode(fields).encode()

    def slash_command_fields(
        self, user_id: str, *, text: str = "", command: str = "/care", channel_id: str = "C0SANDBOX"
    ) -> dict[str, str]:
        """Return the fields of the slash-command request Slack sends."""
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.fake.team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user(user_id)["username"],
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self.fake.new_response_url(channel=channel_id, user_id=user_id),
            "trigger_id": self.fake.issue_trigger_id(user_id),
        }

    async def event(
        self, event: dict[str, Any], *, sign: bool = True, secret: str | None = None
    ) -> SimResponse:
        """Deliver one Events API event wrapped in its `event_callback` envelope."""
        now = time.time()
        inner = {"event_ts": _now_ts(), **event}
        envelope: JSON = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": f"Ev0SB{next(self._event_ids):07d}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.fake.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        if self.socket_mode:
            return SimResponse.from_ack(await self.fake.socket_mode.deliver("events_api", envelope))
        body = json.dumps(envelope).encode()
        return await self.send(body, content_type="application/json", sign=sign, secret=secret)

    async def app_home_opened(self, user_id: str) -> SimResponse:
        """Tell the bot `user_id` opened its App Home tab."""
        event: JSON = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": f"D{user_id.lstrip('UW')}",
            "tab": "home",
        }
        home = self.fake.home_views.get(user_id)
        if home is not None:
            event["view"] = home.payload
        return await self.event(event)

    async def send(
        self,
        body: bytes,
        *,
        content_type: str,
        sign: bool = True,
        secret: str | None = None,
        timestamp: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SimResponse:
        """POST a raw body to the bot, signed like Slack unless `sign=False`.

        `extra_headers` adds headers Slack sends in some cases, e.g. `X-Slack-Retry-Num`.
        """
        if self.socket_mode:
            raise RuntimeError("a Socket Mode SlackSimulator sends envelopes, not HTTP bodies")
        if self._session is None:
            raise RuntimeError("SlackSimulator is not started; use `async with` or `start()`")
        if sign:
            key = secret if secret is not None else self.signing_secret
            headers = signed_headers(key, body, content_type=content_type, timestamp=timestamp)
        else:
            headers = {"Content-Type": content_type}
        headers.update(extra_headers or {})
        started = time.perf_counter()
        async with self._session.post(self.events_url, data=body, headers=headers) as resp:
            raw = await resp.text()
            elapsed = time.perf_counter() - started
            parsed: Any = raw
            if resp.content_type == "application/json" or raw.lstrip().startswith(("{", "[")):
                # A body that only looks like JSON stays text; the test then sees what was sent.
                with contextlib.suppress(json.JSONDecodeError):
                    parsed = json.loads(raw)
            return SimResponse(
                status=resp.status, body=parsed, elapsed=elapsed, headers=resp.headers
            )

    # -- helpers -----------------------------------------------------------------------------

    async def _send_payload(self, payload: JSON, *, sign: bool, secret: str | None) -> SimResponse:
        if self.socket_mode:
            return SimResponse.from_ack(await self.fake.socket_mode.deliver("interactive", payload))
        return await self.send(
            form_body(payload),
            content_type="application/x-www-form-urlencoded",
            sign=sign,
            secret=secret,
        )

    def _user(self, user_id: str) -> JSON:
        known = self.fake.users.get(user_id)
        name = known.name if known is not None else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> JSON:
        return {"id": self.team_id, "domain": self.fake.team_domain}

    def _channel_name(self, channel_id: str) -> str:
        known = self.fake.channels.get(channel_id)
        return known.name if known is not None else channel_id.lower()
