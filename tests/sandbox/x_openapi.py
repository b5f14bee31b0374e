"""Check JSON bodies against X's published OpenAPI document (vendored in tests/data/x-openapi).

OpenAPI 3.0 schemas are JSON Schema with a few extras; the one that matters for X's responses is
`discriminator`: a `Problem` in `errors` names its own schema by `type`, so each problem is also
checked against the schema its type maps to (jsonschema alone would accept any problem there).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SPEC_PATH = Path(__file__).parent.parent / "data" / "x-openapi" / "openapi.json"
_ROOT = "urn:x-openapi"


@cache
def spec() -> dict[str, Any]:
    """Return the vendored OpenAPI document."""
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(
        _ROOT, Resource.from_contents(spec(), default_specification=DRAFT7)
    )
    return registry


def _validator(ref: str) -> Draft7Validator:
    return Draft7Validator({"$ref": f"{_ROOT}{ref}"}, registry=_registry())


def response_schema_ref(
    path: str, method: str, status: int, media: str = "application/json"
) -> str:
    """Return the `$ref` of the documented response schema for an operation and status."""
    responses = spec()["paths"][path][method.lower()]["responses"]
    response = responses.get(str(status)) or responses["default"]
    ref: str = response["content"][media]["schema"]["$ref"]
    return ref


def problems(body: dict[str, Any], ref: str) -> list[str]:
    """Return every way `body` breaks the schema at `ref` (empty when it conforms)."""
    found = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in _validator(ref).iter_errors(body)
    ]
    mapping = spec()["components"]["schemas"]["Problem"]["discriminator"]["mapping"]
    for index, problem in enumerate(body.get("errors") or []):
        if isinstance(problem, dict) and "type" in problem and "title" in problem:
            target = mapping.get(problem["type"])
            if target is None:
                found.append(f"errors/{index}: unknown problem type {problem['type']!r}")
                continue
            found += [
                f"errors/{index}: {e.message}" for e in _validator(target).iter_errors(problem)
            ]
    return found


def problem_body_issues(body: dict[str, Any]) -> list[str]:
    """Return how an error body (application/problem+json) breaks X's `Problem` schemas."""
    mapping = spec()["components"]["schemas"]["Problem"]["discriminator"]["mapping"]
    target = mapping.get(body.get("type", ""))
    if target is None:
        return [f"unknown problem type {body.get('type')!r}"]
    return [e.message for e in _validator(target).iter_errors(body)]
