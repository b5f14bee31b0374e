"""Delivery and polling under failure, end to end: the real bot (in this process, or as a
subprocess that is SIGKILLed) against the sandbox Slack and X over loopback. Every mention must
become exactly one card whatever breaks: a crash between `chat.postMessage` and the database write,
a Slack outage, Slack's per-channel rate limit, X rate-limiting or revoking our credentials, or X
failing with 5xx."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from bot.poller import source_checks
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox, running_bot
from bot.sandbox.x import FakeTweet
from tests.e2e import helpers
from tests.e2e.helpers import cards
from tests.processes import bot_process as run_bot_process


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def plain_messages(stack: Sandbox) -> list[StoredMessage]:
    return [m for m in stack.slack.channel_messages(stack.channel) if not m.metadata]


def assert_one_card_each(stack: Sandbox, tweets: list[FakeTweet]) -> None:
    """Every tweet has exactly one card, no case has two, and Slack saw no misuse."""
    helpers.assert_one_card_each(stack, tweets)
    assert stack.slack.violations == []


# --- a crash between chat.postMessage and the database write -----------------------------------


@asynccontextmanager
async def bot_process(
    stack: Sandbox, db_path: Path, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run the bot against the sandbox as a process of its own; stop it on exit if still alive."""
    env = stack.environment(sqlite_url(db_path), CAREBOT_POLL_INTERVAL="1s")
    async with run_bot_process(env, cwd=db_path.parent, log=log) as bot:
        yield bot.proc


