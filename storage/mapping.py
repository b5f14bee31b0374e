"""Rows to domain values: the one place an ORM row becomes the plain `bot.domain` value that
services hand back and builders render, so nothing past a service holds a session-bound row."""

from __future__ import annotations

from dataclasses import fields

from bot.domain.cases import Case, CaseStatus, Priority, ResolveReason
from storage.models import Case as CaseRow

_CASE_FIELDS = tuple(f.name for f in fields(Case))


def case_value(row: CaseRow) -> Case:
    """Return the case row as a domain value."""
    values = {name: getattr(row, name) for name in _CASE_FIELDS}
    # A row built in memory has no defaults applied yet; a new row's are the value's too.
    values = {name: value for name, value in values.items() if value is not None}
    # String columns hand back plain text; the value holds the enums.
    if "status" in values:
        values["status"] = CaseStatus(values["status"])
    if "priority" in values:
        values["priority"] = Priority(values["priority"])
    if "resolve_reason" in values:
        values["resolve_reason"] = ResolveReason.parse(values["resolve_reason"])
    return Case(**values)
