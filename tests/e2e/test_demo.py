"""`carebot demo` end to end: the scripted demo in this process (then checked against what the
sandbox Slack, X, Bluesky and Mastodon really received), and as a user runs it, `python -m bot
demo` with and without `--keep`, checking exit codes, the transcript and that nothing is left
running."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import bot
from bot.demo import ANA, BEN, CHLOE, LEAD, SCRIPT, STOPPED, Claim, Demo, Release, Reopen, Reply
from bot.demo.render import EMOJI
from bot.sandbox.stack import BOT_TOKEN
from bot.sources.registry import network_spec

REPO = Path(bot.__file__).resolve().parent.parent
# Bounds on waiting for a subprocess, so a hung demo fails the test instead of hanging it; the
# demo itself takes about 20 s.
DEMO_BOUND = 120.0
STOP_BOUND = 30.0
NETWORKS = ("x", "bluesky", "mastodon")
# The header lines that name a server the demo starts (and must stop).
SERVERS = ("sandbox Slack", "sandbox X", "sandbox Bluesky", "sandbox Mastodon", "bot")
# How the transcript says a reply reached each network.
SENT_AS = {
    "x": "sent to X as @acmehelp's tweet ",
    "bluesky": "sent to Bluesky as @acme.bsky.social's post, in reply to ",
    "mastodon": "sent to Mastodon as @acme (",
}


def label(network: str) -> str:
    """Return the network's name as its registry spec (and so the card) writes it."""
    spec = network_spec(network)
    assert spec is not None, network
    return spec.label


def replies_on(network: str) -> list[tuple[int, Reply]]:
    """Return the script's replies that go out on `network`, with their post's number."""
    return [
        (number, step)
        for number, post in enumerate(SCRIPT)
        if post.customer.network == network
        for step in post.steps
        if isinstance(step, Reply)
    ]


def environment(**variables: str) -> dict[str, str]:
    """Return a minimal environment: nothing of the parent's CAREBOT_*, SLACK_* or X_* leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO),
        **variables,
    }


def header_value(transcript: str, name: str) -> str:
    """Return the first word after `name` in the transcript's header (a URL or a path)."""
    found = re.search(rf"^  {name}\s+(\S+)", transcript, re.MULTILINE)
    assert found, f"no {name!r} in the header:\n{transcript[:1000]}"
    return found.group(1)


async def nothing_answers(url: str) -> bool:
    """Tell whether the server that was at `url` is gone (connection refused)."""
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            await response.read()
    except aiohttp.ClientConnectionError:
        return True
    return False


def new_cards() -> list[int]:
    """Return the script's posts that open a case (and so get a card of their own)."""
    return [n for n, post in enumerate(SCRIPT) if not post.follow_up]


