"""Domain errors. Each carries a message fit to show a Slack user; the global error handler and the
services map them to ephemeral messages, modal errors or channel alerts."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

log = logging.getLogger("carebot.errors")


class CarebotError(Exception):
    """Base of every error Carebot expects; `user_message` is safe to show in Slack."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class UnexpectedError(CarebotError):
    """An error nobody planned for, shown to the user with a reference to find it in the logs."""

    def __init__(self, error: BaseException) -> None:
        self.reference = uuid.uuid4().hex[:8]
        super().__init__(
            f"Sorry, something went wrong on our side (reference {self.reference}). "
            "Nothing was lost; please try again."
        )
        log.error("unexpected error (reference %s)", self.reference, exc_info=error)


class ConfigError(CarebotError):
    """A setting is missing or malformed; `variable` names it.

    One error may carry several problems (`problems`, each a variable and what is wrong with it),
    so that one run reports everything to fix; `variable` and `problem` are the first of them.
    """

    def __init__(
        self, variable: str, problem: str, *, more: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem
        self.problems: list[tuple[str, str]] = [(variable, problem), *more]

    @classmethod
    def of(cls, problems: Sequence[tuple[str, str]]) -> ConfigError:
        """Return one error carrying every `(variable, problem)` of `problems` (at least one)."""
        (variable, problem), *more = problems
        return cls(variable, problem, more=more)

    def lines(self) -> list[str]:
        """Return one line per problem, naming its variable."""
        return [f"{variable} {problem}" for variable, problem in self.problems]


class SlackUnreachable(CarebotError):
    """Slack did not answer at start-up; nothing may claim to be ready without it."""


class SourceError(CarebotError):
    """A social network did not do what was asked."""


class NetworkRateLimited(SourceError):
    """The network answered 429; `reset_at` is when it will take requests again, if it said."""

    def __init__(self, user_message: str, *, reset_at: datetime | None = None) -> None:
        super().__init__(user_message)
        self.reset_at = reset_at


class NetworkAuthError(SourceError):
    """The network rejected our credentials (401, or 403 on reads): revoked or wrong."""


class NetworkUnavailable(SourceError):
    """The network failed (5xx, timeout, connection refused); retrying later may work.

    `may_have_posted` is False only when the request certainly never reached the network (the
    connection was refused): after a timeout or a 5xx a post may exist all the same.
    """

    def __init__(self, user_message: str, *, may_have_posted: bool = True) -> None:
        super().__init__(user_message)
        self.may_have_posted = may_have_posted


class ReplyRejected(SourceError):
    """The network refused this reply (400, or 403: e.g. the author never mentioned us)."""


class ReplyNotAllowed(ReplyRejected):
    """The network's rules forbid the brand to reply to this post; retrying cannot help."""


class ReplyTooLong(CarebotError):
    """The reply is longer than the network allows, counted the network's way."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"Your reply is {length} characters; the limit is {limit}.")
        self.length = length
        self.limit = limit


class ReplyEmpty(CarebotError):
    """The reply has no text."""

    def __init__(self) -> None:
        super().__init__("The reply is empty.")


class CaseNotFound(CarebotError):
    """The case behind a button or modal no longer exists."""

    def __init__(self, case_id: int) -> None:
        super().__init__("That case no longer exists.")
        self.case_id = case_id


class AlreadyClaimed(CarebotError):
    """Someone else owns the case."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"<@{owner}> already owns this case. Ask them, or a lead, to release it.")
        self.owner = owner


class NotAllowed(CarebotError):
    """The user may not do this (not an agent, not the owner, not a lead)."""


class CaseClosed(CarebotError):
    """The case is resolved; reopen it first."""

    def __init__(self) -> None:
        super().__init__("This case is resolved. Reopen it first if it needs more work.")


class StaleAction(CarebotError):
    """The button was pressed on a drawing of the case older than its state (or replayed)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"Nothing was done: this case changed since that card was drawn, so {what} no "
            "longer applies. The card now shows where it stands."
        )


class ReplyInFlight(CarebotError):
    """The same reply is being sent right now (a double submit), or a reply to the case is still
    being confirmed with the network; sending now could post twice."""

    def __init__(self, user_message: str = "This reply is already being sent.") -> None:
        super().__init__(user_message)
