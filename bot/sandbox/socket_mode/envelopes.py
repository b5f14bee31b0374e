"""Envelopes over the sandbox's Socket Mode links, as Slack sends them and waits for acks.

Requests arrive as envelopes (`events_api`, `interactive`, `slash_commands`) with an
`envelope_id` and `accepts_response_payload`, spread round robin over the app's open
connections; an unacknowledged Events API envelope is sent again with
`retry_attempt`/`retry_reason`; an ack's payload is what an HTTP app would have answered (modal
`response_action`s, a slash command's ephemeral answer). A burst sends many at once and times
each from its send to its ack.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from bot.sandbox.socket_mode.links import (
    _RESPONSE_PAYLOAD_TYPES,
    ACK_TIMEOUT_SECONDS,
    ENVELOPE_TYPES,
    EVENT_RETRIES,
    JSON,
    SocketAck,
    SocketConnection,
    SocketLinks,
    SocketModeUnavailable,
)


class FakeSocketMode(SocketLinks):
    """Socket Mode for one app in a `FakeSlack`: tokens, tickets, connections and envelopes."""

    # -- envelopes ---------------------------------------------------------------------------

    async def deliver(
        self, type: str, payload: JSON, *, ack_seconds: float | None = None
    ) -> SocketAck:
        """Send one request to the app as an envelope and wait for its ack.

        `type` is `events_api`, `interactive` or `slash_commands`. An Events API envelope that is
        not acked within `ack_seconds` (default `self.ack_seconds`, Slack's 3 s) is sent again,
        up to three times, with `retry_attempt` and `retry_reason: timeout`, as Slack retries
        events; others are answered once or not at all.
        Raise SocketModeUnavailable when the app has no connection open.
        """
        if type not in ENVELOPE_TYPES:
            raise ValueError(f"unknown envelope type {type!r}; one of {sorted(ENVELOPE_TYPES)}")
        accepts = type == "slash_commands" or (
            type == "interactive" and payload.get("type") in _RESPONSE_PAYLOAD_TYPES
        )
        wait = ack_seconds if ack_seconds is not None else self.ack_seconds
        started = time.perf_counter()
        attempts = EVENT_RETRIES + 1 if type == "events_api" else 1
        for attempt in range(attempts):
            conn = self._pick()
            envelope_id = str(uuid.uuid4())
            envelope: JSON = {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": type,
                "accepts_response_payload": accepts,
            }
            if type == "events_api":
                envelope["retry_attempt"] = attempt
                envelope["retry_reason"] = "timeout" if attempt else ""
            future: asyncio.Future[JSON | None] = asyncio.get_running_loop().create_future()
            self._pending[envelope_id] = future
            conn.envelopes += 1
            try:
                await conn.ws.send_str(json.dumps(envelope))
                ack = await asyncio.wait_for(asyncio.shield(future), wait)
            except (TimeoutError, ConnectionError, RuntimeError):
                continue
            finally:
                self._pending.pop(envelope_id, None)
                self._acked_at.pop(envelope_id, None)
            conn.acks += 1
            if ack is not None and not accepts:
                self.protocol_errors.append(
                    f"{type} envelope {envelope_id} does not accept a response payload, but its "
                    f"ack carried one: {ack}"
                )
            result = SocketAck(
                envelope_id=envelope_id,
                type=type,
                acked=True,
                payload=ack,
                elapsed=time.perf_counter() - started,
                attempts=attempt + 1,
                connection=conn.id,
            )
            self.acks.append(result)
            return result
        result = SocketAck(
            envelope_id=envelope_id,
            type=type,
            acked=False,
            payload=None,
            elapsed=time.perf_counter() - started,
            attempts=attempts,
            connection=conn.id,
        )
        self.acks.append(result)
        return result

    async def deliver_burst(
        self, type: str, payloads: list[JSON], *, ack_seconds: float = ACK_TIMEOUT_SECONDS
    ) -> list[SocketAck]:
        """Send many envelopes at once and time each from its send to its ack, as Slack sees it.

        Every envelope is serialised before the first is sent, and each ack is timed when the
        fake reads it, so the figures are the app's, not this loop's. No retries: a burst is
        measured once. Envelopes are spread over the open connections as `deliver` spreads them.
        """
        if type not in ENVELOPE_TYPES:
            raise ValueError(f"unknown envelope type {type!r}; one of {sorted(ENVELOPE_TYPES)}")
        loop = asyncio.get_running_loop()
        prepared: list[tuple[SocketConnection, str, str, asyncio.Future[JSON | None]]] = []
        for payload in payloads:
            conn = self._pick()
            envelope_id = str(uuid.uuid4())
            envelope = {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": type,
                "accepts_response_payload": type == "slash_commands",
            }
            future: asyncio.Future[JSON | None] = loop.create_future()
            self._pending[envelope_id] = future
            prepared.append((conn, envelope_id, json.dumps(envelope), future))
        sent_at: dict[str, float] = {}
        for conn, envelope_id, text, _ in prepared:
            sent_at[envelope_id] = time.perf_counter()
            conn.envelopes += 1
            await conn.ws.send_str(text)
        done, _ = await asyncio.wait([f for *_, f in prepared], timeout=ack_seconds)
        results: list[SocketAck] = []
        for conn, envelope_id, _, future in prepared:
            self._pending.pop(envelope_id, None)
            acked = future in done and not future.cancelled()
            answered = self._acked_at.pop(envelope_id, None)
            results.append(
                SocketAck(
                    envelope_id=envelope_id,
                    type=type,
                    acked=acked,
                    payload=future.result() if acked else None,
                    elapsed=(answered - sent_at[envelope_id]) if answered else ack_seconds,
                    attempts=1,
                    connection=conn.id,
                )
            )
            if acked:
                conn.acks += 1
        self.acks.extend(results)
        return results

    def _pick(self) -> SocketConnection:
        """Choose the connection for the next envelope: round robin over the open ones."""
        live = self.open_connections()
        if not live:
            raise SocketModeUnavailable(
                "the app has no Socket Mode connection open (is the bot running in Socket Mode?)"
            )
        self._next_connection += 1
        return live[self._next_connection % len(live)]
