"""The `carebot` command line as a user runs it: the real CLI in a subprocess, against the sandbox
Slack and X on loopback, checking exit codes, what it prints, /healthz and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import bot
from bot.sandbox.stack import Sandbox, free_port, sandbox
from storage.migrate import head_revision
from tests.processes import bot_process

# The package may not be installed in the venv; the subprocess finds it the way pytest does.
REPO = Path(bot.__file__).resolve().parent.parent
# Nowhere: a bad-configuration run must fail before it talks to any API, and if it did not,
# this keeps it on loopback.
NOWHERE = "http://127.0.0.1:9"
# Seconds: a one-shot command, the bot getting ready, the bot obeying SIGTERM.
COMMAND_TIMEOUT, READY_TIMEOUT, STOP_TIMEOUT = 15.0, 10.0, 8.0

# Distinctive values, so finding one in the output cannot be a coincidence.
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-e2e-4711-slackbottoken",
    "SLACK_SIGNING_SECRET": "e2e-signing-9f3c1d77",
    "X_BEARER_TOKEN": "e2e-bearer-AAAA5150ZZZZ",
    "X_API_KEY": "e2e-consumer-key-8812",
    "X_API_SECRET": "e2e-consumer-secret-3344",
    "X_ACCESS_TOKEN": "e2e-access-token-6021",
    "X_ACCESS_TOKEN_SECRET": "e2e-access-secret-7090",
}


@dataclass(slots=True)
class Result:
    """What a finished `carebot` command returned and printed."""

    code: int
    stdout: str
    stderr: str


def environment(variables: Mapping[str, str]) -> dict[str, str]:
    """Return a minimal environment: nothing of the parent's CAREBOT_*, SLACK_* or X_* leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO),
        **variables,
    }