@contextmanager
def write_lock(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock, so the bot's next write waits (its busy timeout is 10 s)."""
    conn = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError:
                # The bot is mid-write; it is short, so try again at once rather than block the
                # loop the fakes run on.
                if time.monotonic() > deadline:
                    raise
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def card_states(db_path: Path) -> Counter[str]:
    with sqlite3.connect(db_path) as conn:
        return Counter(state for (state,) in conn.execute("SELECT card_state FROM cases"))


async def kill_after_unrecorded_post(
    proc: asyncio.subprocess.Process, stack: Sandbox, db_path: Path
) -> None:
    """SIGKILL the bot right after Slack stored a card the bot could not yet record.

    While the test holds the database's write lock, a card that appears in the channel was posted
    by a bot now blocked on writing its ts: killing it then leaves a card in Slack and a case that
    the database only knows as `posting`, which is exactly the crash recovery must handle.
    """
    for _ in range(20):
        before = len(cards(stack))

        def one_more(before: int = before) -> bool:
            return len(cards(stack)) > before

        with write_lock(db_path):
            try:
                await stack.slack.wait_for(one_more, timeout=2.5)
            except AssertionError:
                # The bot was blocked before its post (e.g. renewing its lease); let it go on.
                continue
            proc.kill()
            await proc.wait()
            return
        await asyncio.sleep(0.05)
    pytest.fail("never caught the bot between chat.postMessage and its database write")


async def test_sigkill_between_post_and_record_never_duplicates(
    stack: Sandbox, tmp_path: Path
) -> None:
    db_path = tmp_path / "carebot.db"
    log = tmp_path / "bot.log"
    tweets = [
        stack.x.add_mention(f"@acmehelp parcel {i} is lost", author_handle=f"buyer{i}")
        for i in range(12)
    ]
    stack.slack.rate_limit_channel(stack.channel, per_second=2, burst=3)

    async with bot_process(stack, db_path, log) as first:
        await stack.slack.wait_for(lambda: len(cards(stack)) >= 2, timeout=15)
        await kill_after_unrecorded_post(first, stack, db_path)
    assert first.returncode == -signal.SIGKILL
    in_channel = len(cards(stack))
    assert 0 < in_channel < len(tweets)
    # The kill landed in the window: Slack has more cards than the database recorded.
    assert card_states(db_path)["posted"] < in_channel

    async with bot_process(stack, db_path, log):
        # The dead process's delivery lease must expire before the new one posts.
        await stack.slack.wait_for(lambda: len(cards(stack)) >= len(tweets), timeout=45)
        await stack.slack.wait_for(
            lambda: card_states(db_path) == Counter({"posted": len(tweets)}), timeout=10
        )
    assert_one_card_each(stack, tweets)
    # The restarted bot found the unrecorded card(s) in the channel instead of posting them again.
    assert re.search(r"found [1-9]\d* card\(s\) already in the channel", log.read_text())


# --- Slack failing: an outage, and its per-channel rate limit ----------------------------------


async def test_fifteen_second_slack_outage_delays_cards_but_never_loses_or_doubles_them(
    stack: Sandbox, tmp_path: Path
) -> None:
    settings = stack.settings(sqlite_url(tmp_path / "carebot.db"), poll_interval="1s")
    async with running_bot(settings, pacing_per_second=None) as bot:
        first = stack.x.add_mention("@acmehelp hello?", author_handle="early")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
        started = time.monotonic()
        stack.slack.outage(15)
        tweets = [
            stack.x.add_mention(f"@acmehelp refund {i} still missing", author_handle=f"late{i}")
            for i in range(10)
        ]
        # Delivery tried during the outage and was turned away.
        await stack.slack.wait_for(
            lambda: any(c.status == 503 for c in stack.slack.calls_to("chat.postMessage")),
            timeout=10,
        )
        await stack.slack.wait_for(lambda: len(cards(stack)) >= 11, timeout=40)
        assert time.monotonic() - started >= 15
        assert bot.runtime.delivery is not None
        assert bot.runtime.delivery.stats.failures >= 1
        # The post Slack answered 503 might have gone through, so it was looked up before retrying.
        assert any(c.ok for c in stack.slack.calls_to("conversations.history"))
        # Everything is recorded: nothing is left to post or to look up.
        polls = stack.x.mention_requests
        await stack.slack.wait_for(lambda: stack.x.mention_requests >= polls + 2, timeout=10)
    assert_one_card_each(stack, [first, *tweets])


async def test_forty_mentions_at_once_are_paced_under_the_channel_rate_limit(
    stack: Sandbox, tmp_path: Path
) -> None:
    stack.slack.rate_limit_channel(stack.channel, per_second=1, burst=3)
    tweets = stack.x.add_mentions(40)
    settings = stack.settings(sqlite_url(tmp_path / "carebot.db"), poll_interval="1s")
    async with running_bot(settings):
        await stack.slack.wait_for(lambda: len(cards(stack)) >= 40, timeout=60)
    assert_one_card_each(stack, tweets)
    assert stack.slack.ratelimited_count <= 3


# --- X failing: rate limits, revoked credentials, 5xx ------------------------------------------


def mention_statuses(stack: Sandbox) -> list[int]:
    return [r.status for r in stack.x.requests if r.path.endswith("/mentions")]


async def test_x_rate_limit_pauses_polling_until_the_reset(stack: Sandbox, tmp_path: Path) -> None:
    settings = stack.settings(sqlite_url(tmp_path / "carebot.db"), poll_interval="1s")
    async with running_bot(settings, pacing_per_second=None):
        before = stack.x.add_mention("@acmehelp one", author_handle="first")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
        stack.x.fail_next("/2/users/", 429, reset_in=4)
        await stack.slack.wait_for(lambda: 429 in mention_statuses(stack), timeout=10)
        limited_at, polls = time.monotonic(), stack.x.mention_requests
        after = stack.x.add_mention("@acmehelp two", author_handle="second")
        await stack.slack.wait_for(lambda: stack.x.mention_requests > polls, timeout=10)
        # X said "not before the reset": polling every second would have asked again sooner.
        assert time.monotonic() - limited_at >= 2.5
        await stack.slack.wait_for(lambda: len(cards(stack)) == 2, timeout=10)
        later = stack.x.add_mention("@acmehelp three", author_handle="third")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 3, timeout=10)
    assert mention_statuses(stack).count(429) == 1
    assert_one_card_each(stack, [before, after, later])


