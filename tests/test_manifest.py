"""`manifest.yml` is a valid Slack app manifest that matches the IDs the code uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.blocks.ids import Command

ROOT = Path(__file__).resolve().parents[1]
# Vendored (MIT, see the folder's LICENSE and SOURCES.md) so the check never depends on the network.
SCHEMA = Path(__file__).parent / "data" / "slack-manifest-schema" / "manifest.schema.1.0.0.json"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_manifest_validates_against_slacks_schema(manifest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator_class(schema).validate(manifest)


def test_slash_command_matches_the_code(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == Command.CARE
    assert command["usage_hint"] == "help | digest [today|24h|7d|30d] | queue | mine"
    assert command["description"]


def test_scopes_are_exactly_what_the_bot_uses(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    assert {"chat:write", "commands"} <= set(scopes)
    assert set(scopes) <= {
        "chat:write",
        "commands",
        "users:read",
        "usergroups:read",
        "channels:history",
        "groups:history",
        "channels:read",
        "groups:read",
        # The digest's charts, shared with a digest (files_upload_v2).
        "files:write",
        "files:read",
    }
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_every_scope_is_justified_by_a_comment() -> None:
    lines = (ROOT / "manifest.yml").read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- ") and ":" in line and "command:" not in line:
            assert lines[index - 1].strip().startswith("#"), f"no comment above {line.strip()}"


def test_settings_and_features(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    features = manifest["features"]
    assert features["bot_user"]["always_online"] is True
    assert features["app_home"] == {"home_tab_enabled": True, "messages_tab_enabled": False}
    assert manifest["display_information"]["name"] == "Carebot"
    assert manifest["display_information"]["description"]
