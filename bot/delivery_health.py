"""What delivery knows of its own health: its counters, and the install-level refusals Slack gave
it by call kind (a revoked token, a missing scope, the bot out of the channel). While any is
present delivery is degraded and /healthz says why; the first refusal alerts once, by DM, where it
can still be seen, and the first call that works again ends it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_api import SLACK_CALL_ERRORS, SlackInstallBroken, classify_slack_error

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DeliveryStats:
    """Counters for logs, tests and benchmarks."""

    cards_posted: int = 0
    cards_recovered: int = 0
    rate_limited: int = 0
    failures: int = 0
    updates: int = 0
    thread_posts: int = 0
    skipped: int = 0
    cards_reposted: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SlackHealth:
    """Whether Slack takes what delivery sends; `problems` maps a call kind to its error code."""

    ok: bool
    problems: dict[str, str]
    advice: str | None
    since: float | None

    def as_check(self) -> dict[str, Any]:
        """Return this as a /healthz check: status and, when degraded, why in words."""
        if self.ok:
            return {"status": "ok"}
        errors = ", ".join(f"{kind}: {error}" for kind, error in sorted(self.problems.items()))
        return {"status": "degraded", "reason": f"Slack refuses {errors}; {self.advice}"}


class InstallWatch:
    """Install-level refusals of delivery to one channel, and the alert about them."""

    def __init__(self, *, slack: AsyncWebClient, channel: str, alert_to: Sequence[str]) -> None:
        self._slack = slack
        self._channel = channel
        # Install-level refusals by call kind; delivery is degraded while any is present.
        self._broken: dict[str, SlackInstallBroken] = {}
        self._broken_since: float | None = None
        self._alerted = False
        # People to tell in a DM when the channel itself is out of reach (user IDs only).
        self._alert_to = [u for u in alert_to if u.startswith(("U", "W"))]

    def health(self) -> SlackHealth:
        """Return whether Slack takes what delivery sends, and why not (for /healthz)."""
        problems = {kind: exc.error for kind, exc in self._broken.items()}
        first = next(iter(self._broken.values()), None)
        return SlackHealth(
            ok=not problems,
            problems=problems,
            advice=first.advice() if first else None,
            since=self._broken_since,
        )

    async def install_broken(self, kind: str, exc: SlackInstallBroken) -> None:
        """Record an install-level refusal; alert once, where it can still be seen."""
        first = not self._broken
        self._broken[kind] = exc
        if not first:
            return
        self._broken_since = time.monotonic()
        log.error(
            "Slack refuses Carebot's %s in %s: %s; %s",
            kind,
            self._channel,
            exc.error,
            exc.advice(),
        )
        if exc.channel_problem and self._alert_to:
            text = (
                f":warning: Carebot cannot deliver to <#{self._channel}>: Slack says "
                f"`{exc.error}`. To fix it: {exc.advice()}. Cards wait and go out once it works."
            )
            self._alerted = await self._direct_messages(text)

    async def succeeded(self, kind: str) -> None:
        """Record that a call of `kind` worked; once none is refused, say so where alerted."""
        if kind not in self._broken:
            return
        del self._broken[kind]
        if self._broken:
            return
        self._broken_since = None
        log.info("Slack takes Carebot's messages in %s again", self._channel)
        if self._alerted:
            self._alerted = False
            await self._direct_messages(
                f":white_check_mark: Carebot delivers to <#{self._channel}> again."
            )

    async def _direct_messages(self, text: str) -> bool:
        """DM `text` to the alert list; return whether anyone got it."""
        told = False
        for user in self._alert_to:
            try:
                await self._slack.chat_postMessage(channel=user, text=text)
                told = True
            except SLACK_CALL_ERRORS as exc:
                log.warning("could not alert %s: %s", user, classify_slack_error(exc))
        return told
