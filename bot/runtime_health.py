"""What a running bot says of its own health: the start-up proof that Slack takes the token and
the channels (before anything says "ready"), and the /healthz body built from the health monitor,
what delivery met since the last probe and the Socket Mode link. `bot.runtime` owns those parts
and their lifetimes; this module only reads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import ClientSession
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_slack_client
from bot.clock import Clock
from bot.delivery import DeliveryService
from bot.errors import SlackUnreachable
from bot.health import FAILING, HEALTH_SLACK_TIMEOUT_SECONDS, OK, HealthMonitor
from bot.preflight import config_error, probe_slack
from bot.settings import Settings
from bot.socket_mode import SocketModeLink
from storage.engine import SessionFactory


async def start_monitor(
    settings: Settings,
    *,
    slack: AsyncWebClient,
    http: ClientSession | None,
    engine: AsyncEngine,
    sessions: SessionFactory,
    networks: Sequence[str],
    clock: Clock,
    revision: str | None,
) -> HealthMonitor:
    """Prove Slack takes the token and the channels, then return a monitor primed with that."""
    probe_client = build_slack_client(settings, retries=False, session=http)
    probe_client.timeout = HEALTH_SLACK_TIMEOUT_SECONDS
    findings = await probe_slack(settings, slack)
    error = config_error(findings)
    if error is not None:
        raise error
    failed = [f.text for f in findings if not f.ok]
    if failed:
        raise SlackUnreachable("; ".join(failed))
    monitor = HealthMonitor(
        settings=settings,
        engine=engine,
        sessions=sessions,
        slack=probe_client,
        networks=list(networks),
        clock=clock,
        revision=revision,
    )
    monitor.record_slack(findings)
    await monitor.refresh(slack=False)
    return monitor


def health_body(
    *,
    monitor: HealthMonitor | None,
    ready: bool,
    revision: str | None,
    sources: list[str],
    jobs: list[str],
    delivery: DeliveryService | None,
    socket_mode: SocketModeLink | None,
) -> dict[str, Any]:
    """Return the /healthz body (INTERFACE.md: status ok or degraded, a check per part)."""
    report = (
        monitor.report(ready=ready) if monitor is not None else {"status": "starting", "checks": {}}
    )
    body: dict[str, Any] = {
        **report,
        "database": {"revision": revision},
        "sources": sources,
        "jobs": jobs,
    }
    if ready and delivery is not None:
        # What delivery met since the last probe (a token revoked, the bot removed): the
        # probe every HEALTH_TICK says so too, but this is at once.
        met = delivery.health().as_check()
        if met["status"] != OK and body["checks"].get("slack", {}).get("status") == OK:
            body["status"] = "degraded"
            body["checks"]["slack"] = {"status": FAILING, "detail": str(met["reason"])}
    if socket_mode is not None:
        link = socket_mode.status()
        body["socket_mode"] = {"connected": link.connected, "detail": link.detail}
        if ready and not link.connected:
            # Requests cannot reach the bot: Slack is as good as rejecting it.
            body["status"] = "degraded"
            body["checks"]["slack"] = {
                "status": FAILING,
                "detail": f"not connected to Slack over Socket Mode: {link.detail}",
            }
    return body
