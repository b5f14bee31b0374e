"""What X costs and keeping it under a budget. X bills pay-per-use (its default plan since
February 2026): posts read, posts created (more with a link), optionally requests. `XMeter`
counts calls as they happen; `CostTracker` writes the counts to the database (summed across
replicas), prices them with the configured unit prices, and walks the budget ladder once a month:
a warning to the leads at 80 %, and at the budget polling slows to a floor and the channel is told.

Prices are settings because X's published figures disagree and change; the developer console
(https://console.x.com) shows what your plan actually charges.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.clock import Clock, ensure_utc
from bot.durations import format_duration
from bot.settings import Settings
from bot.sources.x_meter import READ_KINDS, XMeter, month_of
from storage import usage
from storage.engine import SessionFactory

log = logging.getLogger(__name__)

CONSOLE_URL = "https://console.x.com"
WARN_AT = 0.8
MONTH = timedelta(days=30)
NETWORK = "x"


class BudgetLevel(StrEnum):
    """Where this month's spend stands against the budget."""

    NONE = "none"  # no budget set
    OK = "ok"
    WARN = "warn"
    CAP = "cap"


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per unit X bills."""

    read: float
    request: float
    post: float
    post_link: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Prices:
        """Return the prices the settings give."""
        return cls(
            read=settings.x_price_read,
            request=settings.x_price_request,
            post=settings.x_price_post,
            post_link=settings.x_price_post_link,
        )


@dataclass(frozen=True, slots=True)
class Spend:
    """This month's X usage and what it costs."""

    month: str
    requests: int
    reads: int
    posts: int
    link_posts: int
    amount: float
    budget: float | None

    @property
    def fraction(self) -> float | None:
        """Return the share of the budget spent (None without a budget)."""
        return None if self.budget is None else self.amount / self.budget

    @property
    def level(self) -> BudgetLevel:
        """Return where the spend stands on the budget ladder."""
        fraction = self.fraction
        if fraction is None:
            return BudgetLevel.NONE
        if fraction >= 1:
            return BudgetLevel.CAP
        return BudgetLevel.WARN if fraction >= WARN_AT else BudgetLevel.OK


def price(
    month: str, counts: dict[str, tuple[int, int]], prices: Prices, budget: float | None
) -> Spend:
    """Price a month's (calls, items) by kind."""
    requests = sum(calls for kind, (calls, _) in counts.items() if kind in READ_KINDS)
    reads = sum(items for kind, (_, items) in counts.items() if kind in READ_KINDS)
    posts = counts.get("post", (0, 0))[0]
    link_posts = counts.get("post_link", (0, 0))[0]
    amount = (
        requests * prices.request
        + reads * prices.read
        + posts * prices.post
        + link_posts * prices.post_link
    )
    return Spend(month, requests, reads, posts, link_posts, round(amount, 6), budget)


def dollars(amount: float) -> str:
    """Render dollars: cents, or tenths of a cent below a dollar (a quiet month is not $0.00)."""
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.3f}"


def spend_text(spend: Spend) -> str:
    """Say this month's X spend in one mrkdwn line (digest and App Home)."""
    replies = spend.posts + spend.link_posts
    parts = [f"{spend.reads:,} read{'s' if spend.reads != 1 else ''}", f"{replies:,} replies"]
    line = f"*X this month*: {dollars(spend.amount)} ({', '.join(parts)})"
    if spend.budget is not None:
        line += f" of a {dollars(spend.budget)} budget ({spend.fraction or 0:.0%})"
        if spend.level == BudgetLevel.CAP:
            line += " · budget reached, polling slowed"
    return line + f" · <{CONSOLE_URL}|prices in the developer console>"


def poll_cost_lines(settings: Settings) -> list[str]:
    """Say what the configured intervals cost X a month, for `carebot check`."""
    prices = Prices.from_settings(settings)
    polls = int(MONTH / settings.poll_interval)
    every = format_duration(settings.poll_interval)
    rechecks = int(MONTH / settings.compliance_interval)
    lines = [
        f"X: polling every {every} is {polls:,} mention calls a month"
        f" (${polls * prices.request:,.2f} at ${prices.request:g} a request); each mention read"
        f" costs ${prices.read:g} (1,000 mentions: ${1000 * prices.read:,.2f}); a reply costs"
        f" ${prices.post:g}, ${prices.post_link:g} with a link.",
        f"X: content checks every {format_duration(settings.compliance_interval)} re-read each"
        f" stored post {rechecks:,} times a month: ${rechecks * prices.read:,.2f} per post kept"
        f" (retention {format_duration(settings.retention)}).",
    ]
    if settings.x_monthly_budget is None:
        lines.append("X: no monthly budget (set CAREBOT_X_MONTHLY_BUDGET to cap the spend).")
    else:
        lines.append(
            f"X: budget ${settings.x_monthly_budget:,.2f} a month; leads are warned at 80%, and at"
            f" the budget polling slows to every {format_duration(settings.x_budget_poll_floor)}."
        )
    lines.append(f"X: prices are settings (CAREBOT_X_PRICE_*); check them at {CONSOLE_URL}.")
    return lines


