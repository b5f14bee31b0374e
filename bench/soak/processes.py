"""The soak's processes: `Replica`, one real `carebot run --http` restartable on its port, and
`Proxy`, the round-robin load balancer in front of the replicas that Slack's requests go through.

The proxy behaves like a load balancer: a replica that refuses the connection is skipped
(nothing was sent), one that dies mid-request costs that request a 502, which Slack answers by
retrying (`X-Slack-Retry-Num`), and so does the simulated Slack here.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.sandbox.stack import SOURCE_ROOT, free_port


@dataclass(slots=True)
class Replica:
    """One `carebot run --http` process, restartable on the same port."""

    slot: int
    port: int
    env: dict[str, str]
    log: Path
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    kills: int = 0
    rss: list[list[tuple[float, float]]] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        """Start the process and wait until /healthz answers."""
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--http",
                "--port",
                str(self.port),
                cwd=SOURCE_ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )
        self.started_at = time.monotonic()
        self.rss.append([])
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"replica {self.slot} exited: see {self.log}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"replica {self.slot} did not become healthy: see {self.log}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an impatient orchestrator would."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            self.kills += 1

    async def stop(self) -> None:
        """SIGTERM and wait (then SIGKILL)."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def sample_rss(self) -> None:
        """Record this process's resident set now (Linux /proc)."""
        if not self.alive or self.proc is None:
            return
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.rss[-1].append((time.monotonic(), int(line.split()[1]) / 1024))
        except OSError:
            pass


class Proxy:
    """A round-robin load balancer in front of the replicas, on loopback."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self._next = 0
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = free_port()
        self.cut = 0

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/slack/events", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower().startswith("x-slack") or k.lower() == "content-type"
        }
        for _ in range(len(self.replicas)):
            replica = self.replicas[self._next % len(self.replicas)]
            self._next += 1
            url = f"http://127.0.0.1:{replica.port}/slack/events"
            try:
                async with self._http.post(url, data=body, headers=headers) as answer:
                    payload = await answer.read()
                    return web.Response(
                        status=answer.status,
                        body=payload,
                        content_type=answer.content_type,
                    )
            except aiohttp.ClientConnectorError:
                continue  # nothing reached that replica: the next one may take it
            except (aiohttp.ClientError, TimeoutError):
                self.cut += 1  # sent, then the replica died: Slack sees an error and retries
                return web.Response(status=502, text="upstream died")
        return web.Response(status=503, text="no replica is up")