def assert_transcript_tells_the_story(transcript: str) -> None:
    """Check the transcript shows each card, the collision, the replies, a nag and the digest."""
    # The script has customers on every network, each card headed by its network's icon and name.
    assert {SCRIPT[n].customer.network for n in new_cards()} == set(NETWORKS)
    for number in new_cards():
        post = SCRIPT[number]
        customer = post.customer
        spec = network_spec(customer.network)
        assert spec is not None
        head = f"{EMOJI[spec.icon.strip(':')]} {spec.label} · {customer.name} @{customer.handle} · "
        assert head in transcript, customer.handle
        assert f"│ {post.text}\n" in transcript, customer.handle
    # Each new card offers Claim; so does a card whose case was released or reopened.
    back_in_queue = sum(isinstance(s, Release | Reopen) for post in SCRIPT for s in post.steps)
    assert back_in_queue == 2
    assert transcript.count("│ [Claim] [Reply] [Resolve]") == len(new_cards()) + back_in_queue
    assert "↩️ @Ben released this; it is unclaimed." in transcript
    assert "🔄 @Ana reopened this." in transcript
    assert "⚠️ Your reply is 322 characters; the limit is 280." in transcript
    assert "the modal stays open, the text still in the box" in transcript
    for typed in ("/care queue", "/care mine"):
        assert f"types {typed}." in transcript
    assert "Chloe's App Home shows:" in transcript
    assert "│ Your open cases (1)" in transcript
    shared = transcript.split(f"{LEAD.name} presses Share to channel under it.", 1)[1]
    assert "answer, posted for everyone:" in shared
    assert f"│ Shared by @{LEAD.name}" in shared
    assert "🚨 URGENT · 🐦 X · Tech Daily @techdaily · 48.2k followers" in transcript
    assert f"🙋 @{ANA.name} claimed this." in transcript
    assert f"(only {BEN.name} sees this) @{ANA.name} already owns this case." in transcript
    # A follow-up on every network joins its case, in the card's thread.
    follow_ups = {post.customer for post in SCRIPT if post.follow_up}
    assert {c.network for c in follow_ups} == set(NETWORKS)
    for customer in follow_ups:
        assert f"💬 @{customer.handle} wrote again:" in transcript, customer.handle
    for network in NETWORKS:
        assert transcript.count(SENT_AS[network]) == len(replies_on(network)), network
    # On every network a card is claimed and answered, each shown in that card's thread.
    for post in SCRIPT:
        handle, network = re.escape(post.customer.handle), label(post.customer.network)
        for step in post.steps:
            if isinstance(step, Claim):
                line = rf"🙋 @{step.agent.name} claimed this\."
            elif isinstance(step, Reply):
                line = rf"📤 @{step.agent.name} replied on {network}:"
            else:
                continue
            # A reply that also claims says so first, in the same thread message.
            thread = rf"in the thread of @{handle}'s card:\n(?:\S+ +🙋 .*\n)?\S* +{line}"
            assert re.search(thread, transcript), (post.customer.handle, step)
    for network in NETWORKS:
        claims = [s for p in SCRIPT if p.customer.network == network for s in p.steps]
        assert any(isinstance(s, Claim) for s in claims), network
    # The Mastodon direct message is answered directly.
    direct = [p for p in SCRIPT if p.visibility == "direct"]
    assert direct
    assert all(p.customer.network == "mastodon" for p in direct)
    assert transcript.count("sent to Mastodon as @acme (direct)") == sum(
        isinstance(s, Reply) for p in direct for s in p.steps
    )
    for post in SCRIPT:
        if not post.steps:  # nobody answers it: its breach goes to the thread and the channel
            marker = (
                f"in the thread of @{post.customer.handle}'s card (also sent to #social-care):\n"
            )
            assert marker in transcript, post.customer.handle
            nag = transcript.split(marker, 1)[1].split("\n", 1)[0]
            assert f"  🔴 @{LEAD.name} Nobody has claimed this, and" in nag, nag
    digest = transcript.split(f"{LEAD.name} (the lead) types /care digest.", 1)[1]
    assert f"answer (only {LEAD.name} sees this):" in digest
    assert "│ CARE DIGEST: LAST 24 HOURS" in digest
    per_network = Counter(SCRIPT[n].customer.network for n in new_cards())
    by_count = sorted(per_network.items(), key=lambda kv: (-kv[1], label(kv[0])))
    breakdown = " · ".join(f"{label(k)} {v}" for k, v in by_count)
    assert f"│ Received: {len(new_cards())} · {breakdown} · " in digest
    assert "│ Still open: 1" in digest
    # Only the unanswered case must breach; on a very slow machine a handled one might too.
    assert re.search(r"\(\d+ of \d+ in time\) · \d+ breach", digest), digest
    assert f"│ @{ANA.name}: claimed " in digest


def digest_fields(payload: Mapping[str, Any]) -> dict[str, str]:
    """Return the digest's `*Label*\nvalue` fields and sections by label, as the lead saw them."""
    found: dict[str, str] = {}
    for block in payload["blocks"]:
        for text in [block.get("text"), *(block.get("fields") or [])]:
            if isinstance(text, dict) and text["text"].startswith("*"):
                label, _, value = text["text"].partition("\n")
                found[label.strip("*")] = value
    return found


