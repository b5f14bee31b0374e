"""The team's side of the demo: the script played through the Slack simulator (claims, late
claims, releases, replies through the modal, resolves and reopens), the closing `/care` commands and
App Home, and the lead's digest shared to the channel; each step waits for what Slack must show."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from bot.blocks.ids import ActionId, BlockId, OptionValue
from bot.demo.customers import Customers
from bot.demo.render import JSON, view_to_text
from bot.demo.script import (
    CLOSING,
    LEAD,
    SCRIPT,
    TARGETS,
    Agent,
    Claim,
    Command,
    LateClaim,
    Release,
    Reopen,
    Reply,
    Step,
    TakeOver,
)
from bot.demo.stage import DemoFailed
from bot.durations import parse_duration
from bot.sandbox.slack import StoredMessage


@dataclass
class Player(Customers):
    """Plays the whole script: each post and its steps, then the closing actions and digest."""

    # The digest as the lead was shown it (the response_url payload), for the summary to match.
    digest_shown: JSON | None = None

    async def play(self) -> None:
        """Play every post and its steps, then the closing actions and the lead's digest."""
        for number, post in enumerate(SCRIPT):
            await self._post(number, post)
            for step in post.steps:
                await self._step(number, step)
            if not post.steps:
                self.transcript.say("Nobody picks this one up.")
        target = parse_duration(TARGETS["sla_first_response"]).total_seconds()
        for number, post in enumerate(SCRIPT):
            if not post.steps:
                card = self.cards[number]
                await self._until(
                    functools.partial(self._in_thread, card, ":red_circle:", start=True),
                    f"the breach nag in the thread of @{post.customer.handle}'s card",
                    extra=target,
                )
        for action in CLOSING:
            if isinstance(action, TakeOver):
                card = self._card_of(action.customer)
                number = next(n for n, c in self.cards.items() if c is card)
                self.transcript.say(f"\n{action.agent.name} takes the case nobody answered.")
                await self._step(number, Claim(action.agent))
            elif isinstance(action, Command):
                await self._command(action.person, action.text)
            else:
                await self._open_home(action.person)
        await self._digest()

    async def _step(self, number: int, step: Step) -> None:
        card = self.cards[number]
        whose = f"@{SCRIPT[number].customer.handle}'s card"
        slack = self.sandbox.slack
        if isinstance(step, Claim):
            self.transcript.say(f"{step.agent.name} presses Claim on {whose}.")
            await self._click(step.agent, card, ActionId.CLAIM)
            await self._until(
                lambda: self._in_thread(card, f"<@{step.agent.user_id}> claimed"),
                f"{step.agent.name}'s claim in the thread of {whose}",
            )
        elif isinstance(step, LateClaim):
            self.transcript.say(
                f"{step.agent.name} presses Claim on {whose} too: their Slack still shows it "
                "unclaimed."
            )
            seen = len(slack.ephemerals(step.agent.user_id))
            await self._click(step.agent, card, ActionId.CLAIM, stale=True)
            await self._until(
                lambda: len(slack.ephemerals(step.agent.user_id)) > seen,
                f"a private answer to {step.agent.name}'s late claim",
            )
        elif isinstance(step, Release):
            self.transcript.say(f"{step.agent.name} presses Release on {whose}.")
            await self._click(step.agent, card, ActionId.RELEASE)
            await self._until(
                lambda: self._in_thread(card, f"<@{step.agent.user_id}> released"),
                f"{step.agent.name}'s release in the thread of {whose}",
            )
        elif isinstance(step, Reopen):
            self.transcript.say(f"{step.agent.name} presses Reopen on {whose}.")
            await self._click(step.agent, card, ActionId.REOPEN)
            await self._until(
                lambda: self._in_thread(card, f"<@{step.agent.user_id}> reopened"),
                f"{step.agent.name}'s reopening in the thread of {whose}",
            )
        elif isinstance(step, Reply):
            await self._reply(card, whose, step)
        else:
            view_id = await self._open_modal(step.agent, card, ActionId.RESOLVE, whose)
            self.transcript.say(
                f"{step.agent.name} picks “{step.reason.label}” and presses Resolve."
            )
            answer = await self.sim.submit_view(
                step.agent.user_id,
                view_id=view_id,
                values={BlockId.RESOLVE_REASON: {ActionId.RESOLVE_REASON: step.reason.value}},
            )
            self._require_ok(answer, f"{step.agent.name}'s Resolve")
            await self._until(
                lambda: self._in_thread(card, f"<@{step.agent.user_id}> resolved"),
                f"the resolution in the thread of {whose}",
            )

    async def _reply(self, card: StoredMessage, whose: str, step: Reply) -> None:
        agent = step.agent
        # An agent may answer the same case twice (a follow-up): wait for the new thread line.
        replies = self._count_in_thread(card, f"<@{agent.user_id}> replied")
        view_id = await self._open_modal(agent, card, ActionId.REPLY, whose)
        box = "“Resolve after sending” " + ("left ticked" if step.resolve else "unticked")
        chosen = [OptionValue.RESOLVE_AFTER.value] if step.resolve else []
        if step.draft is not None:
            await self._refused_draft(agent, view_id, step.draft, chosen)
            self.transcript.say(f"{agent.name} cuts it down to “{step.text}” and presses Send.")
        else:
            self.transcript.say(f"{agent.name} types “{step.text}” ({box}) and presses Send.")
        answer = await self.sim.submit_view(
            agent.user_id,
            view_id=view_id,
            values={
                BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: step.text},
                BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: chosen},
            },
        )
        self._require_ok(answer, f"{agent.name}'s reply")
        body = answer.body if isinstance(answer.body, dict) else {}
        if body.get("response_action") == "errors":
            raise DemoFailed(f"the bot refused {agent.name}'s reply: {body.get('errors')}")
        self.transcript.flush()
        if body.get("response_action") == "update":
            self.transcript.line(
                f"the modal now shows: {view_to_text(body['view'], self.transcript.names)}",
                indent=2,
            )
        await self._until(
            lambda: self._count_in_thread(card, f"<@{agent.user_id}> replied") > replies,
            f"{agent.name}'s reply in the thread of {whose}",
        )

    async def _refused_draft(
        self, agent: Agent, view_id: str, draft: str, chosen: list[str]
    ) -> None:
        """Submit a reply too long for X; the bot must refuse it on the input, keeping the modal."""
        self.transcript.say(
            f"{agent.name} types a long answer ({len(draft)} characters) and presses Send."
        )
        answer = await self.sim.submit_view(
            agent.user_id,
            view_id=view_id,
            values={
                BlockId.REPLY_TEXT: {ActionId.REPLY_TEXT: draft},
                BlockId.RESOLVE_AFTER: {ActionId.RESOLVE_AFTER: chosen},
            },
        )
        self._require_ok(answer, f"{agent.name}'s long reply")
        body = answer.body if isinstance(answer.body, dict) else {}
        errors = body.get("errors") if body.get("response_action") == "errors" else None
        if not isinstance(errors, dict) or BlockId.REPLY_TEXT not in errors:
            raise DemoFailed(f"the bot did not refuse {agent.name}'s {len(draft)}-character reply")
        self.transcript.flush()
        self.transcript.line(
            f"the modal stays open, the text still in the box; under it: "
            f"⚠️ {errors[BlockId.REPLY_TEXT]}",
            indent=2,
        )

    async def _command(self, person: Agent, text: str) -> None:
        slack = self.sandbox.slack
        self.transcript.say(f"\n{person.name} types /care {text}.")
        seen = len(slack.responses)
        answer = await self.sim.slash_command(
            person.user_id, text=text, channel_id=self.sandbox.channel
        )
        self._require_ok(answer, f"/care {text}")
        await self._until(lambda: len(slack.responses) > seen, f"the answer to /care {text}")

    async def _open_home(self, person: Agent) -> None:
        slack = self.sandbox.slack
        self.transcript.say(f"\n{person.name} opens Carebot's App Home.")
        seen = len(slack.calls_to("views.publish"))
        answer = await self.sim.app_home_opened(person.user_id)
        self._require_ok(answer, "the App Home")
        await self._until(
            lambda: len(slack.calls_to("views.publish")) > seen, f"{person.name}'s App Home"
        )

    async def _open_modal(
        self, agent: Agent, card: StoredMessage, action: ActionId, whose: str
    ) -> str:
        slack = self.sandbox.slack
        label = "Reply" if action == ActionId.REPLY else "Resolve"
        self.transcript.say(f"{agent.name} presses {label} on {whose}.")
        before = set(slack.views)
        await self._click(agent, card, action)
        await self._until(lambda: bool(set(slack.views) - before), f"the {label} modal")
        (view_id,) = set(slack.views) - before
        return view_id

    async def _digest(self) -> None:
        slack = self.sandbox.slack
        self.transcript.say(f"\n{LEAD.name} (the lead) types /care digest.")
        seen = len(slack.responses)
        answer = await self.sim.slash_command(
            LEAD.user_id, text="digest", channel_id=self.sandbox.channel
        )
        self._require_ok(answer, "/care digest")
        await self._until(lambda: len(slack.responses) > seen, "the answer to /care digest")
        self.digest_shown = slack.responses[-1].payload
        # The digest only Priya sees carries a button that posts it for everyone.
        shown = [e for e in slack.ephemerals(LEAD.user_id) if e.source == "response_url"][-1]
        self.transcript.say(f"{LEAD.name} presses Share to channel under it.")
        before = len(slack.channel_messages(self.sandbox.channel))
        answer = await self.sim.click(
            LEAD.user_id,
            channel=self.sandbox.channel,
            ts=shown.message_ts,
            action_id=ActionId.SHARE_DIGEST,
            seen=StoredMessage(
                channel=self.sandbox.channel,
                ts=shown.message_ts,
                text=shown.text,
                blocks=shown.blocks,
                user=slack.bot_user_id,
            ),
        )
        self._require_ok(answer, "Share to channel")
        await self._until(
            lambda: len(slack.channel_messages(self.sandbox.channel)) > before,
            "the shared digest in the channel",
        )
