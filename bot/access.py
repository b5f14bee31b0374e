"""Who may do what: CAREBOT_AGENTS and CAREBOT_LEADS name users (U…/W…) and user groups (S…);
group membership is read from `usergroups.users.list` and cached briefly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 60.0


class AccessPolicy:
    """Answers "is this user an agent / a lead?"; an empty list means everyone."""

    def __init__(
        self,
        *,
        slack: AsyncWebClient,
        agents: Sequence[str],
        leads: Sequence[str],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack = slack
        self._agents = tuple(agents)
        self._leads = tuple(leads)
        self._now = monotonic
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    @property
    def leads(self) -> tuple[str, ...]:
        """Return the configured lead users and groups (for mentions in breach messages)."""
        return self._leads

    async def is_agent(self, user: str) -> bool:
        """Tell whether `user` may claim, reply and resolve (leads always may)."""
        if not self._agents:
            return True
        return await self._member(user, self._agents) or await self.is_lead(user)

    async def is_lead(self, user: str) -> bool:
        """Tell whether `user` may use lead actions."""
        return not self._leads or await self._member(user, self._leads)

    async def _member(self, user: str, entries: Sequence[str]) -> bool:
        if user in entries:
            return True
        for entry in entries:
            if entry.startswith("S") and user in await self._group(entry):
                return True
        return False

    async def _group(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached and self._now() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        try:
            response = await self._slack.usergroups_users_list(usergroup=group)
            members = frozenset(str(u) for u in response.get("users") or [])
        except (SlackApiError, SlackClientError, OSError, TimeoutError) as exc:
            # Fail closed for this check, but keep serving a recent answer if we have one.
            log.warning("cannot read user group %s: %s", group, exc)
            return cached[1] if cached else frozenset()
        self._groups[group] = (self._now(), members)
        return members