def assert_summary_is_the_digest(transcript: str, demo: Demo) -> None:
    """Check the closing summary says exactly what the lead's /care digest said."""
    assert demo.digest_shown is not None
    shown = digest_fields(demo.digest_shown)
    summary = transcript.split("\nDemo finished in ", 1)[1]
    figures = re.search(
        r"(\d+) cases? received \(from (\d+) customer posts?.*?\), (\d+) replied, (\d+) "
        r"resolved without a reply, (\d+) still open, (\d+) breach(?:es)?\. (.*?)\. "
        r"(\d+) repl(?:y|ies) sent \(((?:\d+ on \w+(?:, )?)+)\)",
        summary,
    )
    assert figures, summary
    received, posts, replied, resolved, still_open, breaches, agents, sent, where = figures.groups()
    assert shown["Received"].split("\n")[0] == received
    assert shown["Replied"] == replied
    assert shown["Resolved without reply"] == resolved
    assert shown["Still open"] == still_open
    assert shown["SLA attainment"].endswith(
        f"\n{breaches} breach" + ("" if breaches == "1" else "es")
    )
    # The script's own count agrees: one case per new mention, the follow-up joins its case.
    assert int(received) == len(new_cards())
    assert int(posts) == len(SCRIPT)
    assert int(sent) == sum(isinstance(step, Reply) for post in SCRIPT for step in post.steps)
    # Per network, as each network's fake recorded them, and as the script has them.
    stack = demo.sandbox
    recorded = {
        "x": len(stack.x.posted_replies),
        "bluesky": len(stack.bluesky.created_records),
        "mastodon": len(stack.mastodon.posted),
    }
    assert where == ", ".join(f"{recorded[n]} on {label(n)}" for n in NETWORKS)
    assert recorded == {n: len(replies_on(n)) for n in NETWORKS}
    customer_posts = (
        len(stack.x.tweets)
        - len(stack.x.posted_replies)
        + sum(p.author is not stack.bluesky.brand for p in stack.bluesky.posts.values())
        + sum(s.account is not stack.mastodon.brand for s in stack.mastodon.statuses.values())
    )
    assert int(posts) == customer_posts
    # Per agent, in the digest's words: "<@U0ANA>: claimed 3 · replied 3 · median 1s".
    per_agent = dict((f"<@{a.user_id}>", a.name) for a in (ANA, BEN, CHLOE))
    digest_agents = [
        re.match(r"(<@U\w+>): claimed (\d+) · replied (\d+)", line)
        for line in shown["By agent"].split("\n")
    ]
    said = [
        f"{per_agent[m.group(1)]} claimed {m.group(2)} and replied {m.group(3)}"
        for m in digest_agents
        if m
    ]
    assert agents == ", ".join(said)
    # Each claim the digest counts shows in the transcript as a thread line.
    for match in digest_agents:
        assert match is not None
        name = per_agent[match.group(1)]
        claims = transcript.count(f"🙋 @{name} claimed this.")
        releases = transcript.count(f"↩️ @{name} released this")
        assert claims - releases == int(match.group(2)), name


