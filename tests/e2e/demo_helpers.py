"""Shared by the demo tests (test_demo*.py): where the repository is, how long to wait for a
demo, the script's replies and new cards per network, a minimal environment for the subprocess,
readers of the transcript's header, and the checks that the transcript tells the script's story
and that its closing summary is the digest's own figures."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

import bot
from bot.demo import ANA, BEN, CHLOE, LEAD, SCRIPT, Claim, Demo, Release, Reopen, Reply
from bot.demo.render import EMOJI
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


def exists(path: Path) -> bool:
    """Tell whether `path` exists (a plain function: the async tests only glance at the disk)."""
    return path.exists()


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
