"""Every bad setup a new user meets, as they meet it: the real `carebot` in a subprocess against
the sandbox Slack and X on loopback, checking the exit code and that the message names the
variable to fix (and never shows a secret or pydantic's words)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import bot
from bot.sandbox.stack import Sandbox, free_port
from storage.migrate import head_revision
from tests.conftest import POSTGRES_URL

REPO = Path(bot.__file__).resolve().parent.parent
COMMAND_TIMEOUT = 30.0
NOWHERE = "http://127.0.0.1:9"
PYDANTIC_WORDS = ("Input should", "input is too short", "Traceback", "validation error")


@dataclass(slots=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def carebot(*args: str, env: Mapping[str, str], cwd: Path) -> Result:
    """Run `python -m bot ARGS` with exactly `env` (plus PATH) and return what it did."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **env},
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


async def run_http(env: Mapping[str, str], cwd: Path) -> Result:
    """Run `carebot run --http` expecting it to refuse to start (a bot that starts is killed)."""
    return await carebot("run", "--http", "--port", str(free_port()), env=env, cwd=cwd)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'carebot.db'}"


def unwritable_sqlite(tmp_path: Path) -> str:
    # Tests run as root, where file modes do not stop a write; a folder that is a file does.
    (tmp_path / "not-a-folder").write_text("")
    return f"sqlite+aiosqlite:///{tmp_path / 'not-a-folder' / 'carebot.db'}"


def assert_names(result: Result, code: int, *variables: str) -> None:
    assert result.code == code, result.output
    for variable in variables:
        assert variable in result.stderr, result.output
    for words in PYDANTIC_WORDS:
        assert words not in result.output, result.output
    assert "carebot is ready" not in result.output


async def test_version(tmp_path: Path) -> None:
    result = await carebot("--version", env={}, cwd=tmp_path)
    assert (result.code, result.stdout.strip()) == (0, f"carebot {bot.__version__}")


async def test_an_empty_environment_names_every_required_variable_in_one_run(
    tmp_path: Path,
) -> None:
    result = await carebot("run", env={}, cwd=tmp_path)
    assert_names(
        result, 2, "SLACK_BOT_TOKEN", "CAREBOT_CHANNEL", "SLACK_APP_TOKEN", "X_BEARER_TOKEN"
    )
    assert len(result.stderr.strip().splitlines()) == 4
    assert not (tmp_path / "carebot.db").exists()


@pytest.mark.parametrize(
    ("changes", "variables"),
    [
        ({"CAREBOT_CHANNEL": ""}, ["CAREBOT_CHANNEL"]),
        ({"CAREBOT_SLACK_API_URL": "notaurl"}, ["CAREBOT_SLACK_API_URL"]),
        ({"CAREBOT_HOLIDAYS": "xmas"}, ["CAREBOT_HOLIDAYS"]),
        ({"CAREBOT_URGENT_FOLLOWERS": "-5"}, ["CAREBOT_URGENT_FOLLOWERS"]),
        (
            {
                "X_API_KEY": "",
                "X_API_SECRET": "",
                "X_ACCESS_TOKEN": "",
                "X_ACCESS_TOKEN_SECRET": "",
            },
            ["X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"],
        ),
        ({"X_BEARER_TOKEN": ""}, ["X_BEARER_TOKEN"]),
        ({"DATABASE_URL": "mysql://care:hunter2@db/care"}, ["DATABASE_URL"]),
        ({"DATABASE_URL": "::not a url::"}, ["DATABASE_URL"]),
        (
            {"CAREBOT_POLL_INTERVAL": "soon", "CAREBOT_TIMEZONE": "Mars/Olympus"},
            ["CAREBOT_POLL_INTERVAL", "CAREBOT_TIMEZONE"],
        ),
    ],
    ids=[
        "empty-channel",
        "slack-url-not-a-url",
        "holiday-not-a-date",
        "negative-followers",
        "bearer-only",
        "user-context-only",
        "mysql-url",
        "unparsable-url",
        "two-bad-values",
    ],
)
async def test_run_refuses_a_bad_setup_before_touching_anything(
    stack: Sandbox, tmp_path: Path, changes: dict[str, str], variables: list[str]
) -> None:
    env = stack.environment(sqlite_url(tmp_path), **changes)
    result = await run_http(env, tmp_path)
    assert_names(result, 2, *variables)
    assert "hunter2" not in result.output
    assert stack.slack.calls == []
    assert not (tmp_path / "carebot.db").exists()


@pytest.mark.parametrize("setup", ["revoked-token", "deleted-channel", "not-a-member"])
async def test_run_exits_2_when_slack_refuses_the_token_or_channel(
    stack: Sandbox, tmp_path: Path, setup: str
) -> None:
    if setup == "revoked-token":
        stack.slack.revoke_token()
    elif setup == "deleted-channel":
        stack.slack.delete_channel(stack.channel)
    else:
        stack.slack.add_channel(stack.channel, name="social-care", members=["U0SOMEONE"])
    result = await run_http(stack.environment(sqlite_url(tmp_path)), tmp_path)
    variable = "SLACK_BOT_TOKEN" if setup == "revoked-token" else "CAREBOT_CHANNEL"
    assert_names(result, 2, variable)
    assert stack.slack.bot_token not in result.output
    if setup == "not-a-member":
        assert "/invite" in result.stderr
    assert stack.slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("command", ["run", "migrate", "check"])
