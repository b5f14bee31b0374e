"""Every value Carebot puts in a Slack payload and reads back: the card buttons' value, the
Share button's value and the modals' `private_metadata`. Each is a typed value encoded and parsed
here only. Slack hands back whatever the client sent, so a value that does not parse (an old
message, a tampered request) raises `StaleRequest`, a domain error with a message the user can act
on, which the one error handler shows instead of failing the request."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.digest import Period
from bot.errors import CarebotError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Slack's limits: a button value up to 2000 characters, private_metadata up to 3000.
BUTTON_VALUE_LIMIT = 2000
METADATA_LIMIT = 3000

_CASE_BUTTON = re.compile(r"([1-9][0-9]{0,17})(?::([0-9]{1,18}))?")
_SHARE_BUTTON = re.compile(r"([a-z0-9]{1,16})@([0-9]{1,20})")


class StaleRequest(CarebotError):
    """A button or modal that does not name a case we can read (old message, tampered payload)."""

    def __init__(self, message: str = "That button is out of date; use the latest card.") -> None:
        super().__init__(message)


STALE_VIEW = (
    "This window is out of date or was not opened by Carebot; close it and use the button on "
    "the latest card."
)
STALE_SHARE = "That digest button is out of date; run /care digest again."


@dataclass(frozen=True, slots=True)
class CaseButton:
    """A card button's value: the case, and the state version the card showed (None: none)."""

    case_id: int
    version: int | None = None

    def encode(self) -> str:
        """Return the value as the button carries it (`42:7`, or `42` with no version)."""
        return str(self.case_id) if self.version is None else f"{self.case_id}:{self.version}"

    @classmethod
    def parse(cls, raw: object) -> CaseButton:
        """Read a card button's value, or raise StaleRequest."""
        match = _CASE_BUTTON.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            raise StaleRequest()
        case_id, version = match.groups()
        return cls(int(case_id), int(version) if version is not None else None)


@dataclass(frozen=True, slots=True)
class ShareButton:
    """The Share button's value: the digest's period and the instant its window is pinned to."""

    period: Period
    at: datetime

    def encode(self) -> str:
        """Return `<period>@<microseconds since the epoch>`, exact to the microsecond."""
        # A window cut at the second would lose the cases received in the fraction of a second
        # before the digest was drawn.
        return f"{self.period}@{(self.at - EPOCH) // timedelta(microseconds=1)}"

    @classmethod
    def parse(cls, raw: object) -> ShareButton:
        """Read a Share button's value, or raise StaleRequest."""
        match = _SHARE_BUTTON.fullmatch(raw) if isinstance(raw, str) else None
        if match is None or match.group(1) not in Period.__members__.values():
            raise StaleRequest(STALE_SHARE)
        try:
            at = EPOCH + timedelta(microseconds=int(match.group(2)))
        except OverflowError:
            raise StaleRequest(STALE_SHARE) from None
        return cls(Period(match.group(1)), at)


@dataclass(frozen=True, slots=True)
class ModalMetadata:
    """A modal's `private_metadata`: its case, and for Resolve the state version pressed on."""

    case_id: int
    seen: int | None = None

    def encode(self) -> str:
        """Return the metadata as compact JSON."""
        return encode_metadata(
            case_id=self.case_id, **({"seen": self.seen} if self.seen is not None else {})
        )

    @classmethod
    def parse(cls, raw: object) -> ModalMetadata:
        """Read a view's `private_metadata`, or raise StaleRequest."""
        try:
            text = raw if isinstance(raw, str) else None
            decoded = decode_metadata(text)
            case_id = case_id_from_metadata(text)
        except ValueError:
            raise StaleRequest(STALE_VIEW) from None
        seen = decoded.get("seen")
        if seen is not None and not _count(seen):
            raise StaleRequest(STALE_VIEW)
        return cls(case_id, seen)


def encode_metadata(**values: Any) -> str:
    """Encode values as compact JSON for a view's `private_metadata` (the JSON layer)."""
    try:
        encoded = json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"private_metadata values must be plain JSON: {exc}") from exc
    if len(encoded) > METADATA_LIMIT:
        raise ValueError(f"private_metadata is {len(encoded)} characters; Slack allows 3000")
    return encoded


def decode_metadata(text: str | None) -> dict[str, Any]:
    """Decode a view's `private_metadata`, raising ValueError when it is not what we wrote."""
    if not text:
        raise ValueError("private_metadata is empty; this view was not opened by Carebot")
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"private_metadata is not JSON: {exc.msg}") from exc
    if not isinstance(decoded, dict):
        raise ValueError("private_metadata is not a JSON object")
    return decoded


def case_id_from_metadata(text: str | None) -> int:
    """Return the case id a view's `private_metadata` carries, raising ValueError if none."""
    case_id = decode_metadata(text).get("case_id")
    if not isinstance(case_id, int) or isinstance(case_id, bool) or case_id <= 0:
        raise ValueError(f"private_metadata has no valid case_id: {case_id!r}")
    return case_id


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
