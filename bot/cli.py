"""The `carebot` command line: run, migrate, check, demo. Exit codes: 0 ok, 2 configuration
error (the message names the variable), 1 anything else."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from bot import __version__
from bot.errors import CarebotError, ConfigError
from bot.logs import configure_logging, redact
from bot.settings import Settings
from bot.settings_loading import load_settings
from storage.probe import DatabaseUnusable

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

log = logging.getLogger("carebot")

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop where it is installed (Linux and macOS), else on asyncio's loop.

    uvloop runs the same asyncio code with the loop, sockets and timers in C, so a burst of
    Claim presses is answered sooner (`bench/ack_latency.py`; figures in the README).
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
    top.add_argument("--version", action="version", version=f"carebot {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the bot (Socket Mode, or HTTP with --http)")
    run.add_argument("--http", action="store_true", help="serve POST /slack/events over HTTP")
    run.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    run.add_argument(
        "--health-port",
        type=int,
        default=None,
        metavar="PORT",
        help="in Socket Mode, serve GET /healthz on this port (on --host); HTTP mode serves it "
        "on --port",
    )
    sub.add_parser("migrate", help="apply database migrations and exit")
    check = sub.add_parser("check", help="validate configuration and credentials")
    check.add_argument("--http", action="store_true", help="check for HTTP mode (else Socket Mode)")
    forget = sub.add_parser("forget", help="erase a person's posts and name on their request")
    forget.add_argument("handle", help="their handle on the network, with or without @")
    demo = sub.add_parser("demo", help="the whole loop against built-in sandbox Slack and X")
    demo.add_argument("--keep", action="store_true", help="leave the sandbox and bot running")
    demo.add_argument(
        "--http", action="store_true", help="run the bot over HTTP instead of Socket Mode"
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    args = parser().parse_args(argv)
    secrets: list[str] = []
    try:
        if args.command == "check":
            return _check(http=args.http)
        settings = load_settings()
        secrets = settings.secrets()
        configure_logging(settings.log_level, settings.secrets())
        if args.command == "run":
            settings.require_for_run(http=args.http)
            from bot.serve import serve

            run_async(
                serve(
                    settings,
                    http=args.http,
                    host=args.host,
                    port=args.port,
                    health_port=args.health_port,
                )
            )
            return EXIT_OK
        if args.command == "migrate":
            return run_async(_migrate(settings))
        if args.command == "forget":
            return run_async(_forget(settings, args.handle))
        from bot.demo import run_demo

        # The transcript is the demo's output; the bot's own logs only for problems.
        configure_logging("WARNING", settings.secrets())
        exit_code: int = run_async(run_demo(keep=args.keep, out=sys.stdout, http=args.http))
        return exit_code
    except ConfigError as exc:
        for line in exc.lines():
            print(redact(f"carebot: configuration error: {line}", secrets), file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseUnusable as exc:
        print(
            redact(f"carebot: configuration error: DATABASE_URL: {exc}", secrets), file=sys.stderr
        )
        return EXIT_CONFIG
    except CarebotError as exc:
        print(redact(f"carebot: {exc.user_message}", secrets), file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        # The last line of defence for a CLI: say what failed in one line, keep the traceback.
        log.debug("fatal error", exc_info=exc)
        print(redact(f"carebot: {type(exc).__name__}: {exc}", secrets), file=sys.stderr)
        return EXIT_FAILURE


async def _migrate(settings: Settings) -> int:
    from storage.probe import open_migrated

    engine, revision = await open_migrated(settings.database_url)
    await engine.dispose()
    print(f"database is at revision {revision}")
    return EXIT_OK


def _check(*, http: bool) -> int:
    from bot.check import run_check
    from bot.settings_loading import load_settings_leniently

    # A bad value is one of the problems the check reports, not a reason to stop before the rest.
    settings, problems = load_settings_leniently()
    configure_logging(settings.log_level, settings.secrets())
    return run_async(
        run_check(settings, problems=problems, http=http, out=sys.stdout, err=sys.stderr)
    )


async def _forget(settings: Settings, handle: str) -> int:
    from bot.clock import utc_now
    from bot.compliance import ComplianceService, describe_forgotten
    from bot.delivery import process_id
    from storage.engine import session_factory
    from storage.probe import open_migrated

    if not handle.strip().lstrip("@"):
        raise ConfigError("HANDLE", "is empty; name the person's handle, e.g. carebot forget @dana")
    engine, _ = await open_migrated(settings.database_url)
    try:
        service = ComplianceService(
            sessions=session_factory(engine),
            clock=utc_now,
            sources=[],
            interval=settings.compliance_interval,
            retention=settings.retention,
            holder=process_id(),
        )
        print(describe_forgotten(await service.forget(handle)))
    finally:
        await engine.dispose()
    return EXIT_OK
