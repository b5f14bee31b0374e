"""The README's configuration table and `Settings` name the same variables with the same defaults:
a setting added to one and not the other, or a default changed in one place only, fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices

from bot.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
# Defaults the table states in words, not as a value Settings would parse.
WORDED = ("required", "—", "empty", "off", "looked up", "`CAREBOT_CHANNEL`")


def _env_names() -> dict[str, str]:
    """Return environment variable -> field name for every setting."""
    names: dict[str, str] = {}
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        assert isinstance(alias, AliasChoices), f"{field_name} has no environment alias"
        names[str(alias.choices[0])] = field_name
    return names


def _table() -> dict[str, str]:
    """Return variable -> default cell of the README's configuration table."""
    text = README.read_text()
    start = text.index("| variable | meaning | default |")
    rows: dict[str, str] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
            rows[name] = cells[-1]
    return rows


def test_the_table_lists_exactly_the_settings() -> None:
    table, settings = set(_table()), set(_env_names())
    assert table - settings == set(), "in the README but not in Settings"
    assert settings - table == set(), "in Settings but not in the README"


def _defaults() -> list[tuple[str, str]]:
    return [
        (name, cell)
        for name, cell in _table().items()
        if not any(word in cell for word in WORDED) and cell.startswith("`")
    ]


@pytest.mark.parametrize(("variable", "cell"), _defaults())
def test_each_stated_default_is_the_settings_default(
    variable: str, cell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _env_names():  # the defaults, not whatever this shell exports
        monkeypatch.delenv(name, raising=False)
    field_name = _env_names()[variable]
    stated = cell.strip("`")
    overrides: dict[str, Any] = {field_name: stated}
    parsed: Any = getattr(Settings(_env_file=None, **overrides), field_name)
    default: Any = getattr(Settings(_env_file=None), field_name)
    assert parsed == default, f"README says {variable} defaults to {stated!r}"