@pytest.mark.parametrize("database", ["postgres-not-running", "unwritable-sqlite"])
async def test_an_unusable_database_is_exit_2_in_plain_words(
    stack: Sandbox, tmp_path: Path, command: str, database: str
) -> None:
    if database == "postgres-not-running":
        url = f"postgres://carebot:pw-4711@127.0.0.1:{free_port()}/carebot"
        words = "nothing accepts connections"
    else:
        url = unwritable_sqlite(tmp_path)
        words = "does not exist or Carebot may not write there"
    args = ["run", "--http", "--port", str(free_port())] if command == "run" else [command]
    if command == "check":
        args.append("--http")
    result = await carebot(*args, env=stack.environment(url), cwd=tmp_path)
    assert_names(result, 2, "DATABASE_URL")
    assert words in result.stderr
    assert "pw-4711" not in result.output
    assert "NoSuchModuleError" not in result.output


@pytest.mark.skipif(POSTGRES_URL is None, reason="CAREBOT_TEST_POSTGRES_URL is not set")
async def test_migrate_understands_the_postgres_url_hosting_hands_out(tmp_path: Path) -> None:
    assert POSTGRES_URL is not None
    url = POSTGRES_URL.replace("postgresql+asyncpg://", "postgres://", 1)
    result = await carebot("migrate", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert result.code == 0, result.output
    assert result.stdout.strip() == f"database is at revision {head_revision()}"


async def test_check_reports_every_problem_in_one_run(stack: Sandbox, tmp_path: Path) -> None:
    stack.slack.add_channel(stack.channel, name="social-care", members=["U0SOMEONE"])
    stack.slack.delete_channel("C0DIGESTS")
    env = stack.environment(
        unwritable_sqlite(tmp_path),
        CAREBOT_DIGEST_CHANNEL="C0DIGESTS",
        CAREBOT_HOLIDAYS="xmas",
    )
    del env["SLACK_APP_TOKEN"]  # the sandbox hands one out; this setup forgot it
    result = await carebot("check", env=env, cwd=tmp_path)  # Socket Mode: no SLACK_APP_TOKEN
    assert result.code == 2, result.output
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    expected = {
        "CAREBOT_HOLIDAYS": "'xmas' is not a date",
        "SLACK_APP_TOKEN": "is required for Socket Mode",
        "DATABASE_URL": "does not exist or Carebot may not write there",
        "CAREBOT_CHANNEL": "not a member of #social-care",
        "CAREBOT_DIGEST_CHANNEL": "C0DIGESTS: no channel with this ID exists",
    }
    for variable, words in expected.items():
        assert any(variable in line and words in line for line in failures), (variable, failures)
    assert len(failures) == len(expected), failures
    assert result.stdout.splitlines()[-1] == f"{len(expected)} check(s) failed"
    assert any(
        line.startswith("ok    X: authenticated as @acmehelp")
        for line in result.stdout.splitlines()
    )


async def test_check_names_a_half_configured_x(stack: Sandbox, tmp_path: Path) -> None:
    env = stack.environment(sqlite_url(tmp_path), X_ACCESS_TOKEN="", X_ACCESS_TOKEN_SECRET="")
    result = await carebot("check", "--http", env=env, cwd=tmp_path)
    assert_names(result, 2, "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
    assert "X_API_KEY" not in result.stderr.replace("(X_API_KEY,", "")
    assert any(line.startswith("skip  X:") for line in result.stdout.splitlines())
    assert any(line.startswith("ok    Slack: connected") for line in result.stdout.splitlines())


async def test_check_shows_the_x_keys_it_tried_masked(stack: Sandbox, tmp_path: Path) -> None:
    stack.x.revoke_credentials()
    env = stack.environment(sqlite_url(tmp_path))
    result = await carebot("check", "--http", env=env, cwd=tmp_path)
    assert result.code == 1, result.output
    x_line = next(line for line in result.stdout.splitlines() if line.startswith("FAIL  X:"))
    assert "X_API_KEY=" in x_line
    assert "X_ACCESS_TOKEN=" in x_line
    for secret in (env["X_API_KEY"], env["X_API_SECRET"], env["X_ACCESS_TOKEN"]):
        assert secret not in result.output


async def test_run_while_slack_does_not_answer_exits_1_in_plain_words(
    stack: Sandbox, tmp_path: Path
) -> None:
    env = stack.environment(sqlite_url(tmp_path), CAREBOT_SLACK_API_URL=NOWHERE)
    result = await run_http(env, tmp_path)
    assert result.code == 1, result.output
    assert f"cannot reach {NOWHERE}/" in result.stderr
    assert "Traceback" not in result.output
    assert "carebot is ready" not in result.output
