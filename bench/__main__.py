"""`python -m bench [names...]`: run every benchmark (or the named ones) and print one JSON line
per figure on stdout; progress goes to stderr. `python -m bench soak [options]` runs the chaos
soak instead (see bench/soak.py).

Each (benchmark, database) pair runs in its own child process, so peak memory (`ru_maxrss` never
goes down) belongs to that benchmark alone and one crash does not take the others with it. The
exit status is 0 when every benchmark ran, even if a target was missed (a figure is a
measurement); it is 1 when a benchmark crashed or found a wrong result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import traceback
from typing import cast

from bench import load
from bench.common import DbKind, available_databases, emit, progress


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgresql"],
        action="append",
        help="only these databases (PostgreSQL needs CAREBOT_BENCH_POSTGRES_URL)",
    )
    # Internal: run one benchmark on one database in this process (what the parent spawns).
    parser.add_argument("--child", nargs=2, metavar=("NAME", "DB"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _run_child(name: str, db: DbKind) -> int:
    benchmark = load()[name]
    try:
        found = asyncio.run(benchmark.run(db))
    except Exception:
        traceback.print_exc()
        progress(f"{name} [{db}]: FAILED")
        return 1
    for figure in found:
        emit(figure, db=db)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; return the process exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["soak"]:
        # The soak is a run of its own (minutes, replicas, a seed), not a figure per database.
        from bench.soak import main as soak

        return soak(argv[1:])
    args = _parse(argv)
    if args.child:
        name, db = args.child
        return _run_child(name, cast(DbKind, db))
    registry = load()
    if args.list:
        for benchmark in registry.values():
            print(f"{benchmark.name:20} {benchmark.summary}")
        return 0
    unknown = [n for n in args.names if n not in registry]
    if unknown:
        progress(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(registry)}")
        return 2
    wanted_dbs = set(args.db or available_databases())
    if "postgresql" in wanted_dbs and "postgresql" not in available_databases():
        progress("--db postgresql needs CAREBOT_BENCH_POSTGRES_URL; skipping PostgreSQL")
    status = 0
    for name in args.names or list(registry):
        for db in registry[name].databases:
            if db not in wanted_dbs or db not in available_databases():
                continue
            progress(f"running {name} on {db}")
            started = time.perf_counter()
            child = subprocess.run(
                [sys.executable, "-m", "bench", "--child", name, db],
                stdout=subprocess.PIPE,
                text=True,
                check=False,
            )
            for line in child.stdout.splitlines():
                # Relay only well-formed figure lines; anything else a library printed goes to
                # stderr so stdout stays machine-readable.
                try:
                    json.loads(line)
                except ValueError:
                    print(line, file=sys.stderr)
                    continue
                print(line, flush=True)
            took = time.perf_counter() - started
            if child.returncode != 0:
                status = 1
                progress(f"{name} [{db}] crashed (exit {child.returncode}) after {took:.0f}s")
            else:
                progress(f"{name} [{db}] done in {took:.0f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