@pytest.mark.parametrize("http", [False, True], ids=["socket-mode", "http"])
async def test_the_demo_plays_the_script_through_the_real_bot(http: bool) -> None:
    out = io.StringIO()
    threads_before = set(threading.enumerate())
    demo = Demo(out, http=http)

    assert await demo.run(keep=False) == 0

    transcript = out.getvalue()
    assert_transcript_tells_the_story(transcript)
    assert transcript.rstrip().endswith(STOPPED)
    stack = demo.sandbox

    # X received exactly one post per scripted reply, each with its text, answering the post the
    # agent was looking at (for the follow-up: the customer's latest post, not the first one).
    replies = replies_on("x")
    sent = [r for r in stack.x.requests if r.method == "POST" and r.path == "/2/tweets"]
    assert len(sent) == len(replies)
    for request, (number, step) in zip(sent, replies, strict=True):
        assert request.status == 201
        assert request.json["text"] == step.text
        assert request.json["reply"]["in_reply_to_tweet_id"] == demo.tweets[number].id
    for posted in stack.x.posted_replies:
        parent = stack.x.tweets[str(posted["in_reply_to_tweet_id"])]
        author = stack.x.users[parent.author_id].username
        assert (
            f"sent to X as @acmehelp's tweet {posted['id']}, "
            f"in reply to @{author}'s tweet {parent.id}"
        ) in transcript

    # Bluesky received one post per scripted reply there, each answering the post the agent was
    # looking at (its rkey is in the card's link) within the thread the customer started.
    bluesky = replies_on("bluesky")
    assert len(stack.bluesky.created_records) == len(bluesky)
    for created, (number, step) in zip(stack.bluesky.created_records, bluesky, strict=True):
        record = created["record"]
        assert record["text"] == step.text
        answered = stack.bluesky.posts[record["reply"]["parent"]["uri"]]
        assert demo.links[number] == f"/post/{answered.rkey}"
        root = answered.record.get("reply", {}).get("root", {}).get("uri", answered.uri)
        assert record["reply"]["root"]["uri"] == root
        assert f"{SENT_AS['bluesky']}@{answered.author.handle}'s post {answered.rkey}" in transcript
    # Mastodon received one status per scripted reply there, answering the customer's status in
    # its visibility (the direct message directly) and @mentioning them.
    mastodon = replies_on("mastodon")
    assert len(stack.mastodon.posted) == len(mastodon)
    for body, (number, step) in zip(stack.mastodon.posted, mastodon, strict=True):
        post = SCRIPT[number]
        assert str(body["status"]) == f"@{post.customer.handle} {step.text}"
        assert demo.links[number] == f"/{body['in_reply_to_id']}"
        assert body["visibility"] == post.visibility
        assert (
            f"sent to Mastodon as @acme ({post.visibility}), in reply to "
            f"@{post.customer.handle}'s post {body['in_reply_to_id']}"
        ) in transcript

    # Slack saw one card per new mention, accepted every call, and the unanswered case breached.
    slack = stack.slack
    cards = [m for m in slack.channel_messages(stack.channel) if m.metadata]
    assert len(cards) == len(new_cards())
    assert [c for c in slack.calls if not c.ok] == []
    assert slack.violations == []
    (kim,) = [n for n, post in enumerate(SCRIPT) if not post.steps]
    breach = [
        m
        for m in slack.thread(stack.channel, demo.cards[kim].ts)
        if m.text.startswith(":red_circle:")
    ]
    assert len(breach) == 1
    assert breach[0].reply_broadcast
    assert f"<@{LEAD.user_id}>" in breach[0].text
    collision = slack.ephemerals(BEN.user_id)
    owned = f"<@{ANA.user_id}> already owns this case. Ask them, or a lead, to release it."
    assert [e.text for e in collision] == [owned]

    assert_summary_is_the_digest(transcript, demo)

    # Nothing is left running: the servers are gone, the database with them, no task or thread.
    for name in SERVERS:
        assert await nothing_answers(header_value(transcript, name)), name
    assert demo.database is not None
    assert not exists(demo.database.parent)
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == []
    # Mastodon.py's stream reader ends once its connection closes, a moment after the sandbox.
    deadline = time.monotonic() + 5
    while not set(threading.enumerate()) <= threads_before and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert set(threading.enumerate()) <= threads_before


