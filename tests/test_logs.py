"""Log redaction: every configured secret and every Slack-token shape is removed from each line,
wherever in the record it hides (message, arguments, traceback)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import REDACTED, ExpectedNoteFilter, RedactingFormatter, configure_logging

BEARER = "AAAAbearer-e2e-31337"
SIGNING = "signing-secret-0042"
BOT_TOKEN = "xoxb-111-222-ourtoken"


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("carebot.test", logging.ERROR, __file__, 1, msg, args, exc_info)


def formatter(*secrets: str) -> RedactingFormatter:
    return RedactingFormatter("%(levelname)s %(name)s: %(message)s", secrets)


def test_a_secret_in_the_message_is_redacted() -> None:
    line = formatter(BEARER).format(record(f"calling X with Bearer {BEARER}"))
    assert line == f"ERROR carebot.test: calling X with Bearer {REDACTED}"


def test_a_secret_in_the_arguments_is_redacted() -> None:
    line = formatter(BEARER, SIGNING).format(
        record("headers=%r secret=%s", {"Authorization": f"Bearer {BEARER}"}, SIGNING)
    )
    assert BEARER not in line
    assert SIGNING not in line
    assert line.count(REDACTED) == 2


def test_a_secret_in_an_exception_traceback_is_redacted() -> None:
    def fail() -> None:
        token = BEARER  # a local in the failing frame, echoed into the message
        raise RuntimeError(f"401 for token {token}")

    try:
        fail()
    except RuntimeError as exc:
        line = formatter(BEARER).format(record("poll failed", exc=exc))
    assert "Traceback (most recent call last)" in line
    assert f"RuntimeError: 401 for token {REDACTED}" in line
    assert BEARER not in line


def test_slack_token_shapes_that_are_not_ours_are_redacted() -> None:
    pasted = "xoxb-9999-8888-notours"
    app_token = "xapp-1-A0-123-abc"
    user_token = "xoxp-5-6-7-user"
    line = formatter(BOT_TOKEN).format(record("body: %s %s %s", pasted, app_token, user_token))
    assert line == f"ERROR carebot.test: body: {REDACTED} {REDACTED} {REDACTED}"


def test_a_secret_containing_another_is_redacted_whole() -> None:
    short = "abcd1234"
    long = f"{short}-and-more"
    line = formatter(short, long).format(record(f"value {long}"))
    assert line == f"ERROR carebot.test: value {REDACTED}"


def test_blank_and_tiny_secrets_do_not_shred_the_log() -> None:
    # An empty or one-letter "secret" would otherwise replace every occurrence of it in every line.
    line = formatter("", "a").format(record("a plain message"))
    assert line == "ERROR carebot.test: a plain message"


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("aiohttp.access", "apscheduler", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.usefixtures("restore_root_logging")
def test_configure_logging_redacts_what_any_library_logs() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", [BEARER, SIGNING], stream=stream)
    logging.getLogger("tweepy.client").debug("Making API request: Bearer %s", BEARER)
    try:
        raise ValueError(f"bad signature with {SIGNING}")
    except ValueError:
        logging.getLogger("slack_bolt").exception("request rejected (%s)", BOT_TOKEN)
    text = stream.getvalue()
    assert "DEBUG tweepy.client: Making API request: Bearer [redacted]" in text
    assert "ERROR slack_bolt: request rejected ([redacted])" in text
    assert "ValueError: bad signature with [redacted]" in text
    for secret in (BEARER, SIGNING, BOT_TOKEN):
        assert secret not in text


@pytest.mark.usefixtures("restore_root_logging")
def test_configure_logging_replaces_earlier_handlers_and_quiets_chatty_libraries() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", [], stream=first)
    configure_logging("INFO", [], stream=second)
    logging.getLogger("carebot").info("once")
    logging.getLogger("apscheduler.scheduler").info("Running job …")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1
    assert "Running job" not in second.getvalue()


@pytest.mark.usefixtures("restore_root_logging")
def test_skipped_scheduler_runs_are_not_warnings_unless_debugging() -> None:
    skipped = (
        'Execution of job "deliver" (trigger: interval[0:00:01], next run at: …) skipped: '
        "maximum number of running instances reached (1)"
    )
    scheduler = logging.getLogger("apscheduler.scheduler")
    for level in ("INFO", "INFO", "DEBUG"):
        stream = io.StringIO()
        configure_logging(level, [], stream=stream)
        scheduler.warning(skipped)
        scheduler.warning("Run time of job was missed by 0:00:05")
        assert ("maximum number of running instances" in stream.getvalue()) == (level == "DEBUG")
        assert "was missed by" in stream.getvalue()  # other scheduler warnings still show
    assert not any(isinstance(f, ExpectedNoteFilter) for f in scheduler.filters)


@pytest.mark.usefixtures("restore_root_logging")
def test_bolts_note_about_the_token_it_read_is_not_a_warning() -> None:
    stream = io.StringIO()
    configure_logging("INFO", [], stream=stream)
    bolt = logging.getLogger("carebot.bolt")
    bolt.warning("As you gave `client` as well, `token` will be unused.")
    bolt.warning("Unhandled request ({'type': 'block_actions'})")
    assert "will be unused" not in stream.getvalue()
    assert "Unhandled request" in stream.getvalue()
