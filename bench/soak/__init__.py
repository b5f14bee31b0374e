"""Issue 18: the chaos soak. Several real `carebot run --http` replicas on one database, Slack's
requests spread over them by a round-robin proxy, the sandbox Slack and networks (X, Bluesky,
Mastodon) misbehaving on a schedule drawn from a seed, and a steady load of customers, agents
and leads on top. At the end,
invariants are checked from what the fakes recorded and from the database.

`python -m bench soak [--minutes N] [--replicas K] [--database sqlite|postgres] [--seed S]`
(`make soak`). PostgreSQL needs `CAREBOT_BENCH_POSTGRES_URL` (its `public` schema is dropped).

Processes: this one hosts the fakes, the proxy, the simulated people and the fault schedule; each
replica is its own process, SIGKILLed now and then and started again on the same port, as a
deploy or a crash would. Modules: `processes` (replicas, proxy), `people` (Slack's requests and
the load), `chaos` (the faults), `invariants` (the verdict), `run` (options, set-up, figures).

The invariants (a failure prints `INVARIANT <name>: <case>` and the run exits 1):
- one-card: every case has exactly one card in the channel, and every mention has a case;
- claim-once: no case was claimed twice (the load never releases one), and the one claim is
  its owner;
- one-post: every reply submission made at most one post on its network;
- reply-shown: every reply a network accepted shows in its card's thread;
- nag-once: no nag line appears twice in one card's thread;
- settled: a minute after the faults stop, no reply is pending, no card unposted, none dirty;
- acked: every Slack request was answered 200 within 3 s (requests cut by a SIGKILL are counted
  apart: Slack retries those, and the retry must be answered in time);
- memory: each replica that lived long enough kept a flat resident set (last third vs second).
"""

from __future__ import annotations

from bench.soak.run import main, run

__all__ = ["main", "run"]
