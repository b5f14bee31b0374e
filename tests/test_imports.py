"""The import graph of bot/, handlers/ and storage/ has no cycle, and data flows one way: nothing
outside handlers/ imports handlers/ except the wiring in `bot.app`, which does so at module top.
The graph is read from the source with `ast` (every import, also those inside functions), so a
cycle dodged by a late import is still found; imports under `if TYPE_CHECKING:` are left out,
since they never run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "storage")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """Return the module of ours that `name` (a module or a name in one) is, if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Return every node of `tree` except what lies under `if TYPE_CHECKING:`."""
    nodes: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(module: str, path: Path, modules: dict[str, Path]) -> dict[str, ast.stmt]:
    """Return {imported module of ours: the statement importing it} for one module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, ast.stmt] = {}
    for node in _runtime_nodes(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != module:
                found.setdefault(resolved, node)
    return found


def _graph() -> tuple[dict[str, dict[str, ast.stmt]], dict[str, Path]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}, modules


def _find_cycle(graph: dict[str, dict[str, ast.stmt]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_graph_is_read_from_every_module() -> None:
    graph, modules = _graph()
    assert {"bot.app", "bot.deps", "handlers", "handlers.listener", "storage.engine"} <= set(graph)
    assert "handlers" in graph["bot.app"]
    assert "bot.deps" in graph["handlers.actions"]
    assert len(modules) > 50


def test_there_is_no_import_cycle() -> None:
    graph, _ = _graph()
    assert _find_cycle(graph) is None, " -> ".join(_find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    stmt = ast.parse("import x").body[0]
    assert _find_cycle({"a": {"b": stmt}, "b": {"c": stmt}, "c": {"a": stmt}}) == [
        "a",
        "b",
        "c",
        "a",
    ]
    assert _find_cycle({"a": {"b": stmt}, "b": {}, "c": {"a": stmt}}) is None


def test_only_the_wiring_imports_handlers_and_at_module_top() -> None:
    graph, modules = _graph()
    importers = {
        module
        for module, targets in graph.items()
        if not module.startswith("handlers") and any(t.startswith("handlers") for t in targets)
    }
    assert importers == {"bot.app"}
    tree = ast.parse(modules["bot.app"].read_text())
    top = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    assert "handlers" in top


def test_bot_app_imports_in_a_fresh_interpreter() -> None:
    # Each first import on its own: a cycle would fail whichever side is imported first.
    for first in ("bot.app", "handlers", "handlers.actions", "bot.deps", "bot.runtime"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {first}; import bot.app; bot.app.build_app"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
