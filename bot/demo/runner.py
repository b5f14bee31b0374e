"""Running the demo: the sandbox, the bot, the web page with --keep, the script played through the
simulator, the checks, and the closing summary read from the database."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from aiohttp import ClientSession

from bot.blocks.ids import ActionId, BlockId, OptionValue
from bot.demo.render import JSON, view_to_text
from bot.demo.script import (
    AGENTS,
    CLOSING,
    LEAD,
    SCRIPT,
    TARGET_VARIABLES,
    TARGETS,
    Agent,
    Claim,
    Command,
    Customer,
    LateClaim,
    Post,
    Release,
    Reopen,
    Reply,
    Step,
    TakeOver,
)
from bot.demo.transcript import NAG_PREFIXES, Transcript, channel_name
from bot.digest import DEFAULT_PERIOD, Digest
from bot.durations import format_duration, parse_duration
from bot.logs import EXPECTED_NOTES, ExpectedNoteFilter
from bot.sandbox.simulator import SimResponse, SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, running_bot, sandbox
from bot.sandbox.web import Person, SandboxWeb, x_sink
from bot.sandbox.x import FakeTweet

# How long one scripted step may take before the demo gives up; generous, because a step that is
# merely slow on a busy machine should still finish, and one that never happens must not hang.
STEP_TIMEOUT = 15.0
# The whole script, as a last resort against a wait that keeps being satisfied and re-armed.
SCRIPT_TIMEOUT = 120.0
# How often the transcript looks for news while the script waits (and, with --keep, afterwards).
POLL_SECONDS = 0.02
STOPPED = "The bot and the sandbox are stopped and the database is deleted."
KEEP_POLL_SECONDS = 0.2


class DemoFailed(Exception):
    """Something the script expected did not happen in time; the message says what."""


# -- the demo ---------------------------------------------------------------------------------


@dataclass
class Demo:
    """One run of the demo: the sandbox, the bot, the simulated team and the transcript.

    The fakes stay readable after the run, so a test can check what X and Slack really received.
    """

    out: TextIO
    # HTTP mode (signed requests to POST /slack/events) instead of Socket Mode.
    http: bool = False
    stack: Sandbox | None = None
    tweets: dict[int, FakeTweet] = field(default_factory=dict)
    cards: dict[int, StoredMessage] = field(default_factory=dict)
    database: Path | None = None
    web: SandboxWeb | None = None
    # The digest as the lead was shown it (the response_url payload), for the summary to match.
    digest_shown: JSON | None = None
    figures: Digest | None = None
    _transcript: Transcript | None = None
    _sim: SlackSimulator | None = None
    _started: float = 0.0

    @property
    def transcript(self) -> Transcript:
        """Return the transcript of the running demo."""
        assert self._transcript is not None, "the demo is not running"
        return self._transcript

    @property
    def sim(self) -> SlackSimulator:
        """Return the Slack simulator the agents use."""
        assert self._sim is not None, "the demo is not running"
        return self._sim

    @property
    def sandbox(self) -> Sandbox:
        """Return the running sandbox."""
        assert self.stack is not None, "the demo is not running"
        return self.stack

    async def run(self, *, keep: bool) -> int:
        """Run the whole demo (with `keep`, stay up until Ctrl-C or SIGTERM); return 0."""
        self._started = time.monotonic()
        try:
            with (
                tempfile.TemporaryDirectory(prefix="carebot-demo-") as tmp,
                _quiet_overlap_warnings(),
            ):
                self.database = Path(tmp) / "demo.db"
                database_url = f"sqlite+aiosqlite:///{self.database}"
                async with self._running(database_url) as bot, self._watching(keep):
                    await self._header(bot)
                    self._watch_line()
                    try:
                        async with asyncio.timeout(SCRIPT_TIMEOUT):
                            await self._play()
                    except TimeoutError:
                        raise DemoFailed(
                            f"the script did not finish within {SCRIPT_TIMEOUT:.0f}s"
                        ) from None
                    self._check()
                    if keep:
                        await self._keep(database_url, bot)
                    # From the database, before it goes: the same computation as /care digest.
                    self.figures = await _digest_now(bot)
        except asyncio.CancelledError:
            # Ctrl-C during the script: asyncio.run cancels us, and the blocks above have
            # already stopped the bot and the sandbox and deleted the database on the way out.
            print(f"\nDemo interrupted. {STOPPED}", file=self.out)
            raise
        self._summary(keep=keep)
        return 0

    @contextlib.asynccontextmanager
    async def _running(self, database_url: str) -> AsyncIterator[RunningBot]:
        async with sandbox() as stack:
            self.stack = stack
            for person in (*AGENTS, LEAD):
                stack.slack.add_user(
                    person.user_id,
                    name=person.name.lower(),
                    real_name=person.real_name,
                    display_name=person.name,
                )
            settings = stack.settings(
                database_url,
                agents=",".join(a.user_id for a in AGENTS),
                leads=LEAD.user_id,
                **TARGETS,
            )
            self._transcript = Transcript(self.out, stack)
            # Pacing guards Slack's one-post-per-second limit; the demo's clock runs in seconds
            # where a real day runs in minutes, and the sandbox does not rate-limit.
            async with (
                running_bot(settings, socket_mode=not self.http, pacing_per_second=None) as bot,
                bot.simulator(stack.slack) as sim,
            ):
                self._sim = sim
                try:
                    yield bot
                finally:
                    # Whatever happened last (a nag, a late update) belongs in the transcript.
                    self.transcript.flush()

    @contextlib.asynccontextmanager
    async def _watching(self, keep: bool) -> AsyncIterator[None]:
        """With `keep`, serve the sandbox channel as a web page for as long as the demo runs."""
        if not keep:
            yield
            return
        stack = self.sandbox
        self.web = SandboxWeb(
            slack=stack.slack,
            sim=self.sim,
            channel=stack.channel,
            people=[Person(a.user_id, a.name, "agent") for a in AGENTS]
            + [Person(LEAD.user_id, LEAD.name, "lead")],
            networks={"x": x_sink(stack.x)},
        )
        await self.web.start()
        try:
            yield
        finally:
            await self.web.stop()

    def _watch_line(self) -> None:
        """Print where the page is (the line starts with `Watch it:`, as INTERFACE.md promises)."""
        if self.web is not None:
            self.transcript.flush()
            print(f"Watch it: {self.web.url}  (act there as {_team_names()})", file=self.out)
            self.out.flush()

    async def _header(self, bot: RunningBot) -> None:
        stack = self.sandbox
        async with ClientSession() as http, http.get(bot.health_url) as response:
            health = await response.json()
        normal = format_duration(parse_duration(TARGETS["sla_first_response"]))
        urgent = format_duration(parse_duration(TARGETS["sla_urgent"]))
        team = ", ".join(a.name for a in AGENTS)
        lines = [
            "Carebot demo: the real bot between a sandbox Slack and a sandbox X, on this machine.",
            f"  sandbox Slack  {stack.slack.api_url}  (cards go to "
            f"{channel_name(stack.slack, stack.channel)}, {stack.channel})",
            f"  sandbox X      {stack.x.api_url}  (the brand is @{stack.x.brand.username})",
            f"  bot            {bot.events_url}  (/healthz: {health['status']})"
            if not bot.socket_mode
            else f"  bot            {bot.health_url}  (Socket Mode, connected to the sandbox "
            f"Slack's WebSocket; /healthz: {health['status']})",
            f"  database       {self.database} (removed at the end)",
            f"  targets        first response {normal}, urgent {urgent} (nag at 75%, breach at "
            "100%)",
            f"  urgent         words like “outage” or “charged twice”, or "
            f"{int(TARGETS['urgent_followers']):,}+ followers",
            f"  team           agents {team}; lead {LEAD.name}",
            "  times are UTC",
        ]
        print("\n".join(lines), file=self.out)

    async def _play(self) -> None:
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

    async def _post(self, number: int, post: Post) -> None:
        x = self.sandbox.x
        customer = post.customer
        in_reply_to: str | None = None
        if post.follow_up:
            in_reply_to = self._latest_answer_to(customer)
            where = f"@{customer.handle} on X, answering @{x.brand.username}"
        else:
            where = f"@{customer.handle} on X ({customer.followers:,} followers)"
        self.transcript.say(f"\n{where}: “{post.text}”")
        tweet = x.add_mention(
            post.text,
            author_handle=customer.handle,
            author_name=customer.name,
            followers=customer.followers,
            in_reply_to=in_reply_to,
        )
        self.tweets[number] = tweet
        if post.follow_up:
            # A follow-up has no card of its own: it shows in the thread of its case's card.
            card = self._card_of(customer)
            self.cards[number] = card
            await self._until(
                lambda: any(
                    post.text in m.text for m in self.sandbox.slack.thread(card.channel, card.ts)
                ),
                f"the follow-up from @{customer.handle} in its card's thread",
            )
            return
        await self._until(lambda: self._find_card(tweet) is not None, f"a card for {where}")
        found = self._find_card(tweet)
        assert found is not None
        # The card as every client first drew it: a late Claim presses this copy's button.
        self.cards[number] = copy.deepcopy(found)

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

    async def _keep(self, database_url: str, bot: RunningBot) -> None:
        stack = self.sandbox
        extra = {TARGET_VARIABLES[k]: v for k, v in TARGETS.items()}
        extra["CAREBOT_AGENTS"] = ",".join(a.user_id for a in AGENTS)
        extra["CAREBOT_LEADS"] = LEAD.user_id
        self.transcript.say(
            "\nThe sandbox and the bot stay up; Ctrl-C stops them. Point another client at them:"
        )
        for key, value in stack.environment(database_url, **extra).items():
            print(f"{key}={value}", file=self.out)
        if bot.socket_mode:
            print(
                "# Slack events, actions and commands: over Socket Mode (SLACK_APP_TOKEN); another "
                "bot started with these shares the envelopes, as Slack spreads them",
                file=self.out,
            )
        else:
            print(f"# Slack events, actions and commands: POST {bot.events_url}", file=self.out)
        print(f"# Health: GET {bot.health_url}", file=self.out)
        print("# The transcript goes on below as things happen.\n", file=self.out)
        self._watch_line()
        stop = asyncio.Event()
        with _stop_on_signals(stop):
            while not stop.is_set():
                self.transcript.flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), KEEP_POLL_SECONDS)
        self.transcript.say("Stopping the bot and the sandbox.")

    def _check(self) -> None:
        """Fail on anything the real Slack or X would have refused, even if the script went on."""
        stack = self.sandbox
        if stack.slack.violations:
            details = "; ".join(f"{v.method}: {v.detail}" for v in stack.slack.violations[:5])
            raise DemoFailed(f"the bot sent Block Kit that Slack would reject: {details}")
        refused = [r for r in stack.x.requests if r.path == "/2/tweets" and r.status >= 400]
        if refused:
            raise DemoFailed(f"X refused {len(refused)} reply(ies): {refused[0].status}")

    def _summary(self, *, keep: bool) -> None:
        stack = self.sandbox
        figures = self.figures
        assert figures is not None, "the figures are read before the database is deleted"
        posts = stack.slack.calls_to("chat.postMessage")
        nags = sum(
            1 for c in posts if c.ok and str(c.args.get("text") or "").startswith(NAG_PREFIXES)
        )
        seconds = time.monotonic() - self._started
        ending = "stopped" if keep else "finished"
        print(
            f"\nDemo {ending} in {seconds:.1f}s. "
            + summary_text(
                figures,
                names=self.transcript.names,
                posts=len(stack.x.tweets) - len(stack.x.posted_replies),
                sent=len(stack.x.posted_replies),
                nags=nags,
            )
            + f" {STOPPED}",
            file=self.out,
        )
        self.out.flush()

    # -- helpers ---------------------------------------------------------------------------

    async def _click(
        self, agent: Agent, card: StoredMessage, action: ActionId, *, stale: bool = False
    ) -> None:
        answer = await self.sim.click(
            agent.user_id,
            channel=card.channel,
            ts=card.ts,
            action_id=action,
            seen=card if stale else None,
        )
        self._require_ok(answer, f"{agent.name}'s {action} button")

    async def _until(self, predicate: Callable[[], bool], what: str, *, extra: float = 0.0) -> None:
        """Wait for `predicate` while printing what happens; fail naming `what` if it never holds.

        A bounded poll (STEP_TIMEOUT plus `extra` seconds) rather than an await on the bot, so a
        failure can say what the script was waiting for and what Slack last saw.
        """
        seconds = STEP_TIMEOUT + extra
        deadline = time.monotonic() + seconds
        while not predicate():
            self.transcript.flush()
            if time.monotonic() >= deadline:
                recent = ", ".join(
                    f"{c.method}->{c.error or 'ok'}" for c in self.sandbox.slack.calls[-6:]
                )
                raise DemoFailed(
                    f"expected {what} within {seconds:g}s, but it did not happen "
                    f"(last Slack calls: {recent or 'none'})"
                )
            await asyncio.sleep(POLL_SECONDS)
        self.transcript.flush()

    @staticmethod
    def _require_ok(answer: SimResponse, what: str) -> None:
        if answer.status != 200:
            raise DemoFailed(f"the bot answered {what} with HTTP {answer.status}: {answer.body}")

    def _find_card(self, tweet: FakeTweet) -> StoredMessage | None:
        stack = self.sandbox
        for message in stack.slack.channel_messages(stack.channel):
            # The card links to the post, and the post's id is in that link.
            if message.metadata and f"/status/{tweet.id}" in str(message.blocks):
                return message
        return None

    def _card_of(self, customer: Customer) -> StoredMessage:
        for number in sorted(self.cards, reverse=True):
            if SCRIPT[number].customer == customer:
                return self.cards[number]
        raise DemoFailed(f"the script has a follow-up from @{customer.handle} before any post")

    def _latest_answer_to(self, customer: Customer) -> str:
        """Return the id of the brand's latest reply to `customer`, as X recorded it."""
        x = self.sandbox.x
        for posted in reversed(x.posted_replies):
            parent = x.tweets.get(posted["in_reply_to_tweet_id"] or "")
            if parent is not None and x.users[parent.author_id].username == customer.handle:
                return posted["id"]
        raise DemoFailed(
            f"a follow-up from @{customer.handle} needs an answer from the brand first"
        )

    def _in_thread(self, card: StoredMessage, text: str, *, start: bool = False) -> bool:
        return any(
            m.text.startswith(text) if start else text in m.text
            for m in self.sandbox.slack.thread(card.channel, card.ts)
        )

    def _count_in_thread(self, card: StoredMessage, text: str) -> int:
        return sum(text in m.text for m in self.sandbox.slack.thread(card.channel, card.ts))


