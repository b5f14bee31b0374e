"""Data flows one way: the builders in `bot/blocks/` and the domain import nothing from storage,
the services or the Slack client, so rendering a card never loads aiohttp or the repositories."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
BLOCKS = sorted((ROOT / "bot/blocks").glob("*.py"))
DOMAIN = sorted((ROOT / "bot/domain").glob("*.py"))

# Modules the builders and the domain may import from this project.
ALLOWED = ("bot.blocks", "bot.domain", "bot.clock", "bot.durations", "bot.errors")
# What importing every builder must not load.
FORBIDDEN = ("storage", "aiohttp", "slack_sdk.web.async_client", "sqlalchemy", "bot.digest")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_builders_and_domain_import_only_the_domain() -> None:
    assert BLOCKS
    assert DOMAIN
    wrong = {
        f"{_module(path)} imports {name}"
        for path in (*BLOCKS, *DOMAIN)
        for name in _imports(path)
        if name.split(".")[0] in {"bot", "storage", "handlers", "bench"}
        and not name.startswith(ALLOWED)
    }
    assert wrong == set()


def test_the_domain_imports_no_builder() -> None:
    wrong = {
        f"{_module(path)} imports {name}"
        for path in DOMAIN
        for name in _imports(path)
        if name.startswith(("bot.", "storage", "handlers", "slack_sdk", "sqlalchemy"))
        and not name.startswith("bot.domain")
    }
    assert wrong == set()


def test_importing_every_builder_loads_no_service_storage_or_slack_client() -> None:
    modules = [_module(path) for path in (*BLOCKS, *DOMAIN)]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    assert loaded == [], f"importing bot.blocks loaded {loaded}"