async def start_demo(cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """Start `python -m bot demo` as a user would, with its output piped to the test."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        *args,
        cwd=cwd,
        env=environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("args", [(), ("--http",)], ids=["socket-mode", "http"])
async def test_carebot_demo_exits_0_and_leaves_nothing_behind(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc = await start_demo(tmp_path, *args)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DEMO_BOUND)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    transcript, errors = out.decode(), err.decode()
    assert proc.returncode == 0, transcript[-3000:] + errors
    assert "Traceback" not in errors, errors
    assert " ERROR " not in errors, errors
    assert_transcript_tells_the_story(transcript)
    assert "\nDemo finished in " in transcript
    assert not exists(Path(header_value(transcript, "database")).parent)
    for name in SERVERS:
        assert await nothing_answers(header_value(transcript, name)), name


async def read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> None:
    """Collect lines from `stream` into `seen` until one starts with `marker`."""
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError(f"output ended before {marker!r}:\n{''.join(seen)[-3000:]}")
        seen.append(line)
        if line.startswith(marker):
            return


def exists(path: Path) -> bool:
    """Tell whether `path` exists (a plain function: the async tests only glance at the disk)."""
    return path.exists()


def database(env: Mapping[str, str]) -> Path:
    """Return the SQLite file a DATABASE_URL names."""
    return Path(env["DATABASE_URL"].split(":///", 1)[1])


def env_lines(transcript: str) -> Mapping[str, str]:
    return dict(
        line.split("=", 1) for line in transcript.splitlines() if re.match(r"^[A-Z_]+=", line)
    )


async def test_keep_leaves_everything_up_until_ctrl_c(tmp_path: Path) -> None:
    proc = await start_demo(tmp_path, "--keep")
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(
            read_until(proc.stdout, "# The transcript goes on below", seen), DEMO_BOUND
        )
        printed = env_lines("".join(seen))
        # What --keep prints is enough for another client: the sandbox and the bot still answer.
        assert printed["SLACK_BOT_TOKEN"] == BOT_TOKEN
        async with aiohttp.ClientSession() as http:
            async with http.post(
                printed["CAREBOT_SLACK_API_URL"] + "auth.test",
                headers={"Authorization": f"Bearer {printed['SLACK_BOT_TOKEN']}"},
            ) as response:
                assert (await response.json())["ok"] is True
            health_line = next(line for line in seen if line.startswith("# Health: GET "))
            health = health_line.removeprefix("# Health: GET ").strip()
            async with http.get(health) as response:
                assert response.status == 200
        assert exists(database(printed))
        # The page that shows the channel and lets a person act in it.
        watch = next(line for line in seen if line.startswith("Watch it: "))
        page = watch.split()[2]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", page), watch
        async with aiohttp.ClientSession() as http:
            async with http.get(page) as response:
                assert response.status == 200
                assert "<title>Carebot sandbox</title>" in await response.text()
            async with http.get(f"{page}api/state?user={LEAD.user_id}") as response:
                state = await response.json()
        assert state["user"] == LEAD.user_id
        assert sum(1 for m in state["messages"] if m["blocks"]) >= len(new_cards())
        # The page offers a mention on every network, and each one typed there becomes a card.
        assert [(n["id"], n["label"]) for n in state["networks"]] == [
            (n, label(n)) for n in NETWORKS
        ]
        handles = {"x": "pat_new", "bluesky": "pat-new.bsky.social", "mastodon": "pat@new.example"}
        async with aiohttp.ClientSession() as http:
            for network, handle in handles.items():
                form = {"user": ANA.user_id, "network": network, "handle": handle}
                form |= {"name": "Pat", "followers": "7", "text": f"hello from {network}"}
                async with http.post(f"{page}api/mentions", json=form) as response:
                    assert response.status == 200, await response.text()
            deadline = time.monotonic() + STOP_BOUND
            while True:
                async with http.get(f"{page}api/state?user={ANA.user_id}") as response:
                    shown = str((await response.json())["messages"])
                if all(f"hello from {n}" in shown for n in NETWORKS):
                    break
                assert time.monotonic() < deadline, shown[-2000:]
                await asyncio.sleep(0.2)

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = await asyncio.wait_for(proc.communicate(), STOP_BOUND)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    transcript = "".join(seen) + out.decode()
    assert proc.returncode == 0, transcript[-3000:] + err.decode()
    assert "Traceback" not in err.decode(), err.decode()
    # The script's story is told before --keep waits; the page's three mentions come after it.
    assert_transcript_tells_the_story("".join(seen))
    after = out.decode()
    for network, handle in handles.items():
        spec = network_spec(network)
        assert spec is not None
        head = f"│ {EMOJI[spec.icon.strip(':')]} {spec.label} · Pat @{handle} · 7 followers"
        assert head in after, network
    assert "\nDemo stopped in " in transcript
    assert not exists(database(printed).parent)
    assert await nothing_answers(printed["CAREBOT_SLACK_API_URL"] + "auth.test")
    assert await nothing_answers(printed["CAREBOT_X_API_URL"] + "/2/users/me")
    assert await nothing_answers(health)
    assert await nothing_answers(page)
