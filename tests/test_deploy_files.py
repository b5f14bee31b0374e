"""What a team looks for first, checked as data: `.env.example` lists exactly what Settings reads
(and its values are the defaults), the Dockerfile and compose file hang together (bot +
PostgreSQL, migrations before the bot, a health check on /healthz), the systemd unit, the
license. No container engine runs here, so the files are parsed, not built."""

from __future__ import annotations

import argparse
import configparser
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import bot
from bot.cli import parser
from bot.settings import Settings
from bot.settings_loading import load_settings

REPO = Path(bot.__file__).resolve().parent.parent


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            assert name not in values, f"{name} twice"
            values[name.strip()] = value
    return values


def env_names() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        assert choices, field
        names.add(str(choices[0]))
    return names


def test_env_example_lists_exactly_what_settings_reads() -> None:
    assert set(env_example()) == env_names()


def test_env_example_values_are_the_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    monkeypatch.chdir(tmp_path)
    from_example = load_settings().model_dump()
    monkeypatch.chdir(REPO / "tests")  # no .env here
    assert from_example == Settings(_env_file=None).model_dump()


def dockerfile() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def test_the_dockerfile_installs_the_package_and_checks_health() -> None:
    steps = dockerfile()
    instructions = [name for name, _ in steps]
    assert instructions[0] == "FROM"
    assert steps[0][1].startswith("python:3.1")
    for name, args in steps:
        if name == "COPY":
            for source in shlex.split(args)[:-1]:
                assert (REPO / source).exists(), source
    assert any(name == "RUN" and "pip install ." in args for name, args in steps)
    assert "USER" in instructions  # not root
    (health,) = [args for name, args in steps if name == "HEALTHCHECK"]
    assert "/healthz" in health
    assert dict(steps)["ENTRYPOINT"] == '["carebot"]'
    command = yaml.safe_load(dict(steps)["CMD"])
    assert command[0] == "run"
    assert f"http://127.0.0.1:{command[-1]}/healthz" in health
    assert dict(steps)["EXPOSE"] == command[-1]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return loaded


def test_compose_runs_the_bot_on_postgresql_after_migrations_with_a_health_check() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "bot"}
    db, migrate, bot_service = services["db"], services["migrate"], services["bot"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot_service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert bot_service["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot_service["image"] == migrate["image"]
    for service in (migrate, bot_service):
        url = service["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql://carebot:")
        assert url.endswith("@db:5432/carebot")
    assert bot_service["command"][0] == "run"
    port = bot_service["command"][-1]
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(bot_service["healthcheck"]["test"])
    assert any(str(mapping).endswith(f":{port}") for mapping in bot_service["ports"])
    assert bot_service["restart"] == "unless-stopped"
    assert "pgdata" in compose()["volumes"]


def carebot_commands() -> set[str]:
    (subcommands,) = [
        action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    return set(subcommands.choices)


def test_every_command_the_deploy_files_run_is_a_carebot_command() -> None:
    known = carebot_commands()
    services = compose()["services"]
    assert {services["migrate"]["command"][0], services["bot"]["command"][0]} <= known
    unit = systemd_unit()
    for key in ("ExecStart", "ExecStartPre"):
        argv = shlex.split(unit[key])
        assert argv[0].endswith("/carebot")
        assert argv[1] in known


def systemd_unit() -> dict[str, str]:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(REPO / "deploy" / "carebot.service")
    return dict(unit["Service"])


def test_the_systemd_unit_restarts_on_failure_but_not_on_a_configuration_error() -> None:
    service = systemd_unit()
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > 10
    assert service["EnvironmentFile"].startswith("/etc/carebot/")
    assert "migrate" in service["ExecStartPre"]


def test_the_license_is_mit_in_the_current_metadata_form() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