async def test_revoked_x_credentials_alert_once_and_recover_once(
    stack: Sandbox, tmp_path: Path
) -> None:
    settings = stack.settings(sqlite_url(tmp_path / "carebot.db"), poll_interval="1s")

    def alerts() -> list[str]:
        return [m.text for m in plain_messages(stack) if "cannot read X mentions" in m.text]

    def recoveries() -> list[str]:
        return [m.text for m in plain_messages(stack) if "reading X mentions again" in m.text]

    async with running_bot(settings, pacing_per_second=None, auth_retry=timedelta(seconds=1)):
        before = stack.x.add_mention("@acmehelp first", author_handle="first")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
        stack.x.revoke_credentials()
        await stack.slack.wait_for(lambda: len(alerts()) == 1, timeout=10)
        during = stack.x.add_mention("@acmehelp while revoked", author_handle="during")
        # Several more refused polls must not repeat the alert.
        await stack.slack.wait_for(lambda: mention_statuses(stack).count(401) >= 4, timeout=15)
        assert len(alerts()) == 1
        assert "carebot check" in alerts()[0]
        stack.x.restore_credentials()
        await stack.slack.wait_for(lambda: len(recoveries()) == 1, timeout=10)
        await stack.slack.wait_for(lambda: len(cards(stack)) == 2, timeout=10)
        after = stack.x.add_mention("@acmehelp after", author_handle="after")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 3, timeout=10)
    assert len(alerts()) == 1
    assert len(recoveries()) == 1
    assert_one_card_each(stack, [before, during, after])


async def test_poll_loop_survives_x_server_errors(stack: Sandbox, tmp_path: Path) -> None:
    settings = stack.settings(sqlite_url(tmp_path / "carebot.db"), poll_interval="1s")
    async with running_bot(settings, pacing_per_second=None):
        before = stack.x.add_mention("@acmehelp first", author_handle="first")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
        stack.x.fail_next("/2/users/", 500, count=2)
        after = stack.x.add_mention("@acmehelp second", author_handle="second")
        await stack.slack.wait_for(lambda: mention_statuses(stack).count(500) == 2, timeout=15)
        await stack.slack.wait_for(lambda: len(cards(stack)) == 2, timeout=15)
        later = stack.x.add_mention("@acmehelp third", author_handle="third")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 3, timeout=10)
    # An outage of X is not a credentials problem: nobody is alerted.
    assert plain_messages(stack) == []
    assert_one_card_each(stack, [before, after, later])


async def test_an_x_outage_longer_than_a_few_polls_is_told_once_and_its_end_once(
    stack: Sandbox, tmp_path: Path
) -> None:
    settings = stack.settings(sqlite_url(tmp_path / "carebot.db"), poll_interval="1s")

    def told(words: str) -> list[str]:
        return [m.text for m in plain_messages(stack) if words in m.text]

    async with running_bot(settings, pacing_per_second=None) as bot:
        before = stack.x.add_mention("@acmehelp first", author_handle="first")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
        stack.x.outage(503)
        during = stack.x.add_mention("@acmehelp during the outage", author_handle="during")
        await stack.slack.wait_for(lambda: len(told("has been failing")) == 1, timeout=30)
        assert bot.runtime.deps is not None
        checks = await source_checks(bot.runtime.sessions)
        assert checks["x"]["status"] == "degraded"
        assert "X is having trouble" in str(checks["x"]["reason"])
        # More failed polls do not repeat it.
        polls = stack.x.mention_requests
        await stack.slack.wait_for(lambda: stack.x.mention_requests >= polls + 2, timeout=30)
        assert len(told("has been failing")) == 1
        stack.x.end_outage()
        await stack.slack.wait_for(lambda: len(told("reading X mentions again")) == 1, timeout=40)
        await stack.slack.wait_for(lambda: len(cards(stack)) == 2, timeout=15)
        assert (await source_checks(bot.runtime.sessions))["x"] == {"status": "ok"}
    assert len(told("has been failing")) == 1
    assert len(told("reading X mentions again")) == 1
    assert_one_card_each(stack, [before, during])


async def test_fixed_x_credentials_work_at_the_next_poll(stack: Sandbox, tmp_path: Path) -> None:
    settings = stack.settings(sqlite_url(tmp_path / "carebot.db"), poll_interval="1s")
    # The runtime's default: before issue 14, recovery waited these five minutes.
    async with running_bot(settings, pacing_per_second=None, auth_retry=timedelta(minutes=5)):
        stack.x.revoke_credentials()
        await stack.slack.wait_for(
            lambda: any(r.status == 401 for r in stack.x.requests), timeout=15
        )
        stack.x.restore_credentials()
        tweet = stack.x.add_mention("@acmehelp hello again", author_handle="back")
        await stack.slack.wait_for(lambda: len(cards(stack)) == 1, timeout=15)
    assert_one_card_each(stack, [tweet])
