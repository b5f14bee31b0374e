"""`carebot demo`: the real bot between the sandbox Slack and X, a scripted stream of mentions, and
simulated agents working them, printed as a transcript of what the channel shows.

Agents act only through the Slack simulator (signed requests, exactly what Slack sends) and
customers only by posting on the fake X, which the bot polls. Everything the transcript shows is
read back from what the fakes recorded (Web API calls, response_url posts, posts created on X), so
it shows what the bot really did, never what the script hoped it would do.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import re
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import ClientSession

from bot.blocks.ids import ActionId, BlockId, OptionValue, ResolveReason
from bot.clock import utc_now
from bot.durations import format_duration, parse_duration
from bot.logs import EXPECTED_NOTES, ExpectedNoteFilter
from bot.sandbox.simulator import SimResponse, SlackSimulator
from bot.sandbox.slack import FakeSlack, ResponsePost, SlackCall, StoredMessage
from bot.sandbox.stack import RunningBot, Sandbox, running_bot, sandbox
from bot.sandbox.x import FakeTweet

JSON = dict[str, Any]

# Targets in seconds rather than minutes, so the nag ladder (a warning at 75% of the target, the
# breach at 100%) plays out for the mention nobody answers while the rest of the script runs.
# Every other case is handled within a few seconds of its card, well inside 75% of its target.
TARGETS = {
    "poll_interval": "1s",
    "sla_first_response": "16s",
    "sla_urgent": "10s",
    "sla_check_interval": "1s",
    "urgent_followers": "10000",
    "business_hours": "24/7",
}
# The environment names of TARGETS, printed with --keep so another bot can be run the same way.
TARGET_VARIABLES = {
    "poll_interval": "CAREBOT_POLL_INTERVAL",
    "sla_first_response": "CAREBOT_SLA_FIRST_RESPONSE",
    "sla_urgent": "CAREBOT_SLA_URGENT",
    "sla_check_interval": "CAREBOT_SLA_CHECK_INTERVAL",
    "urgent_followers": "CAREBOT_URGENT_FOLLOWERS",
    "business_hours": "CAREBOT_BUSINESS_HOURS",
}
# How long one scripted step may take before the demo gives up; generous, because a step that is
# merely slow on a busy machine should still finish, and one that never happens must not hang.
STEP_TIMEOUT = 15.0
# The whole script, as a last resort against a wait that keeps being satisfied and re-armed.
SCRIPT_TIMEOUT = 120.0
# How often the transcript looks for news while the script waits (and, with --keep, afterwards).
POLL_SECONDS = 0.02
STOPPED = "The bot and the sandbox are stopped and the database is deleted."
# How the nag ladder's rungs begin (warning, breach, reminder), to count them in the summary.
NAG_PREFIXES = (":hourglass_flowing_sand:", ":red_circle:", ":bell:")
KEEP_POLL_SECONDS = 0.2


class DemoFailed(Exception):
    """Something the script expected did not happen in time; the message says what."""


# -- the cast ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Agent:
    """A Slack user who works the queue (or, for a lead, asks for the digest)."""

    user_id: str
    name: str
    real_name: str


@dataclass(frozen=True, slots=True)
class Customer:
    """An account on `network` that mentions the brand (`handle` as that network writes it)."""

    handle: str
    name: str
    followers: int
    network: str = "x"


ANA = Agent("U0ANA", "Ana", "Ana Ruiz")
BEN = Agent("U0BEN", "Ben", "Ben Okafor")
CHLOE = Agent("U0CHLOE", "Chloe", "Chloe Martin")
PRIYA = Agent("U0PRIYA", "Priya", "Priya Shah")
AGENTS = (ANA, BEN, CHLOE)
LEAD = PRIYA

DANA = Customer("dana_k", "Dana K", 310)
KIM = Customer("kim-w.bsky.social", "Kim W", 85, network="bluesky")
SAM = Customer("sam_asks@social.example", "Sam Patel", 120, network="mastodon")
LEE = Customer("ops_lee", "Lee (Ops)", 890)
MO = Customer("mo_reads", "Mo", 42)
TECH = Customer("techdaily", "Tech Daily", 48_200)
RAJ = Customer("raj_p", "Raj P", 230)
JLO = Customer("jlo_travels", "J. Lopez", 610)
GURU = Customer("growth_guru", "Growth Guru", 12)
MARTA = Customer("marta-b.bsky.social", "Marta B", 150, network="bluesky")
OLA = Customer("ola_n@social.example", "Ola N", 95, network="mastodon")
NETWORK_LABELS = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon"}


# -- the script -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """The agent presses Claim on the card."""

    agent: Agent


@dataclass(frozen=True, slots=True)
class LateClaim:
    """The agent presses Claim on the card as their Slack first drew it, after someone else won."""

    agent: Agent


@dataclass(frozen=True, slots=True)
class Reply:
    """The agent presses Reply, types `text` and presses Send (`resolve`: leave the box ticked)."""

    agent: Agent
    text: str
    resolve: bool = True


@dataclass(frozen=True, slots=True)
class Resolve:
    """The agent presses Resolve and picks a reason."""

    agent: Agent
    reason: ResolveReason


Step = Claim | LateClaim | Reply | Resolve


@dataclass(frozen=True, slots=True)
class Post:
    """One mention in the stream and what the team does about it (nothing: nobody answers it).

    `follow_up` makes it a reply to the brand's latest answer to the same customer, so it lands
    in that conversation's case instead of opening a new one.
    """

    customer: Customer
    text: str
    steps: tuple[Step, ...] = ()
    follow_up: bool = False


SCRIPT: tuple[Post, ...] = (
    Post(
        DANA,
        "@acmehelp my order #4411 still hasn't arrived, it's been 2 weeks. Any update?",
        (
            Claim(ANA),
            LateClaim(BEN),
            Reply(
                ANA,
                "Hi Dana, so sorry for the wait! #4411 was stuck at our depot; it left this "
                "morning and we've refunded the shipping. Tracking link is in your DMs.",
                resolve=False,
            ),
        ),
    ),
    Post(KIM, "@acme.bsky.social the app keeps logging me out on Android, every single day"),
    Post(
        SAM,
        "@acme do you ship to Canada? Thinking of ordering the blue kettle",
        (Reply(BEN, "Hi Sam! Yes, we ship to Canada: 3-5 business days, duties included."),),
    ),
    Post(
        LEE,
        "@acmehelp is the app down? outage for our whole team, nobody can log in",
        (
            Claim(CHLOE),
            Reply(
                CHLOE,
                "Hi Lee, yes: logins are failing since 14:05 and the team is on it. Updates "
                "every 15 minutes on status.acme.example, and we'll reply here when it's fixed.",
                resolve=False,
            ),
        ),
    ),
    Post(
        MO,
        "@acmehelp love the new dark mode, thank you!",
        (Resolve(ANA, ResolveReason.PRAISE),),
    ),
    Post(
        TECH,
        "Checkout on @acmehelp has been crawling for an hour. Anyone else seeing this?",
        (
            Claim(BEN),
            Reply(
                BEN,
                "Thanks for flagging! Checkout was slowed by the login incident; it's back to "
                "normal speed now. Sorry to everyone who waited.",
                resolve=False,
            ),
        ),
    ),
    Post(
        DANA,
        "@acmehelp got the tracking link, thanks! It says Thursday now",
        (Reply(ANA, "Great to hear, Dana! Enjoy, and ping us if Thursday slips."),),
        follow_up=True,
    ),
    Post(
        RAJ,
        "@acmehelp I was charged twice for order #5120, please fix this",
        (
            Claim(CHLOE),
            Reply(
                CHLOE,
                "Sorry Raj! The second charge was a pre-authorisation; we've released it and "
                "it will disappear from your statement within 3 days.",
            ),
        ),
    ),
    Post(
        JLO,
        "@acmehelp can I change the delivery address after ordering?",
        (
            Reply(
                ANA,
                "Hi! Yes, until the order ships: Orders > Change address, or DM us the order "
                "number and we'll do it.",
            ),
        ),
    ),
    Post(
        GURU,
        "@acmehelp Get 10K followers in 24h!!! DM me for the secret",
        (Resolve(BEN, ResolveReason.SPAM),),
    ),
    Post(
        MARTA,
        "@acme.bsky.social shout-out to your support team, my return was sorted in 5 minutes",
        (Resolve(CHLOE, ResolveReason.PRAISE),),
    ),
    Post(
        OLA,
        "@acme where do I find the invoice for my last order?",
        (Reply(BEN, "Hi Ola! Account > Orders > pick the order > Invoice (PDF)."),),
    ),
)


# -- Block Kit and mrkdwn as text -------------------------------------------------------------

# The few shortcodes Carebot uses, drawn as a terminal can; any other stays as typed.
EMOJI = {
    "arrows_counterclockwise": "🔄",
    "bell": "🔔",
    "hourglass_flowing_sand": "⏳",
    "leftwards_arrow_with_hook": "↩️",
    "outbox_tray": "📤",
    "raising_hand": "🙋",
    "red_circle": "🔴",
    "rotating_light": "🚨",
    "speech_balloon": "💬",
    "tada": "🎉",
    "warning": "⚠️",
    "white_check_mark": "✅",
}
_TOKEN = re.compile(r"<([^<>]+)>")
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
# Only underscores standing alone around words are italics: `dana_k` must keep its underscore.
_ITALIC = re.compile(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)")


def _token_text(token: str, names: dict[str, str]) -> str:
    """Return how Slack shows one `<…>` token: a name, a time, a link's label."""
    if token.startswith("@"):
        user = token[1:].split("|")[0]
        return f"@{names.get(user, user)}"
    if token.startswith("#"):
        channel, _, label = token[1:].partition("|")
        return f"#{label or channel}"
    if token.startswith("!date^"):
        # Slack shows a date token in each reader's zone and format; the demo's targets are
        # seconds long, so it shows the time to the second (in UTC, as the header says).
        stamp = token.split("^")[1]
        return datetime.fromtimestamp(int(stamp), UTC).strftime("%H:%M:%S")
    if token.startswith("!subteam^"):
        group, _, label = token.removeprefix("!subteam^").partition("|")
        return label or f"@{group}"
    if token.startswith("!"):
        return "@" + token[1:].split("|")[0]
    url, _, label = token.partition("|")
    return label or url


