"""What happened to a case, as services report it: plain values that `bot/blocks/lines.py`
turns into the card thread's lines, so no service writes Slack text itself."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.cases import ResolveReason


@dataclass(frozen=True, slots=True)
class Claimed:
    """`user` became the owner."""

    user: str


@dataclass(frozen=True, slots=True)
class Released:
    """`owner` no longer owns the case; `by` released it when it was someone else."""

    owner: str
    by: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    """`user` closed the case, with a reason and a note when given."""

    user: str
    reason: ResolveReason | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Reopened:
    """`user` put the closed case back in the queue."""

    user: str


@dataclass(frozen=True, slots=True)
class ReplySent:
    """`user`'s reply went out on `network`; `claimed`: sending it made them the owner."""

    user: str
    text: str
    url: str | None
    network: str
    claimed: bool = False


@dataclass(frozen=True, slots=True)
class ReplyNotPosted:
    """A reply whose outcome was in doubt turned out not to be posted, for `reason`."""

    user: str
    reason: str
    network: str


CaseEvent = Claimed | Released | Resolved | Reopened | ReplySent | ReplyNotPosted
