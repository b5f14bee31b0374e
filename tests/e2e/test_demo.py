"""`carebot demo` in this process: the scripted demo through the real bot, over Socket Mode and
over HTTP, then checked against what the sandbox Slack, X, Bluesky and Mastodon really received
and against the digest. The demo as a user runs it, `python -m bot demo`, is in
test_demo_cli.py."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest

from bot.demo import ANA, BEN, LEAD, SCRIPT, STOPPED, Demo
from tests.e2e.demo_helpers import (
    SENT_AS,
    SERVERS,
    assert_summary_is_the_digest,
    assert_transcript_tells_the_story,
    exists,
    header_value,
    new_cards,
    nothing_answers,
    replies_on,
)


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