def mrkdwn_to_text(text: str, names: dict[str, str]) -> str:
    """Return mrkdwn as a person reads it in Slack: names, times and link labels, no markup."""
    text = _TOKEN.sub(lambda m: _token_text(m.group(1), names), text)
    text = _SHORTCODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = _BOLD.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    lines = [line for line in text.split("\n") if line.strip() != "```"]
    text = "\n".join(f"> {line[1:]}" if line.startswith(">") else line for line in lines)
    # Last: the escapes stand for characters the customer typed, which may look like markup.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(obj: Any, names: dict[str, str]) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text") or "")
    return mrkdwn_to_text(text, names) if obj.get("type") == "mrkdwn" else text


def _element_text(element: JSON, names: dict[str, str]) -> str:
    kind = element.get("type")
    if kind == "button":
        return f"[{_plain(element.get('text'), names)}]"
    if kind == "checkboxes":
        ticked = {str(o.get("value")) for o in element.get("initial_options") or []}
        return " ".join(
            f"{'☑' if str(o.get('value')) in ticked else '☐'} {_plain(o.get('text'), names)}"
            for o in element.get("options") or []
        )
    if kind == "plain_text_input":
        return "▭"
    if kind in {"static_select", "multi_static_select"}:
        return f"[{_plain(element.get('placeholder'), names) or 'choose'} ▾]"
    if kind == "image":
        return str(element.get("alt_text") or "")
    return _plain(element, names)