def summary_text(
    figures: Digest, *, names: dict[str, str], posts: int, sent: int, nags: int
) -> str:
    """Say what the demo did in the digest's own figures, from the database."""
    later = posts - figures.received
    extra = f"; {plural(later, 'post')} joined an existing case" if later > 0 else ""
    agents = ", ".join(
        f"{names.get(a.user, a.user)} claimed {a.claimed} and replied {a.replied}"
        for a in figures.agents
    )
    return (
        f"In the database, as the digest counts it: {plural(figures.received, 'case')} received "
        f"(from {plural(posts, 'customer post')}{extra}), {figures.replied} replied, "
        f"{figures.resolved_without_reply} resolved without a reply, {figures.still_open} "
        f"still open, {plural(figures.breaches, 'breach', 'breaches')}. {agents or 'No agents'}. "
        f"{plural(sent, 'reply', 'replies')} sent to X, {plural(nags, 'nag')}."
    )


def plural(count: int, one: str, many: str | None = None) -> str:
    """Return `count` with its noun in the right number."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


async def _digest_now(bot: RunningBot) -> Digest:
    """Compute the digest `/care digest` shows by default, straight from the database."""
    deps = bot.runtime.deps
    assert deps is not None, "the bot is running"
    return await deps.digest.compute(DEFAULT_PERIOD)


def _team_names() -> str:
    return ", ".join(a.name for a in AGENTS) + f" or {LEAD.name} (lead)"


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM into `stop`, so --keep shuts everything down in order."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Only the main thread may own signals; elsewhere cancelling the task stops the demo.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@contextlib.contextmanager
def _quiet_overlap_warnings() -> Iterator[None]:
    # `carebot demo` has this filter from configure_logging already; a test calling the demo
    # directly does not, and with one-second intervals a run often overlaps the next tick.
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    quiet = ExpectedNoteFilter(EXPECTED_NOTES["apscheduler.scheduler"])
    scheduler_log.addFilter(quiet)
    try:
        yield
    finally:
        scheduler_log.removeFilter(quiet)


async def run_demo(*, keep: bool, out: TextIO, http: bool = False) -> int:
    """Run the sandbox, the bot and the script, printing the transcript to `out`; return 0.

    Raise DemoFailed, after stopping everything, when something the script expects does not
    happen in time.
    """
    return await Demo(out, http=http).run(keep=keep)
