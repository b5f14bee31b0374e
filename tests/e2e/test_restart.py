"""Restarts resume at once: a bot process SIGKILLed while it holds the polling and delivery
leases is replaced by one that recognises its dead predecessor (same host, pid gone) and takes
both leases over at once instead of waiting for them to lapse; a lease held on another host
still lapses by its TTL, measured on the database's clock. Timings are in `bench/restart.py`."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from bot import leases
from bot.sandbox.slack import StoredMessage
from bot.sandbox.stack import Sandbox, sandbox
from storage import claims
from storage.engine import SessionFactory
from storage.models import Lease
from tests.processes import bot_process


async def test_a_restarted_bot_takes_over_its_dead_predecessors_leases(tmp_path: Path) -> None:
    async with sandbox() as stack:
        env = stack.environment(
            f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", CAREBOT_POLL_INTERVAL="1h"
        )
        log = tmp_path / "bot.log"
        first = stack.x.add_mention("@acmehelp before", author_handle="early")
        async with bot_process(env, cwd=tmp_path, log=log) as bot:
            await stack.slack.wait_for(
                lambda: any(first.id in str(m.blocks) for m in _cards(stack))
            )
            bot.proc.kill()
            await bot.proc.wait()
        late = stack.x.add_mention("@acmehelp while it was down", author_handle="late")
        polls = stack.x.mention_requests
        # With an hour between polls, only the restarted process's first poll can see it; the
        # dead one's 20-second leases would have held that poll off.
        async with bot_process(env, cwd=tmp_path, log=log):
            await stack.slack.wait_for(
                lambda: any(late.id in str(m.blocks) for m in _cards(stack)), timeout=15
            )
        assert stack.x.mention_requests == polls + 1
        text = log.read_text()
        assert "took over lease poll:x from" in text
        assert f"took over lease delivery:{stack.channel} from" in text
        assert len(_cards(stack)) == 2


def _cards(stack: Sandbox) -> list[StoredMessage]:
    return [m for m in stack.slack.channel_messages(stack.channel) if m.metadata]


async def _dead_pid() -> int:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    return proc.pid


async def test_dead_holders_are_recognised_and_live_or_remote_ones_are_not() -> None:
    me = leases.process_id()
    other_runtime_here = leases.process_id()
    assert not leases.holder_is_dead(me, me=me)
    assert not leases.holder_is_dead(other_runtime_here, me=me)  # alive in this process
    leases.retire(other_runtime_here)
    assert leases.holder_is_dead(other_runtime_here, me=me)  # stopped: its lease is abandoned
    earlier_life = f"{leases.HOST}:{os.getpid()}:abcdef"  # this pid before a container restart
    assert leases.holder_is_dead(earlier_life, me=me)
    assert leases.holder_is_dead(f"{leases.HOST}:{await _dead_pid()}:abcdef", me=me)
    assert not leases.holder_is_dead(f"{leases.HOST}:1:abcdef", me=me) or os.getpid() == 1
    assert not leases.holder_is_dead("elsewhere:12345:abcdef", me=me)
    assert not leases.holder_is_dead("not a holder", me=me)


async def test_a_remote_holders_lease_waits_for_its_ttl_on_the_database_clock(
    sessions: SessionFactory,
) -> None:
    me = leases.process_id()
    ttl = timedelta(seconds=20)
    assert await leases.acquire(sessions, name="poll:x", holder="elsewhere:1:abcdef", ttl=ttl)
    assert not await leases.acquire(sessions, name="poll:x", holder=me, ttl=ttl)
    async with sessions() as s, s.begin():
        now = await claims.database_now(s)
        await s.execute(update(Lease).values(expires_at=now - timedelta(seconds=1)))
    assert await leases.acquire(sessions, name="poll:x", holder=me, ttl=ttl)
    # The heartbeat renews only a lease it holds, and never takes one.
    assert await leases.renew(sessions, name="poll:x", holder=me, ttl=ttl)
    assert not await leases.renew(sessions, name="poll:x", holder="elsewhere:1:abcdef", ttl=ttl)
    async with sessions() as s:
        assert (await s.scalars(select(Lease.holder))).one() == me
    leases.retire(me)


async def test_a_dead_local_holders_lease_is_taken_over_before_it_lapses(
    sessions: SessionFactory,
) -> None:
    me = leases.process_id()
    dead = f"{leases.HOST}:{await _dead_pid()}:abcdef"
    ttl = timedelta(seconds=20)
    assert await leases.acquire(sessions, name="delivery:C0CARE", holder=dead, ttl=ttl)
    assert await leases.acquire(sessions, name="delivery:C0CARE", holder=me, ttl=ttl)
    async with sessions() as s:
        assert (await s.scalars(select(Lease.holder))).one() == me
    leases.retire(me)
