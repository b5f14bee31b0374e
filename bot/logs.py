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
    for name, note in EXPECTED_NOTES.items():
        logger = logging.getLogger(name)
        for old_filter in [f for f in logger.filters if isinstance(f, ExpectedNoteFilter)]:
            logger.removeFilter(old_filter)
        if level != "DEBUG":
            logger.addFilter(ExpectedNoteFilter(note))


# Library warnings about things Carebot does on purpose, shown only at DEBUG. APScheduler: every
# job has max_instances=1 and coalesce=True, so a delivery run working through a backlog simply
# goes on and the next tick after it picks up, yet each skipped tick is a WARNING (every second).
# Bolt: the app is given its Web API client (for CAREBOT_SLACK_API_URL), and Bolt warns at every
# start that the SLACK_BOT_TOKEN it also read will be unused, though the client carries it.
EXPECTED_NOTES = {
    "apscheduler.scheduler": "maximum number of running instances reached",
    "carebot.bolt": "As you gave `client` as well, `token` will be unused.",
}


class ExpectedNoteFilter(logging.Filter):
    """Drop the records of one logger whose message contains `note`."""

    def __init__(self, note: str) -> None:
        super().__init__()
        self.note = note

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record except the expected note."""
        return self.note not in record.getMessage()
