"""Building `Settings` from the environment and `.env` so that a bad run names every bad
variable at once: `load_settings` raises one `ConfigError` listing them all (secrets never
shown), and `load_settings_leniently` falls back to the defaults for `carebot check`. The fields
and their checks are `bot.settings` and `bot.setting_values`."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic_settings import SettingsError

from bot.errors import ConfigError
from bot.setting_values import validation_problem
from bot.settings import Settings


def _env_name(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return name.upper()


_ALIASES = {name: _env_name(name) for name in Settings.model_fields}


# Secrets whose value an error message must never show.
_SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if field.annotation == SecretStr | None
)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment and `.env`; raise one ConfigError naming every bad
    value (so one run shows all there is to fix)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems: list[tuple[str, str]] = []
        for error in exc.errors():
            problem = validation_problem(error, aliases=_ALIASES, secrets=_SECRET_FIELDS)
            if problem not in problems:
                problems.append(problem)
        raise ConfigError.of(problems) from None
    except SettingsError as exc:
        # Raised before validation when a value cannot be decoded at all; it names the field.
        field = str(exc).split('"')[1] if '"' in str(exc) else "configuration"
        raise ConfigError(_ALIASES.get(field, field.upper()), "cannot be read") from None


def load_settings_leniently() -> tuple[Settings, list[tuple[str, str]]]:
    """Return Settings with every bad value replaced by its default, and the problems found.

    For `carebot check`, which reports everything wrong in one run: one malformed variable must
    not hide what is wrong with Slack, the database or a network.
    """
    try:
        return load_settings(), []
    except ConfigError as exc:
        problems = exc.problems
    fields = {alias: name for name, alias in _ALIASES.items()}
    defaults: dict[str, Any] = {}
    for variable, _ in problems:
        name = fields.get(variable)
        if name is not None:
            defaults[name] = Settings.model_fields[name].get_default(call_default_factory=True)
    try:
        return Settings(**defaults), problems
    except (ValidationError, SettingsError):
        return Settings(_env_file=None), problems
