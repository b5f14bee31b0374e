"""The real bot as a separate process (`python -m bot run …`), as it runs in production: the one
helper every test (and `bench/memory.py`) that starts a bot process uses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientConnectionError, ClientError, ClientSession

from bot.sandbox.stack import SOURCE_ROOT, BotProcessFailed, free_port


@dataclass(slots=True)
class BotProcess:
    """The real bot as a separate process (`python -m bot run …`), as it runs in production."""

    proc: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def events_url(self) -> str:
        """Return the URL Slack would POST events, actions and commands to."""
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def health_url(self) -> str:
        """Return the bot's /healthz URL."""
        return f"http://127.0.0.1:{self.port}/healthz"

    def output(self) -> str:
        """Return what the process has written so far."""
        return self.log.read_text(errors="replace")

    async def healthz(self, seconds: float = 15.0) -> tuple[int, dict[str, Any]]:
        """Wait until /healthz answers 200 (or the bot dies) and return status and JSON body."""
        deadline = time.monotonic() + seconds
        async with ClientSession() as http:
            while True:
                if self.proc.returncode is not None:
                    raise BotProcessFailed(f"bot exited {self.proc.returncode}:\n{self.output()}")
                with contextlib.suppress(ClientConnectionError):
                    async with http.get(self.health_url) as response:
                        if response.status == 200:
                            return response.status, await response.json()
                if time.monotonic() > deadline:
                    raise BotProcessFailed(f"/healthz never answered 200:\n{self.output()}")
                await asyncio.sleep(0.1)

    async def terminate(self, seconds: float = 8.0) -> int:
        """Send SIGTERM and return the exit code; fail if it does not exit within `seconds`."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), seconds)
        except TimeoutError:
            raise BotProcessFailed(
                f"bot ignored SIGTERM for {seconds}s:\n{self.output()}"
            ) from None


@asynccontextmanager
async def bot_process(
    env: Mapping[str, str],
    *,
    cwd: Path,
    log: Path | None = None,
    ready_seconds: float = 15.0,
    socket_mode: bool = False,
    wait_healthy: bool = True,
) -> AsyncIterator[BotProcess]:
    """Run the bot with exactly `env` (plus PATH), wait for /healthz, and stop it on exit.

    HTTP mode by default (`run --http --port P`); with `socket_mode`, `run --health-port P`, which
    connects with SLACK_APP_TOKEN and serves only /healthz on P. Its output goes to `log` (a file,
    not a pipe, so a chatty DEBUG log cannot stall it). On exit it gets SIGTERM and 15 s to stop,
    then SIGKILL; a test may also stop it first. `wait_healthy=False` starts it and returns at
    once (a bot that is expected never to become healthy). Without `log`, output goes to
    `bot-PORT.log` in `cwd`.
    """
    port = free_port()
    log = log if log is not None else cwd / f"bot-{port}.log"
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": SOURCE_ROOT, **env}
    mode = ["--health-port", str(port)] if socket_mode else ["--http", "--port", str(port)]
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            *mode,
            cwd=cwd,
            env=full_env,
            stdout=out,
            stderr=out,
        )
    running = BotProcess(proc=proc, port=port, log=log)
    try:
        if wait_healthy:
            await _wait_healthy(running, ready_seconds)
        yield running
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_healthy(bot: BotProcess, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with ClientSession() as http:
        while time.monotonic() < deadline:
            if bot.proc.returncode is not None:
                raise BotProcessFailed(f"bot exited with {bot.proc.returncode}:\n{bot.output()}")
            try:
                async with http.get(f"http://127.0.0.1:{bot.port}/healthz") as response:
                    if response.status == 200:
                        return
            except ClientError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
    raise BotProcessFailed(f"bot did not become healthy in {seconds:.0f}s:\n{bot.output()}")
