"""Logging set-up, with every configured secret redacted from every line, whatever logged it."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

# Token shapes are redacted even when they are not ours (a pasted token in an error body, say).
_TOKEN_SHAPES = re.compile(r"\b(xox[abpors]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)")
REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return `text` with every secret value and Slack-token shape replaced by `[redacted]`."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPES.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """Format records, then replace every secret value and Slack-token shape with `[redacted]`."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Return the formatted record with secrets removed."""
        return redact(super().format(record), self._secrets)


def configure_logging(level: str, secrets: Iterable[str], stream: object = None) -> None:
    """Send all logs to stderr (or `stream`) at `level`, redacting `secrets`."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that narrate every step at INFO (each job run, each migration plugin) speak up
    # only at DEBUG; their warnings and errors always show.
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in ("aiohttp.access", "apscheduler", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(quiet)
    scheduler = logging.getLogger("apscheduler.scheduler")
    for old_filter in [f for f in scheduler.filters if isinstance(f, SkippedRunFilter)]:
        scheduler.removeFilter(old_filter)
    if level != "DEBUG":
        scheduler.addFilter(SkippedRunFilter())


class SkippedRunFilter(logging.Filter):
    """Drop APScheduler's warning that a run was skipped because the previous one still runs.

    Every job has max_instances=1 and coalesce=True on purpose: a delivery run working through a
    backlog simply goes on, and the next tick after it picks up. APScheduler reports each skipped
    tick at WARNING (every second for the delivery job), which would bury real warnings.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record except the skipped-run note."""
        return "maximum number of running instances reached" not in record.getMessage()
