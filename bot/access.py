"""Who may do what, in one place. CAREBOT_AGENTS and CAREBOT_LEADS name users (U…/W…) and user
groups (S…); group membership is read from `usergroups.users.list` and cached briefly.

The rules (the README's access table is this module in words):
- an *agent* is anyone in CAREBOT_AGENTS, or any lead; an empty CAREBOT_AGENTS makes everyone an
  agent;
- a *lead* is anyone in CAREBOT_LEADS; an empty CAREBOT_LEADS makes every *agent* a lead (never
  everyone: a team that lists its agents and no leads has not opened the door to the workspace);
- agents claim, reopen, list the queue and see the team's figures; they reply to and resolve
  cases nobody else owns; the owner or a lead releases, replies to or resolves an owned case;
- leads ask for digests and share them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import ActionId
from bot.blocks.lines import not_allowed_text
from bot.errors import NotAllowed

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 60.0


class Permission(StrEnum):
    """Everything the access policy decides."""

    CLAIM = "claim"
    REPLY = "reply"
    RELEASE = "release"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    QUEUE = "queue"
    TEAM_FIGURES = "team_figures"
    DIGEST = "digest"
    SHARE_DIGEST = "share_digest"


class Role(StrEnum):
    """Who a permission is for, before ownership is considered."""

    ANYONE = "anyone"
    AGENT = "agent"
    LEAD = "lead"


@dataclass(frozen=True, slots=True)
class Rule:
    """`role` may do it; with `owner_or_lead`, a case someone else owns needs a lead."""

    role: Role
    owner_or_lead: bool
    refusal: str
    owned_refusal: str = ""


RULES: dict[Permission, Rule] = {
    Permission.CLAIM: Rule(Role.AGENT, False, not_allowed_text(ActionId.CLAIM)),
    Permission.REPLY: Rule(
        Role.AGENT,
        True,
        not_allowed_text(ActionId.REPLY),
        "<@{owner}> owns this case. Ask them (or a lead) before replying.",
    ),
    # The owner may always hand a case back, even after leaving the agents list.
    Permission.RELEASE: Rule(
        Role.ANYONE,
        True,
        not_allowed_text(ActionId.RELEASE),
        "<@{owner}> owns this case; only they or a lead can release it.",
    ),
    Permission.RESOLVE: Rule(
        Role.AGENT,
        True,
        not_allowed_text(ActionId.RESOLVE),
        "<@{owner}> owns this case; only they or a lead can resolve it.",
    ),
    Permission.REOPEN: Rule(Role.AGENT, False, not_allowed_text(ActionId.REOPEN)),
    Permission.QUEUE: Rule(
        Role.AGENT, False, "Sorry, the queue is for Carebot agents. Ask a lead to add you."
    ),
    Permission.TEAM_FIGURES: Rule(
        Role.AGENT, False, "Sorry, the team's figures are for Carebot agents."
    ),
    Permission.DIGEST: Rule(
        Role.LEAD,
        False,
        "Sorry, digests are for Carebot leads. Ask a lead if you need the figures.",
    ),
    Permission.SHARE_DIGEST: Rule(Role.LEAD, False, not_allowed_text(ActionId.SHARE_DIGEST)),
}


class AccessPolicy:
    """Answers "may this user do that?" for every permission (see the module's rules)."""

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
        """Tell whether `user` is an agent (listed, a listed lead, or nobody is listed)."""
        if not self._agents:
            return True
        if await self._member(user, self._agents):
            return True
        return bool(self._leads) and await self._member(user, self._leads)

    async def is_lead(self, user: str) -> bool:
        """Tell whether `user` is a lead (listed, or an agent when no leads are listed)."""
        if not self._leads:
            return await self.is_agent(user)
        return await self._member(user, self._leads)

    async def allows(self, permission: Permission, user: str, *, owner: str | None = None) -> bool:
        """Tell whether `user` may do `permission` (to a case `owner` owns, if given)."""
        return await self._refusal(permission, user, owner=owner) is None

    async def require(self, permission: Permission, user: str, *, owner: str | None = None) -> None:
        """Raise NotAllowed, saying why, unless `user` may do `permission`."""
        refusal = await self._refusal(permission, user, owner=owner)
        if refusal is not None:
            raise NotAllowed(refusal)

    async def _refusal(self, permission: Permission, user: str, *, owner: str | None) -> str | None:
        rule = RULES[permission]
        is_owner = owner is not None and owner == user
        if rule.role == Role.LEAD and not await self.is_lead(user):
            return rule.refusal
        if rule.role == Role.AGENT and not await self.is_agent(user):
            return rule.refusal
        owned_by_another = rule.owner_or_lead and owner is not None and not is_owner
        if owned_by_another and not await self.is_lead(user):
            if rule.role == Role.ANYONE and not await self.is_agent(user):
                return rule.refusal
            return rule.owned_refusal.format(owner=owner)
        return None

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
