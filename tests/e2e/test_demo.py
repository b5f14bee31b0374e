"""`carebot demo` end to end: the scripted demo in this process (then checked against what the
sandbox X and Slack really received), and as a user runs it, `python -m bot demo` with and without
`--keep`, checking exit codes, the transcript and that nothing is left running."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import bot
from bot.demo import ANA, BEN, CHLOE, LEAD, SCRIPT, STOPPED, Demo, Release, Reopen, Reply
from bot.sandbox.stack import BOT_TOKEN

REPO = Path(bot.__file__).resolve().parent.parent
# Bounds on waiting for a subprocess, so a hung demo fails the test instead of hanging it; the
# demo itself takes about 20 s.
DEMO_BOUND = 120.0
STOP_BOUND = 30.0


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
    for number in new_cards():
        post = SCRIPT[number]
        customer = post.customer
        assert f"X · {customer.name} @{customer.handle} · " in transcript, customer.handle
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
    assert "🚨 URGENT · X · Tech Daily @techdaily · 48.2k followers" in transcript
    assert f"🙋 @{ANA.name} claimed this." in transcript
    assert f"(only {BEN.name} sees this) @{ANA.name} already owns this case." in transcript
    assert "💬 @dana_k wrote again:" in transcript
    assert transcript.count("sent to X as @acmehelp's tweet ") == sum(
        isinstance(step, Reply) for post in SCRIPT for step in post.steps
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
    assert f"│ Received: {len(new_cards())} · X {len(new_cards())} · " in digest
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
        r"(\d+) repl(?:y|ies) sent to X",
        summary,
    )
    assert figures, summary
    received, posts, replied, resolved, still_open, breaches, agents, sent = figures.groups()
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
    replies = [
        (number, step)
        for number, post in enumerate(SCRIPT)
        for step in post.steps
        if isinstance(step, Reply)
    ]
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
    for name in ("sandbox Slack", "sandbox X", "bot"):
        assert await nothing_answers(header_value(transcript, name)), name
    assert demo.database is not None
    assert not exists(demo.database.parent)
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == []
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
    for name in ("sandbox Slack", "sandbox X", "bot"):
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

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = await asyncio.wait_for(proc.communicate(), STOP_BOUND)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    transcript = "".join(seen) + out.decode()
    assert proc.returncode == 0, transcript[-3000:] + err.decode()
    assert "Traceback" not in err.decode(), err.decode()
    assert_transcript_tells_the_story(transcript)
    assert "\nDemo stopped in " in transcript
    assert not exists(database(printed).parent)
    assert await nothing_answers(printed["CAREBOT_SLACK_API_URL"] + "auth.test")
    assert await nothing_answers(printed["CAREBOT_X_API_URL"] + "/2/users/me")
    assert await nothing_answers(health)
    assert await nothing_answers(page)
