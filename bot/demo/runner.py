"""Running the demo: the sandbox (Slack, X, Bluesky and Mastodon), the bot, the web page with
--keep, the script played through the simulator, the checks, and the closing summary read from the
database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from aiohttp import ClientSession

from bot.demo.play import Player
from bot.demo.render import JSON
from bot.demo.script import AGENTS, LEAD, TARGET_VARIABLES, TARGETS
from bot.demo.stage import DemoFailed
from bot.demo.summary import customer_posts, digest_now, replies_sent, summary_text
from bot.demo.transcript import NAG_PREFIXES, Transcript, channel_name
from bot.digest import Digest
from bot.durations import format_duration, parse_duration
from bot.logs import EXPECTED_NOTES, ExpectedNoteFilter
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, running_bot, sandbox
from bot.sandbox.web import Person, SandboxWeb, x_sink
from bot.sandbox.web.networks import bluesky_sink, mastodon_sink
from bot.sandbox.x import FakeTweet

# The whole script, as a last resort against a wait that keeps being satisfied and re-armed.
SCRIPT_TIMEOUT = 120.0
STOPPED = "The bot and the sandbox are stopped and the database is deleted."
KEEP_POLL_SECONDS = 0.2
# Every network the sandbox fakes is on: the script has customers on each.
NETWORKS = ("x", "bluesky", "mastodon")


# -- the demo ---------------------------------------------------------------------------------


@dataclass
class Demo:
    """One run of the demo: the sandbox, the bot, the simulated team and the transcript.

    The fakes stay readable after the run, so a test can check what Slack and each network really
    received.
    """

    out: TextIO
    # HTTP mode (signed requests to POST /slack/events) instead of Socket Mode.
    http: bool = False
    stack: Sandbox | None = None
    tweets: dict[int, FakeTweet] = field(default_factory=dict)
    cards: dict[int, StoredMessage] = field(default_factory=dict)
    # Where each post's card links to: `/status/<id>`, `/post/<rkey>` or `/<status id>`.
    links: dict[int, str] = field(default_factory=dict)
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
                    self.figures = await digest_now(bot)
        except asyncio.CancelledError:
            # Ctrl-C during the script: asyncio.run cancels us, and the blocks above have
            # already stopped the bot and the sandbox and deleted the database on the way out.
            print(f"\nDemo interrupted. {STOPPED}", file=self.out)
            raise
        self._summary(keep=keep)
        return 0

    @contextlib.asynccontextmanager
    async def _running(self, database_url: str) -> AsyncIterator[RunningBot]:
        async with sandbox(networks=NETWORKS) as stack:
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
            networks={
                "x": x_sink(stack.x),
                "bluesky": bluesky_sink(stack.bluesky),
                "mastodon": mastodon_sink(stack.mastodon),
            },
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
        mastodon = stack.mastodon
        lines = [
            "Carebot demo: the real bot between a sandbox Slack and sandbox X, Bluesky and "
            "Mastodon, on this machine.",
            f"  sandbox Slack     {stack.slack.api_url}  (cards go to "
            f"{channel_name(stack.slack, stack.channel)}, {stack.channel})",
            f"  sandbox X         {stack.x.api_url}  (the brand is @{stack.x.brand.username})",
            f"  sandbox Bluesky   {stack.bluesky.api_url}  (the brand is "
            f"@{stack.bluesky.brand.handle})",
            f"  sandbox Mastodon  {mastodon.api_url}  (the brand is "
            f"@{mastodon.brand.username}@{mastodon.domain})",
            f"  bot               {bot.events_url}  (/healthz: {health['status']})"
            if not bot.socket_mode
            else f"  bot               {bot.health_url}  (Socket Mode, connected to the sandbox "
            f"Slack's WebSocket; /healthz: {health['status']})",
            f"  database          {self.database} (removed at the end)",
            f"  targets           first response {normal}, urgent {urgent} (nag at 75%, breach "
            "at 100%)",
            f"  urgent            words like “outage” or “charged twice”, or "
            f"{int(TARGETS['urgent_followers']):,}+ followers",
            f"  team              agents {team}; lead {LEAD.name}",
            "  times are UTC",
        ]
        print("\n".join(lines), file=self.out)

    async def _play(self) -> None:
        player = Player(
            self.sandbox,
            self.sim,
            self.transcript,
            tweets=self.tweets,
            cards=self.cards,
            links=self.links,
        )
        await player.play()
        self.digest_shown = player.digest_shown

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
        """Fail on anything Slack or a network would have refused, even if the script went on."""
        stack = self.sandbox
        if stack.slack.violations:
            details = "; ".join(f"{v.method}: {v.detail}" for v in stack.slack.violations[:5])
            raise DemoFailed(f"the bot sent Block Kit that Slack would reject: {details}")
        refused = [r for r in stack.x.requests if r.path == "/2/tweets" and r.status >= 400]
        if refused:
            raise DemoFailed(f"X refused {len(refused)} reply(ies): {refused[0].status}")
        bsky = [
            r.status
            for r in stack.bluesky.calls("com.atproto.repo.createRecord")
            if r.status >= 400
        ]
        masto = [
            status
            for method, path, status in stack.mastodon.requests
            if method == "POST" and path == "/api/v1/statuses" and status >= 400
        ]
        if bsky or masto:
            raise DemoFailed(f"Bluesky or Mastodon refused a reply: {(bsky + masto)[:3]}")

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
                posts=customer_posts(stack),
                sent=replies_sent(stack),
                nags=nags,
            )
            + f" {STOPPED}",
            file=self.out,
        )
        self.out.flush()


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