def _field_text(field: JSON, names: dict[str, str]) -> str:
    """Render a section field (`*Label*\nvalue`) as `Label: value` on one line."""
    label, _, value = _plain(field, names).partition("\n")
    return f"{label}: {value.replace(chr(10), ' · ')}" if value else label


def blocks_to_lines(blocks: list[JSON], names: dict[str, str]) -> list[str]:
    """Render Block Kit blocks as the lines of text a person sees, buttons as `[Label]`."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(_plain(block.get("text"), names).upper())
        elif kind == "section":
            if block.get("text"):
                lines += _plain(block["text"], names).split("\n")
            # One field a line, so a card update can show just the fields that changed.
            lines += [_field_text(f, names) for f in block.get("fields") or []]
            if isinstance(block.get("accessory"), dict):
                lines.append(_element_text(block["accessory"], names))
        elif kind == "context":
            parts = [_element_text(e, names) for e in block.get("elements") or []]
            lines.append(" · ".join(p for p in parts if p))
        elif kind == "actions":
            lines.append(" ".join(_element_text(e, names) for e in block.get("elements") or []))
        elif kind == "input":
            element = block.get("element") or {}
            lines.append(f"{_plain(block.get('label'), names)}: {_element_text(element, names)}")
        elif kind == "divider":
            lines.append("─" * 20)
    return [line.rstrip() for line in lines]


def view_to_text(view: JSON, names: dict[str, str]) -> str:
    """Render a modal in one line: its title, its inputs (or its message) and its buttons."""
    blocks = list(view.get("blocks") or [])
    inputs = [b for b in blocks if b.get("type") == "input"]
    # The customer's post at the top of a form repeats the card; the inputs are the news.
    shown = blocks_to_lines(inputs or blocks, names)
    buttons = " ".join(
        f"[{_plain(view.get(k), names)}]" for k in ("submit", "close") if view.get(k)
    )
    parts = [part for part in (*shown, buttons) if part]
    return f"“{_plain(view.get('title'), names)}”: " + " · ".join(parts)


# -- the transcript ---------------------------------------------------------------------------


def _clock() -> str:
    return utc_now().strftime("%H:%M:%S")


@dataclass
class Transcript:
    """Prints the script's narration and, in order, what the fakes recorded since last time."""

    out: TextIO
    stack: Sandbox
    calls_seen: int = 0
    responses_seen: int = 0
    replies_seen: int = 0
    bluesky_seen: int = 0
    mastodon_seen: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    drawn: dict[str, list[str]] = field(default_factory=dict)

    @property
    def names(self) -> dict[str, str]:
        """Return display names by Slack user id, as the Slack client shows people."""
        return {u.id: u.display_name for u in self.stack.slack.users.values()}

    def line(self, text: str, *, indent: int = 0) -> None:
        """Print one line of the transcript, stamped with the time."""
        while text.startswith("\n"):
            print(file=self.out)
            text = text[1:]
        pad = " " * (10 + indent)
        first, *rest = text.split("\n")
        print(f"{_clock()}  {' ' * indent}{first}", file=self.out)
        for more in rest:
            print(f"{pad}{more}", file=self.out)
        self.out.flush()

    def say(self, text: str) -> None:
        """Print narration, after everything that happened before it."""
        self.flush()
        self.line(text)

    def label(self, ts: str | None) -> str:
        """Return how the transcript names the card at `ts` (`@dana_k's card`)."""
        return self.labels.get(ts or "", "a message")

    def flush(self) -> None:
        """Print every reply X received and every Slack event recorded since the last flush."""
        # X's records carry no time; they go first because a reply reaches X before the bot
        # touches Slack about it (the card update and the thread line come after).
        x = self.stack.x
        for posted in x.posted_replies[self.replies_seen :]:
            parent = x.tweets.get(posted["in_reply_to_tweet_id"] or "")
            whose = f"@{x.users[parent.author_id].username}'s " if parent else ""
            self.line(
                f"sent to X as @{x.brand.username}'s tweet {posted['id']}, in reply to "
                f"{whose}tweet {posted['in_reply_to_tweet_id']}",
                indent=2,
            )
        self.replies_seen = len(x.posted_replies)
        bsky = self.stack.bluesky
        for record in bsky.created_records[self.bluesky_seen :]:
            parent_uri = record["record"]["reply"]["parent"]["uri"]
            bsky_parent = bsky.posts.get(parent_uri)
            whose = f"@{bsky_parent.author.handle}'s " if bsky_parent else ""
            self.line(
                f"sent to Bluesky as @{bsky.brand.handle}'s post, in reply to {whose}post "
                f"{parent_uri.rsplit('/', 1)[-1]}",
                indent=2,
            )
        self.bluesky_seen = len(bsky.created_records)
        masto = self.stack.mastodon
        for body in masto.posted[self.mastodon_seen :]:
            parent_status = masto.statuses.get(str(body.get("in_reply_to_id")))
            whose = f"@{parent_status.account.acct(masto.domain)}'s " if parent_status else ""
            self.line(
                f"sent to Mastodon as @{masto.brand.username} ({body.get('visibility')}), in "
                f"reply to {whose}post {body.get('in_reply_to_id')}",
                indent=2,
            )
        self.mastodon_seen = len(masto.posted)
        slack = self.stack.slack
        events: list[SlackCall | ResponsePost] = [
            *slack.calls[self.calls_seen :],
            *slack.responses[self.responses_seen :],
        ]
        self.calls_seen, self.responses_seen = len(slack.calls), len(slack.responses)
        for event in sorted(events, key=lambda e: e.at):
            if isinstance(event, SlackCall):
                self._call(event)
            else:
                self._response(event)

    def _call(self, call: SlackCall) -> None:
        if not call.ok:
            self.line(f"⚠️  Slack refused {call.method}: {call.error}", indent=2)
            return
        args, names = call.args, self.names
        if call.method == "chat.postMessage":
            self._posted(call)
        elif call.method == "chat.update":
            self._updated(str(args.get("ts")), list(args.get("blocks") or []))
        elif call.method == "chat.postEphemeral":
            who = names.get(str(args.get("user")), str(args.get("user")))
            text = mrkdwn_to_text(str(args.get("text") or ""), names)
            self.line(f"(only {who} sees this) {text}", indent=2)
        elif call.method in {"views.open", "views.update"}:
            verb = "a modal opens" if call.method == "views.open" else "the modal now shows"
            self.line(f"{verb}: {view_to_text(dict(args.get('view') or {}), names)}", indent=2)

    def _posted(self, call: SlackCall) -> None:
        slack, args = self.stack.slack, call.args
        blocks = list(args.get("blocks") or [])
        text = mrkdwn_to_text(str(args.get("text") or ""), self.names)
        thread = args.get("thread_ts")
        channel = _channel_name(slack, str(args.get("channel")))
        if thread:
            also = f" (also sent to {channel})" if args.get("reply_broadcast") else ""
            self.line(f"in the thread of {self.label(str(thread))}{also}:", indent=2)
            self.line(text, indent=4)
            return
        lines = blocks_to_lines(blocks, self.names) if blocks else text.split("\n")
        ts = self._ts_of(call) if args.get("metadata") else None
        if ts is not None:
            handle = re.search(r"@[\w.@-]*\w", lines[0] if lines else "")
            self.labels[ts] = f"{handle.group(0) if handle else 'a'}'s card"
            self.drawn[ts] = lines
            self.line(f"{channel}  Carebot posts a card:", indent=2)
        else:
            self.line(f"{channel}  Carebot posts:", indent=2)
        for item in lines:
            self.line(f"│ {item}", indent=4)

    def _updated(self, ts: str, blocks: list[JSON]) -> None:
        lines = blocks_to_lines(blocks, self.names)
        before = self.drawn.get(ts, [])
        self.drawn[ts] = lines
        changed = [item for item in lines if item not in before]
        if changed:
            self.line(f"{self.label(ts)} is updated:", indent=2)
            for item in changed:
                self.line(f"│ {item}", indent=4)

    def _response(self, post: ResponsePost) -> None:
        payload = post.payload
        blocks = list(payload.get("blocks") or [])
        lines = (
            blocks_to_lines(blocks, self.names)
            if blocks
            else mrkdwn_to_text(str(payload.get("text") or ""), self.names).split("\n")
        )
        if payload.get("response_type") == "in_channel":
            self.line("answer, posted for everyone:", indent=2)
        else:
            # The response_url post does not say whom it answers; the ephemeral it became does.
            shown_to = [
                e.user
                for e in self.stack.slack.ephemerals()
                if e.source == "response_url"
                and e.text == payload.get("text")
                and e.blocks == blocks
            ]
            who = self.names.get(shown_to[-1] or "", "the asker") if shown_to else "the asker"
            self.line(f"answer (only {who} sees this):", indent=2)
        for item in lines:
            self.line(f"│ {item}", indent=4)

    def _ts_of(self, call: SlackCall) -> str | None:
        """Find the ts Slack gave a posted message (the call record keeps only the arguments)."""
        channel = str(call.args.get("channel"))
        # Messages are stored in call order, so the newest unlabelled card with these blocks is it.
        for message in reversed(self.stack.slack.channel_messages(channel)):
            if message.metadata == call.args.get("metadata") and message.ts not in self.labels:
                return message.ts
        return None


