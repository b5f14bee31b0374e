"""What a network says about posts Carebot stored: still up as stored, edited, or no longer
visible (deleted, protected, suspended, withheld). The compliance job acts on these."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class PostStatus(StrEnum):
    """How a stored post stands on its network now."""

    OK = "ok"
    EDITED = "edited"
    DELETED = "deleted"
    PROTECTED = "protected"
    SUSPENDED = "suspended"
    WITHHELD = "withheld"

    @property
    def gone(self) -> bool:
        """Whether the post may no longer be stored or shown."""
        return self not in {PostStatus.OK, PostStatus.EDITED}


@dataclass(frozen=True, slots=True)
class PostCheck:
    """One stored post checked against its network; `text` is the latest version when edited."""

    external_id: str
    status: PostStatus
    text: str | None = None


@runtime_checkable
class CheckingSource(Protocol):
    """A source that can tell what became of posts it delivered earlier."""

    network: str

    async def check_posts(self, external_ids: list[str]) -> list[PostCheck]:
        """Return one check per id (an id the network says nothing about is left out)."""
