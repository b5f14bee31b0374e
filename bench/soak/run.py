"""The soak's run from start to verdict: parse the options, prepare the database, start the
sandbox, the proxy and the replicas, play the load and the faults together, check the invariants
and print the figures (one JSON line on stdout) and every broken invariant (stderr).

Whatever happens (an exception, Ctrl-C, a broken invariant), every replica is stopped before
`run` returns: SIGTERM, then SIGKILL after 15 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import POSTGRES_ENV, _reset_postgres, machine, progress
from bench.soak.chaos import chaos, watch
from bench.soak.invariants import Violation, check, settle
from bench.soak.people import AGENTS, LEAD, NETWORKS, Soak
from bench.soak.processes import Proxy, Replica
from bench.soak.tally import by_minute, tally
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.stack import SOURCE_ROOT, free_port, sandbox
from storage.engine import create_engine
from storage.migrate import upgrade

QUIET_SECONDS = 60.0


def _parse(argv: list[str]) -> argparse.Namespace:
    from bench import soak  # the package's docstring is the manual

    parser = argparse.ArgumentParser(prog="python -m bench soak", description=soak.__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--storm", type=int, default=None, help="mentions in the storm minute")
    # 0.1 a second is 360 an hour, a busy brand's channel; with the storm and the faults it already
    # asks nearly all of the channel's one message a second (cards, thread lines) for the run.
    parser.add_argument("--mention-rate", type=float, default=0.1, help="mentions per second")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    if args.storm is None:
        # Cards go out at Slack's ~1 per second per channel: a storm must drain before the end.
        args.storm = 500 if args.minutes >= 15 else 60
    args.fault_seconds = max(args.minutes * 60 - QUIET_SECONDS, 60.0)
    return args


async def _database(kind: str, tmp: Path) -> str:
    if kind == "postgres":
        url = os.environ.get(POSTGRES_ENV)
        if not url:
            raise SystemExit(f"--database postgres needs {POSTGRES_ENV}")
        await _reset_postgres(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'soak.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


async def run(args: argparse.Namespace) -> int:
    """Run the soak; return 0 when every invariant held."""
    progress(
        f"soak: seed {args.seed}, {args.minutes:g} min, {args.replicas} replicas, "
        f"{args.database}; replay with --seed {args.seed}"
    )
    # SIGTERM (a CI timeout, `kill`) cancels the run, so the `finally` below still stops every
    # replica instead of leaving them running on their ports.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with tempfile.TemporaryDirectory(prefix="carebot-soak-") as tmp_name:
        tmp = Path(tmp_name)
        url = await _database(args.database, tmp)
        async with sandbox(networks=NETWORKS) as stack:
            for user in [*AGENTS, LEAD]:
                stack.slack.add_user(user, name=user.lower())
            stack.slack.rate_limit_channel(stack.channel, per_second=1.0, burst=3)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": SOURCE_ROOT,
                **stack.environment(url),
                "CAREBOT_POLL_INTERVAL": "2s",
                "CAREBOT_SLA_FIRST_RESPONSE": "3m",
                "CAREBOT_SLA_URGENT": "1m",
                "CAREBOT_SLA_CHECK_INTERVAL": "5s",
                "CAREBOT_AGENTS": ",".join(AGENTS),
                "CAREBOT_LEADS": LEAD,
            }
            replicas = [
                Replica(slot=i, port=free_port(), env=env, log=tmp / f"replica-{i}.log")
                for i in range(args.replicas)
            ]
            proxy = Proxy(replicas)
            await proxy.start()
            sim = SlackSimulator(
                stack.slack,
                events_url=f"http://127.0.0.1:{proxy.port}/slack/events",
                signing_secret=stack.slack.signing_secret,
            )
            await sim.start()
            soak = Soak(
                args,
                stack,
                replicas,
                proxy,
                sim,
                random.Random(args.seed),
                random.Random(f"faults-{args.seed}"),
            )
            try:
                for replica in replicas:
                    await replica.start()
                soak.note(f"{args.replicas} replicas up behind the proxy; the clock starts")
                # The minutes count from here: a slow start-up must not eat the fault window.
                soak.started = time.monotonic()
                watcher = asyncio.create_task(watch(soak))
                await asyncio.gather(soak.customers(), soak.agents(), chaos(soak))
                settled = await settle(soak, url)
                soak.done.set()
                await watcher
                violations = await check(soak, url, settled)
                _report(soak, violations, tmp)
                return 1 if violations else 0
            finally:
                await sim.close()
                for replica in replicas:
                    await replica.stop()
                await proxy.stop()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else 0


def _report(soak: Soak, violations: list[Violation], tmp: Path) -> None:
    ack_times = [a.attempts[-1][1] for a in soak.acks if a.answered]
    latencies = [
        soak.card_seen[case_id] - soak.mention_added[tweet_id]
        for case_id, tweet_id in soak.case_mentions.items()
        if case_id in soak.card_seen and tweet_id in soak.mention_added
    ]
    figures = {
        "seed": soak.args.seed,
        "minutes": soak.args.minutes,
        "replicas": soak.args.replicas,
        "database": soak.args.database,
        "mentions": len(soak.mention_added),
        "cards": len(soak.cards()),
        "reply_submissions": len(soak.submissions),
        "mentions_by_network": dict(Counter(network for network, _ in soak.mention_added)),
        "replies_posted": len(soak.posted_replies()),
        "replies_posted_by_network": dict(Counter(network for network, _ in soak.posted_replies())),
        "slack_requests": len(soak.acks),
        "slack_requests_cut_by_kill": soak.proxy.cut,
        "ack_p50_ms": round(_percentile(ack_times, 0.5) * 1000, 1),
        "ack_p99_ms": round(_percentile(ack_times, 0.99) * 1000, 1),
        "mention_to_card_p50_s": round(_percentile(latencies, 0.5), 2),
        "mention_to_card_p99_s": round(_percentile(latencies, 0.99), 2),
        "slack_calls": tally(soak.stack.slack.calls),
        "slack_taken_by_minute": by_minute(soak.stack.slack.calls),
        "faults": dict(soak.faults),
        "kills": sum(r.kills for r in soak.replicas),
        "peak_rss_mib": round(
            max((v for r in soak.replicas for life in r.rss for _, v in life), default=0), 1
        ),
        "invariants_broken": len(violations),
        **machine(),
        "command": "python -m bench soak " + " ".join(sys.argv[2:]),
    }
    print(json.dumps({"bench": "soak", **figures}), flush=True)
    for violation in violations[:50]:
        print(f"INVARIANT {violation.invariant}: {violation.detail}", file=sys.stderr)
    if violations:
        progress(
            f"soak FAILED: {len(violations)} broken; replay with --seed {soak.args.seed}; "
            f"replica logs were in {tmp}"
        )
        for replica in soak.replicas:
            tail = replica.log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- replica {replica.slot} log tail ---", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
    else:
        progress("soak passed: every invariant held")


def main(argv: list[str]) -> int:
    """Entry point of `python -m bench soak …`."""
    args = _parse(argv)
    try:
        return asyncio.run(run(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        progress(f"soak stopped before its verdict; replay with --seed {args.seed}")
        return 130