def _channel_name(slack: FakeSlack, channel: str) -> str:
    known = slack.channels.get(channel)
    return f"#{known.name}" if known is not None else channel


# -- the demo ---------------------------------------------------------------------------------


@dataclass
class Demo:
    """One run of the demo: the sandbox, the bot, the simulated team and the transcript.

    The fakes stay readable after the run, so a test can check what X and Slack really received.
    """

    out: TextIO
    stack: Sandbox | None = None
    tweets: dict[int, FakeTweet] = field(default_factory=dict)
    # Where each post's card links to (its network's address of the post).
    links: dict[int, str] = field(default_factory=dict)
    cards: dict[int, StoredMessage] = field(default_factory=dict)
    database: Path | None = None
    _transcript: Transcript | None = None
    _sim: SlackSimulator | None = None
    _started: float = 0.0
    posted: int = 0  # mentions posted on Bluesky and Mastodon

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
                async with self._running(database_url) as bot:
                    await self._header(bot)
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
        except asyncio.CancelledError:
            # Ctrl-C during the script: asyncio.run cancels us, and the blocks above have
            # already stopped the bot and the sandbox and deleted the database on the way out.
            print(f"\nDemo interrupted. {STOPPED}", file=self.out)
            raise
        self._summary(keep=keep)
        return 0

    @contextlib.asynccontextmanager
    async def _running(self, database_url: str) -> AsyncIterator[RunningBot]:
        async with sandbox(networks=("x", "bluesky", "mastodon")) as stack:
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
                running_bot(settings, pacing_per_second=None) as bot,
                SlackSimulator(
                    stack.slack,
                    events_url=bot.events_url,
                    signing_secret=stack.slack.signing_secret,
                ) as sim,
            ):
                self._sim = sim
                try:
                    yield bot
                finally:
                    # Whatever happened last (a nag, a late update) belongs in the transcript.
                    self.transcript.flush()

    async def _header(self, bot: RunningBot) -> None:
        stack = self.sandbox
        async with ClientSession() as http, http.get(bot.health_url) as response:
            health = await response.json()
        normal = format_duration(parse_duration(TARGETS["sla_first_response"]))
        urgent = format_duration(parse_duration(TARGETS["sla_urgent"]))
        team = ", ".join(a.name for a in AGENTS)
        lines = [
            "Carebot demo: the real bot between a sandbox Slack and sandbox X, Bluesky and "
            "Mastodon, on this machine.",
            f"  sandbox Slack  {stack.slack.api_url}  (cards go to "
            f"{_channel_name(stack.slack, stack.channel)}, {stack.channel})",
            f"  sandbox X      {stack.x.api_url}  (the brand is @{stack.x.brand.username})",
            f"  sandbox Bluesky {stack.bluesky.api_url}  (the brand is "
            f"@{stack.bluesky.brand.handle})",
            f"  sandbox Mastodon {stack.mastodon.api_url}  (the brand is "
            f"@{stack.mastodon.brand.username}@{stack.mastodon.domain})",
            f"  bot            {bot.events_url}  (/healthz: {health['status']})",
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
        await self._digest()

    async def _post(self, number: int, post: Post) -> None:
        if post.customer.network != "x":
            await self._post_elsewhere(number, post)
            return
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
        self.links[number] = f"/status/{tweet.id}"
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

    async def _post_elsewhere(self, number: int, post: Post) -> None:
        """Post a (non-follow-up) mention on Bluesky or Mastodon and wait for its card."""
        stack, customer = self.sandbox, post.customer
        label = NETWORK_LABELS[customer.network]
        where = f"@{customer.handle} on {label} ({customer.followers:,} followers)"
        self.transcript.say(f"\n{where}: “{post.text}”")
        if customer.network == "bluesky":
            created = stack.bluesky.add_post(
                post.text,
                author_handle=customer.handle,
                followers=customer.followers,
                display_name=customer.name,
            )
            self.links[number] = f"/post/{created.rkey}"
        else:
            status = stack.mastodon.add_status(
                post.text,
                author=customer.handle,
                followers=customer.followers,
                display_name=customer.name,
            )
            self.links[number] = f"/{status.id}"
        self.posted += 1
        await self._until(lambda: self._card_linking(number) is not None, f"a card for {where}")
        found = self._card_linking(number)
        assert found is not None
        self.cards[number] = copy.deepcopy(found)

    def _card_linking(self, number: int) -> StoredMessage | None:
        stack = self.sandbox
        for message in stack.slack.channel_messages(stack.channel):
            if message.metadata and self.links[number] in str(message.blocks):
                return message
        return None

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
        self.transcript.say(f"{agent.name} types “{step.text}” ({box}) and presses Send.")
        chosen = [OptionValue.RESOLVE_AFTER.value] if step.resolve else []
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
        print(f"# Slack events, actions and commands: POST {bot.events_url}", file=self.out)
        print("# The transcript goes on below as things happen.\n", file=self.out)
        self.out.flush()
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
        bsky = [r for r in stack.bluesky.requests if r.status >= 400]
        masto = [r for r in stack.mastodon.requests if r[2] >= 400 and r[1] != "/api/v1/instance/"]
        if bsky or masto:
            raise DemoFailed(f"Bluesky or Mastodon refused requests: {(bsky + masto)[:3]}")

    def _summary(self, *, keep: bool) -> None:
        stack = self.sandbox
        posts = stack.slack.calls_to("chat.postMessage")
        cards = sum(1 for c in posts if c.ok and c.args.get("metadata"))
        nags = sum(
            1 for c in posts if c.ok and str(c.args.get("text") or "").startswith(NAG_PREFIXES)
        )
        seconds = time.monotonic() - self._started
        ending = "stopped" if keep else "finished"
        print(
            f"\nDemo {ending} in {seconds:.1f}s: {len(self.tweets) + self.posted} mentions, "
            f"{cards} cards, {len(stack.x.posted_replies)} replies sent to X, "
            f"{len(stack.bluesky.created_records)} to Bluesky, {len(stack.mastodon.posted)} to "
            f"Mastodon, {nags} nags. {STOPPED}",
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


async def run_demo(*, keep: bool, out: TextIO) -> int:
    """Run the sandbox, the bot and the script, printing the transcript to `out`; return 0.

    Raise DemoFailed, after stopping everything, when something the script expects does not
    happen in time.
    """
    return await Demo(out).run(keep=keep)