async def carebot(*args: str, env: Mapping[str, str], cwd: Path) -> Result:
    """Run `python -m bot ARGS` to completion and return its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=environment(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def sqlite_url(tmp_path: Path, name: str = "carebot.db") -> str:
    return f"sqlite+aiosqlite:///{tmp_path / name}"


async def test_help_lists_every_command(tmp_path: Path) -> None:
    result = await carebot("--help", env={}, cwd=tmp_path)
    assert result.code == 0
    for command in ("run", "migrate", "check", "demo"):
        assert f"    {command} " in result.stdout


async def test_unknown_subcommand_prints_usage_and_exits_2(tmp_path: Path) -> None:
    result = await carebot("frobnicate", env={}, cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.startswith("usage: carebot")
    assert "invalid choice: 'frobnicate'" in result.stderr


async def test_run_migrates_a_new_database_serves_healthz_and_stops_on_sigterm(
    stack: Sandbox, tmp_path: Path
) -> None:
    database = tmp_path / "new.db"
    env = stack.environment(sqlite_url(tmp_path, "new.db"))
    assert not database.exists()
    for start in ("first", "second"):
        async with bot_process(environment(env), cwd=tmp_path, wait_healthy=False) as running:
            status, body = await running.healthz(READY_TIMEOUT)
            assert status == 200, start
            assert body["status"] == "ok"
            assert body["database"]["revision"] == head_revision()
            assert database.exists()
            assert await running.terminate(STOP_TIMEOUT) == 0, running.output()
            log = running.output()
        assert "carebot stopped" in log, log
        assert "Traceback" not in log, log


async def test_migrate_prints_the_revision_and_can_run_twice(tmp_path: Path) -> None:
    env = {"DATABASE_URL": sqlite_url(tmp_path)}
    expected = f"database is at revision {head_revision()}"
    for _ in range(2):
        result = await carebot("migrate", env=env, cwd=tmp_path)
        assert (result.code, result.stdout.strip()) == (0, expected), result.stderr
    assert (tmp_path / "carebot.db").exists()


async def test_check_passes_against_the_sandbox(stack: Sandbox, tmp_path: Path) -> None:
    result = await carebot(
        "check", "--http", env=stack.environment(sqlite_url(tmp_path)), cwd=tmp_path
    )
    assert result.code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok    Slack: connected as @carebot") for line in lines)
    assert any(line.startswith("ok    Slack: cards will go to #social-care") for line in lines)
    assert any(line.startswith("ok    X: authenticated as @acmehelp") for line in lines)
    # What the configured poll interval costs a month on X's pay-per-use plan.
    assert any(
        line.startswith("info  X: polling every 1m is 43,200 mention calls") for line in lines
    )
    assert lines[-1] == "all checks passed"


async def test_check_names_a_revoked_slack_token(stack: Sandbox, tmp_path: Path) -> None:
    stack.slack.revoke_token()
    result = await carebot(
        "check", "--http", env=stack.environment(sqlite_url(tmp_path)), cwd=tmp_path
    )
    assert result.code == 1, result.stdout + result.stderr
    slack_lines = [line for line in result.stdout.splitlines() if "Slack" in line]
    assert len(slack_lines) == 1
    assert slack_lines[0].startswith("FAIL  Slack: the token is not valid")
    # X is still checked, so one run shows everything that is wrong.
    assert any(line.startswith("ok    X:") for line in result.stdout.splitlines())
    assert result.stdout.splitlines()[-1] == "1 check(s) failed"


async def test_check_names_revoked_x_credentials(stack: Sandbox, tmp_path: Path) -> None:
    stack.x.revoke_credentials()
    result = await carebot(
        "check", "--http", env=stack.environment(sqlite_url(tmp_path)), cwd=tmp_path
    )
    assert result.code == 1, result.stdout + result.stderr
    x_lines = [line for line in result.stdout.splitlines() if line.startswith("FAIL  X:")]
    assert len(x_lines) == 1
    assert "rejected Carebot's credentials" in x_lines[0]
    assert any(line.startswith("ok    Slack:") for line in result.stdout.splitlines())


async def test_check_without_a_bot_token_is_a_configuration_error(
    stack: Sandbox, tmp_path: Path
) -> None:
    env = stack.environment(sqlite_url(tmp_path))
    del env["SLACK_BOT_TOKEN"]
    result = await carebot("check", env=env, cwd=tmp_path)
    assert result.code == 2
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert stack.slack.calls == []


def configured(**changes: str | None) -> dict[str, str]:
    """Return a complete HTTP-mode configuration with `changes` applied (None removes one)."""
    env = {
        **SECRETS,
        "CAREBOT_CHANNEL": "C0CARE",
        "CAREBOT_SLACK_API_URL": NOWHERE,
        "CAREBOT_X_API_URL": NOWHERE,
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN"),
        ({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET"),
        ({"CAREBOT_POLL_INTERVAL": "soon"}, "CAREBOT_POLL_INTERVAL"),
        ({"CAREBOT_TIMEZONE": "Mars/Olympus_Mons"}, "CAREBOT_TIMEZONE"),
        ({"CAREBOT_TIMEZONE": "../../etc/passwd"}, "CAREBOT_TIMEZONE"),
    ],
    ids=["no-bot-token", "no-signing-secret", "bad-interval", "unknown-zone", "path-as-zone"],
)
async def test_bad_configuration_exits_2_naming_the_variable(
    changes: dict[str, str | None], variable: str, tmp_path: Path
) -> None:
    env = configured(DATABASE_URL=sqlite_url(tmp_path), **changes)
    result = await carebot("run", "--http", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert result.code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert not (tmp_path / "carebot.db").exists()  # it failed before touching anything


async def test_no_secret_reaches_the_debug_log(tmp_path: Path) -> None:
    async with sandbox(
        bot_token=SECRETS["SLACK_BOT_TOKEN"],
        signing_secret=SECRETS["SLACK_SIGNING_SECRET"],
        x_bearer_token=SECRETS["X_BEARER_TOKEN"],
        x_api_key=SECRETS["X_API_KEY"],
        x_api_secret=SECRETS["X_API_SECRET"],
        x_access_token=SECRETS["X_ACCESS_TOKEN"],
        x_access_token_secret=SECRETS["X_ACCESS_TOKEN_SECRET"],
    ) as stack:
        env = stack.environment(
            sqlite_url(tmp_path), CAREBOT_LOG_LEVEL="DEBUG", CAREBOT_POLL_INTERVAL="1s"
        )
        assert {name: env[name] for name in SECRETS} == SECRETS
        stack.x.add_mention("@acmehelp my parcel never came", author_handle="leaky")
        async with bot_process(environment(env), cwd=tmp_path, wait_healthy=False) as running:
            await running.healthz(READY_TIMEOUT)
            await stack.slack.wait_for(
                lambda: any(m.metadata for m in stack.slack.channel_messages(stack.channel)),
                timeout=10,
            )
            assert await running.terminate(STOP_TIMEOUT) == 0
            output = running.output()
    # The run really did authenticate with these secrets, and really did log at DEBUG.
    assert stack.x.mention_requests >= 1
    assert stack.slack.calls_to("chat.postMessage")
    assert " DEBUG " in output
    assert "carebot stopped" in output
    leaked = [name for name, value in SECRETS.items() if value in output]
    assert leaked == [], f"{leaked} appear in the log"
    # Nor any other shape of Slack token (the redactor would have replaced one with [redacted]).
    assert "xoxb-" not in output
