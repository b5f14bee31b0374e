"""What listeners are handed: the services they call and the tracker of their own tasks, put into
every request's Bolt context as `deps` by `bot.app.InjectDeps`. Only what a listener reads is
here; the jobs' wiring (sessions, clients, sources) stays with `bot.runtime`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.delivery import DeliveryService
from bot.digest import DigestService
from bot.inflight import InFlight
from bot.ownership import OwnershipService
from bot.replies import ReplyService


@dataclass(frozen=True, slots=True)
class Deps:
    """The services listeners call, and `in_flight`, which `guarded` runs them under."""

    # Where a listener's error is told when the request names no channel (modal submissions).
    channel: str
    delivery: DeliveryService
    ownership: OwnershipService
    replies: ReplyService
    digest: DigestService
    in_flight: InFlight
