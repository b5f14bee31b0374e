"""The demo's transcript: narration, and in order everything the fakes recorded since last time
(Web API calls, response_url posts, the brand's posts on X, Bluesky and Mastodon) as the channel
shows it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TextIO

from bot.clock import utc_now
from bot.demo.render import JSON, blocks_to_lines, mrkdwn_to_text, view_to_text
from bot.sandbox.slack import FakeSlack, ResponsePost, SlackCall
from bot.sandbox.stack import Sandbox

# How the nag ladder's rungs begin (warning, breach, reminder), to count them in the summary.
NAG_PREFIXES = (":hourglass_flowing_sand:", ":red_circle:", ":bell:")


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
        """Print every reply the networks received and every Slack event since the last flush."""
        # The networks' records carry no time; they go first because a reply reaches its network
        # before the bot touches Slack about it (the card update and the thread line come after).
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
        self._sent_elsewhere()
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

    def _sent_elsewhere(self) -> None:
        """Print the replies Bluesky and Mastodon received since the last flush."""
        bsky = self.stack.bluesky
        for record in bsky.created_records[self.bluesky_seen :]:
            parent_uri = str(record["record"].get("reply", {}).get("parent", {}).get("uri", ""))
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
        elif call.method == "files.completeUploadExternal" and args.get("channel_id"):
            channel = channel_name(self.stack.slack, str(args["channel_id"]))
            listed = args.get("files")
            files = json.loads(listed) if isinstance(listed, str) else listed or []
            titles = ", ".join(f"“{f.get('title') or f.get('id')}”" for f in files)
            comment = mrkdwn_to_text(str(args.get("initial_comment") or ""), names)
            self.line(f"{channel}  Carebot shares a picture, {titles}: {comment}", indent=2)
        elif call.method == "views.publish":
            who = names.get(str(args.get("user_id")), str(args.get("user_id")))
            self.line(f"{who}'s App Home shows:", indent=2)
            for item in blocks_to_lines(
                list(dict(args.get("view") or {}).get("blocks") or []), names
            ):
                self.line(f"│ {item}", indent=4)
        elif call.method in {"views.open", "views.update"}:
            verb = "a modal opens" if call.method == "views.open" else "the modal now shows"
            self.line(f"{verb}: {view_to_text(dict(args.get('view') or {}), names)}", indent=2)

    def _posted(self, call: SlackCall) -> None:
        slack, args = self.stack.slack, call.args
        blocks = list(args.get("blocks") or [])
        text = mrkdwn_to_text(str(args.get("text") or ""), self.names)
        thread = args.get("thread_ts")
        channel = channel_name(slack, str(args.get("channel")))
        if thread:
            also = f" (also sent to {channel})" if args.get("reply_broadcast") else ""
            self.line(f"in the thread of {self.label(str(thread))}{also}:", indent=2)
            self.line(text, indent=4)
            return
        lines = blocks_to_lines(blocks, self.names) if blocks else text.split("\n")
        ts = self._ts_of(call) if args.get("metadata") else None
        if ts is not None:
            # Handles as each network writes them: dana_k, kim-w.bsky.social, sam@social.example.
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


def channel_name(slack: FakeSlack, channel: str) -> str:
    """Return how Slack names a channel (`#social-care`), or its id when the fake has no name."""
    known = slack.channels.get(channel)
    return f"#{known.name}" if known is not None else channel
