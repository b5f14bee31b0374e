"""The `carebot` command line: run, migrate, check, demo. Exit codes: 0 ok, 2 configuration
error (the message names the variable), 1 anything else."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from bot.errors import ConfigError
from bot.logs import configure_logging, redact
from bot.settings import Settings, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

log = logging.getLogger("carebot")

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop where it is installed (Linux and macOS), else on asyncio's loop.

    uvloop runs the same asyncio code with the loop, sockets and timers in C: a burst of 200
    Claim presses was answered ~40% sooner (median p50 85 -> 52 ms, `bench/ack_latency.py`).
    """
    try:
        import uvloop
    except ImportError:  # Windows: uvloop is not installed there
        return asyncio.run(main)
    return uvloop.run(main)


def parser() -> argparse.ArgumentParser:
    """Return the argument parser for every subcommand."""
    top = argparse.ArgumentParser(
        prog="carebot", description="Social customer care run from Slack."
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the bot (Socket Mode, or HTTP with --http)")
    run.add_argument("--http", action="store_true", help="serve POST /slack/events over HTTP")
    run.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("check", help="validate configuration and credentials")
    demo = sub.add_parser("demo", help="the whole loop against built-in sandbox Slack and X")
    demo.add_argument("--keep", action="store_true", help="leave the sandbox and bot running")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    args = parser().parse_args(argv)
    secrets: list[str] = []
    try:
        settings = load_settings()
        secrets = settings.secrets()
        configure_logging(settings.log_level, settings.secrets())
        if args.command == "run":
            settings.require_for_run(http=args.http)
            settings.require_network()
            from bot.runtime import serve

            run_async(serve(settings, http=args.http, host=args.host, port=args.port))
            return EXIT_OK
        if args.command == "migrate":
            return run_async(_migrate(settings))
        if args.command == "check":
            from bot.check import run_check

            return run_async(run_check(settings, out=sys.stdout))
        from bot.demo import run_demo

        # The transcript is the demo's output; the bot's own logs only for problems.
        configure_logging("WARNING", settings.secrets())
        exit_code: int = run_async(run_demo(keep=args.keep, out=sys.stdout))
        return exit_code
    except ConfigError as exc:
        print(f"carebot: configuration error: {exc.variable} {exc.problem}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        # The last line of defence for a CLI: say what failed in one line, keep the traceback.
        log.debug("fatal error", exc_info=exc)
        print(redact(f"carebot: {type(exc).__name__}: {exc}", secrets), file=sys.stderr)
        return EXIT_FAILURE


async def _migrate(settings: Settings) -> int:
    from storage.engine import create_engine
    from storage.migrate import current_revision, upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        print(f"database is at revision {await current_revision(engine)}")
    finally:
        await engine.dispose()
    return EXIT_OK
