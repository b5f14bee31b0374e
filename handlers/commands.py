"""`/care`: help, digest, queue and mine, plus the digest's "Share to channel" button. Parsing is
pure (`parse_care`); listeners ack at once and answer through the response_url, so the 3-second
limit holds however long the figures take."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Permission
from bot.blocks.codecs import ShareButton
from bot.blocks.digest import digest_message
from bot.blocks.ids import ActionId, Command
from bot.blocks.lists import Message, care_usage, mine_message, queue_message
from bot.charts import post_charts
from bot.deps import Deps
from bot.digest import DEFAULT_PERIOD, USER_PERIODS, Period
from bot.errors import CarebotError
from handlers.listener import guarded
from handlers.parsing import user_of

PERIOD_CHOICES = "today, 24h, 7d or 30d"


class Subcommand(StrEnum):
    """What `/care` can be asked."""

    HELP = "help"
    DIGEST = "digest"
    QUEUE = "queue"
    MINE = "mine"


@dataclass(frozen=True, slots=True)
class CareRequest:
    """A parsed `/care` command."""

    subcommand: Subcommand
    period: Period = DEFAULT_PERIOD


class CareUsage(CarebotError):
    """What was typed is not a `/care` command; the message names the bad part and shows usage."""

    def __init__(self, problem: str) -> None:
        super().__init__(care_usage(problem))
        self.problem = problem


def parse_care(text: str) -> CareRequest:
    """Parse the text after `/care`; raise CareUsage naming what is wrong."""
    words = text.split()
    if not words:
        return CareRequest(Subcommand.HELP)
    first, rest = words[0], words[1:]
    try:
        subcommand = Subcommand(first.lower())
    except ValueError:
        raise CareUsage(f"unknown command '{first}'") from None
    if subcommand == Subcommand.DIGEST:
        if len(rest) > 1:
            raise CareUsage(f"unexpected '{rest[1]}' after the period")
        if not rest:
            return CareRequest(subcommand)
        period = next((p for p in USER_PERIODS if p.value == rest[0].lower()), None)
        if period is None:
            raise CareUsage(f"unknown period '{rest[0]}'; use {PERIOD_CHOICES}")
        return CareRequest(subcommand, period)
    if rest and subcommand != Subcommand.HELP:
        raise CareUsage(f"'/care {subcommand}' takes nothing after it, but got '{rest[0]}'")
    return CareRequest(subcommand)


async def _answer(request: CareRequest, user: str, deps: Deps) -> Message:
    if request.subcommand == Subcommand.DIGEST:
        digest = await deps.digest.digest_for(user=user, period=request.period)
        return digest_message(digest, shareable=True)
    if request.subcommand == Subcommand.QUEUE:
        return queue_message(await deps.digest.queue(user=user))
    if request.subcommand == Subcommand.MINE:
        return mine_message(await deps.digest.mine(user=user))
    return care_usage(), []


async def on_care(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, deps: Deps) -> None:
    """Answer `/care …` ephemerally: usage, a digest, the queue or the caller's cases."""
    await ack()
    try:
        text, blocks = await _answer(parse_care(str(body.get("text") or "")), body["user_id"], deps)
    except CarebotError as exc:
        # Refusals and usage go back where the command was typed, like every other answer.
        await respond(text=exc.user_message, response_type="ephemeral")
        return
    await respond(text=text, blocks=blocks or None, response_type="ephemeral")


async def on_share_digest(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    deps: Deps,
) -> None:
    """Post the digest the button sits under to the channel, for everyone to see, with charts."""
    await ack()
    share = ShareButton.parse(action.get("value"))
    user = user_of(body)
    digest = await deps.digest.digest_for(
        user=user, period=share.period, at=share.at, permission=Permission.SHARE_DIGEST
    )
    text, blocks = digest_message(digest, shared_by=user)
    await respond(text=text, blocks=blocks, response_type="in_channel", replace_original=False)
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if channel:
        await post_charts(client, channel=str(channel), digest=digest)


def register(app: AsyncApp) -> None:
    """Register `/care` and the Share button."""
    app.command(Command.CARE)(guarded(on_care))
    app.action(ActionId.SHARE_DIGEST)(guarded(on_share_digest))
