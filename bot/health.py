"""The bot's health as `GET /healthz` tells it (INTERFACE.md): `ok` or `degraded`, with one check
per part — the database, Slack, and each network — each saying why in words.

A periodic job (`HealthMonitor.refresh`) asks the database for a trivial query, asks Slack the
start-up questions again (the token and the channel), and reads each network's source health,
the state the poller keeps in the database (so every replica tells the same story). /healthz
answers from what the last refresh found, so a burst of probes never becomes a burst of calls.
Both the HTTP server and the Socket Mode health server serve `healthz_handler`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock, ensure_utc
from bot.domain.networks import network_label
from bot.preflight import Finding, probe_slack
from bot.settings import Settings
from storage import intake
from storage.engine import SessionFactory
from storage.probe import DatabaseUnusable, ping

log = logging.getLogger(__name__)

HEALTH_JOB = "health"
HEALTH_TICK = timedelta(seconds=15)
# Slack not answering a health probe within this long counts as failing, not as a hung check.
HEALTH_SLACK_TIMEOUT_SECONDS = 5
OK, FAILING = "ok", "failing"
# Source health values written by the poller (bot/poller.py) that mean "working".
_SOURCE_OK = "ok"


@dataclass(frozen=True, slots=True)
class Check:
    """One part's health: fine or failing, and why, in words."""

    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        """Return the check as /healthz shows it."""
        return {"status": OK if self.ok else FAILING, "detail": self.detail}


def slack_check(findings: Sequence[Finding]) -> Check:
    """Fold what the Slack probes found into one check (the first failure, else all is well)."""
    failed = [f for f in findings if not f.ok]
    if failed:
        return Check(False, "; ".join(f.text for f in failed))
    return Check(True, "; ".join(f.text for f in findings) or "not checked yet")


@dataclass(slots=True)
class HealthMonitor:
    """Keeps the latest health of each part; `refresh` brings it up to date."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    slack: AsyncWebClient
    networks: Sequence[str]
    clock: Clock
    revision: str | None = None
    checks: dict[str, Check] = field(default_factory=dict)

    async def refresh(self, *, slack: bool = True) -> None:
        """Ask each part how it is (the database, Slack unless `slack=False`, each network)."""
        self.checks["database"] = await self._database()
        if slack:
            self.record_slack(await probe_slack(self.settings, self.slack))
        for network in self.networks:
            self.checks[network] = await self._network(network)

    def record_slack(self, findings: Sequence[Finding]) -> None:
        """Record what a Slack probe found (start-up probes Slack before the monitor exists)."""
        self.checks["slack"] = slack_check(findings)

    async def _database(self) -> Check:
        try:
            await ping(self.engine)
        except DatabaseUnusable as exc:
            return Check(False, str(exc))
        return Check(True, f"reachable, at revision {self.revision}")

    async def _network(self, network: str) -> Check:
        label = network_label(network)
        try:
            async with self.sessions() as s:
                saved = await intake.get_cursor(s, source=network)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.debug("cannot read the source health of %s", network, exc_info=exc)
            return Check(False, "unknown: the database cannot be read (see the database check)")
        if saved is None:
            return Check(True, f"{label} is on; the first poll has not finished yet")
        since = _since(saved.health_since, self.clock())
        if saved.health != _SOURCE_OK:
            detail = saved.health_detail or saved.health.replace("_", " ")
            return Check(False, f"{label} is failing{since}: {detail}")
        return Check(True, f"reading {label} mentions")

    def report(self, *, ready: bool) -> dict[str, Any]:
        """Return the /healthz body: overall status and each part's check."""
        if not ready:
            return {"status": "starting", "checks": {}}
        failing = any(not check.ok for check in self.checks.values())
        return {
            "status": "degraded" if failing else "ok",
            "checks": {name: check.as_json() for name, check in self.checks.items()},
        }


def _since(at: datetime | None, now: datetime) -> str:
    if at is None:
        return ""
    minutes = int((now - ensure_utc(at)).total_seconds() // 60)
    return f" for {minutes} min" if minutes >= 1 else ""


class HasHealth(Protocol):
    """What serves a health body: the runtime (ready or not, and its report)."""

    ready: bool

    def health(self) -> dict[str, Any]:
        """Return the /healthz body."""
        ...


def healthz_handler(
    runtime: HasHealth,
) -> Callable[[web.Request], Any]:
    """Return the aiohttp handler for GET /healthz: 200 once ready (ok or degraded), else 503."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response(runtime.health(), status=200 if runtime.ready else 503)

    return healthz
