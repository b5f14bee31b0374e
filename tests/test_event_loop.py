"""`carebot` runs its commands on uvloop where it is installed (a dependency except on Windows)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.cli import run_async


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not exist on Windows")
def test_commands_run_on_uvloop() -> None:
    assert run_async(loop_module()).startswith("uvloop")


def test_without_uvloop_commands_run_on_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert run_async(loop_module()).startswith("asyncio")
