"""The HTTP edge: Slack's POST /slack/events, checked and decoded before Bolt sees it.

Bolt's own aiohttp adapter decodes every form body with `urllib.parse.parse_qsl` (pure Python,
and for a card's payload slower than Bolt's whole dispatch) and only then checks the
signature. Here the signature is checked first, on the exact body received (with slack_sdk's
`SignatureVerifier`, the check Bolt itself uses, including the 5-minute replay window), so
unsigned requests are never decoded; form bodies are then decoded with yarl's C decoder
and handed to Bolt as the JSON document Bolt would have made of them. Bolt's own verification is
therefore off (`bot.app.build_app`); everything HTTP reaches Bolt through this edge.

Nothing a client sends can make it answer 500: headers are checked for shape before they are
used (a timestamp of `abc`, `1e9` or 5,000 digits is simply not a timestamp), and a signed body
that is not a JSON object Bolt can read, or nests deeper than any Slack payload does, gets 400.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from yarl import URL

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
FORM = "application/x-www-form-urlencoded"
# Slack's timestamp is Unix seconds; its signature is "v0=" and a hex SHA-256.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# Slack's deepest payloads (a view's state inside a message's blocks) nest about 15 levels;
# Python's JSON decoder recurses, and gives up near 1,000. Bodies with fewer brackets than this
# (every real one) are not even scanned.
MAX_NESTING = 200


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is turned away: the HTTP status and the error sent back."""

    status: int
    error: str


UNSIGNED = Refusal(401, "invalid request")


def nests_deeper_than(text: str, limit: int) -> bool:
    """Tell whether the JSON `text` nests objects/arrays more than `limit` levels deep."""
    if text.count("{") + text.count("[") <= limit:
        return False  # cannot nest deeper than it has brackets; real payloads stop here
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            if depth > limit:
                return True
        elif char in "}]":
            depth -= 1
    return False


def check_signature(
    verifier: SignatureVerifier, *, body: str, timestamp: str | None, signature: str | None
) -> bool:
    """Tell whether Slack signed `body` at `timestamp`; malformed headers are simply unsigned."""
    if timestamp is None or signature is None:
        return False
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    return verifier.is_valid(body, timestamp, signature)


def admit(
    verifier: SignatureVerifier,
    *,
    raw: bytes,
    timestamp: str | None,
    signature: str | None,
    content_type: str,
    headers: dict[str, str | Sequence[str]],
    query: str = "",
) -> AsyncBoltRequest | Refusal:
    """Return the Bolt request for a verified, readable body, or why it is refused."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return Refusal(400, "body is not UTF-8")
    if not check_signature(verifier, body=text, timestamp=timestamp, signature=signature):
        return UNSIGNED
    if content_type == FORM:
        try:
            text = form_as_json(text)
        except (ValueError, UnicodeError):
            return Refusal(400, "body is not a form")
        headers["content-type"] = "application/json"
    if nests_deeper_than(text, MAX_NESTING):
        return Refusal(400, "body nests too deeply")
    try:
        request = AsyncBoltRequest(body=text, query=query, headers=headers)
    except json.JSONDecodeError:
        return Refusal(400, "body is not JSON")
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError):
        # Valid JSON that is not an object Bolt can read (a list, a string, fields of odd types).
        return Refusal(400, "body is not a Slack request")
    if not isinstance(request.body, dict):
        return Refusal(400, "body is not a Slack request")
    return request


def form_as_json(text: str) -> str:
    """Return a form body as the JSON text Bolt makes of it: the `payload` field of interactivity
    requests as it is, any other form (slash commands) as an object of its fields."""
    fields = URL.build(query_string=text, encoded=True).query
    payload = fields.get("payload")
    if payload is not None:
        return payload
    return json.dumps(dict(fields.items()))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def slack_events_handler(app: AsyncApp, signing_secret: str) -> Handler:
    """Return the aiohttp handler that verifies, decodes and dispatches Slack's requests."""
    verifier = SignatureVerifier(signing_secret)

    async def handle(request: web.Request) -> web.StreamResponse:
        headers: dict[str, str | Sequence[str]] = {
            name.lower(): value for name, value in request.headers.items()
        }
        outcome = admit(
            verifier,
            raw=await request.read(),
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
            content_type=request.content_type,
            headers=headers,
            query=request.query_string,
        )
        if isinstance(outcome, Refusal):
            if outcome is UNSIGNED:
                log.info("rejected a request with a missing, wrong or stale Slack signature")
            else:
                log.info("rejected a signed request: %s", outcome.error)
            return web.json_response({"error": outcome.error}, status=outcome.status)
        return await to_aiohttp_response(await app.async_dispatch(outcome))

    return handle