def _audience(leads: Sequence[str]) -> str:
    tokens = [f"<!subteam^{x}>" if x.startswith("S") else f"<@{x}>" for x in leads]
    return " ".join(tokens) + " " if tokens else ""


class CostTracker:
    """Writes X usage to the database, prices it, and walks the monthly budget ladder."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        meter: XMeter | None,
        prices: Prices,
        budget: float | None,
        floor: timedelta,
        notify: Callable[[str], Awaitable[object]],
        leads: Sequence[str] = (),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._meter = meter
        self._prices = prices
        self._budget = budget
        self._floor = floor
        self._notify = notify
        self._leads = list(leads)
        self._last_poll: datetime | None = None
        # Held while counts move from the meter to the database, so a spend read in between
        # sees them in exactly one of the two places.
        self._moving = asyncio.Lock()

    async def flush(self) -> None:
        """Add what the meter counted to the database; on failure keep it for the next try."""
        if self._meter is None:
            return
        async with self._moving:
            rows = self._meter.drain()
            if not rows:
                return
            try:
                async with self._sessions() as s, s.begin():
                    for month, kind, calls, items in rows:
                        await usage.add_usage(
                            s, network=NETWORK, month=month, kind=kind, calls=calls, items=items
                        )
            except BaseException:
                self._meter.restore(rows)
                raise

    async def spend(self) -> Spend:
        """Return this month's spend, including calls not yet written."""
        month = month_of(self._clock())
        async with self._moving, self._sessions() as s:
            counts = await usage.month_usage(s, network=NETWORK, month=month)
        for pending_month, kind, calls, items in self._meter.pending() if self._meter else []:
            if pending_month == month:
                old = counts.get(kind, (0, 0))
                counts[kind] = (old[0] + calls, old[1] + items)
        return price(month, counts, self._prices, self._budget)

    async def run_once(self) -> Spend:
        """Write the counts, then post this month's 80 % warning or budget notice, once each."""
        await self.flush()
        spend = await self.spend()
        level = spend.level
        if level in {BudgetLevel.WARN, BudgetLevel.CAP}:
            await self._announce(spend, BudgetLevel.WARN)
        if level == BudgetLevel.CAP:
            await self._announce(spend, BudgetLevel.CAP)
        return spend

    async def may_poll(self) -> bool:
        """Tell whether a poll may run now: always under budget, at the floor's pace at it."""
        now = ensure_utc(self._clock())
        capped = self._budget is not None and (await self.spend()).level == BudgetLevel.CAP
        if capped and self._last_poll is not None and now - self._last_poll < self._floor:
            return False
        self._last_poll = now
        return True

    async def _announce(self, spend: Spend, level: BudgetLevel) -> None:
        async with self._sessions() as s, s.begin():
            first = await usage.claim_notice(
                s, month=spend.month, level=level.value, now=self._clock()
            )
        if not first:
            return
        assert spend.budget is not None
        if level == BudgetLevel.WARN:
            text = (
                f":money_with_wings: {_audience(self._leads)}Carebot has spent "
                f"{dollars(spend.amount)} of this month's {dollars(spend.budget)} X budget "
                f"({spend.fraction or 0:.0%}). At the budget, polling slows to every "
                f"{format_duration(self._floor)}; raise CAREBOT_X_MONTHLY_BUDGET to avoid it."
            )
        else:
            text = (
                f":octagonal_sign: Carebot reached this month's {dollars(spend.budget)} X budget "
                f"({dollars(spend.amount)} spent). New mentions are now read every "
                f"{format_duration(self._floor)} instead of every poll until the month ends "
                "or the budget is raised; replies still go out."
            )
        await self._notify(text)
        log.warning("X budget %s: $%.2f of $%.2f", level.value, spend.amount, spend.budget)
