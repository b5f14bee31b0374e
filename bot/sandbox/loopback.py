"""`LoopbackServer`: how every sandbox fake serves its aiohttp app on a local port.

The fakes (Slack, X, Bluesky, Mastodon) and the sandbox page differ only in their routes; the
lifecycle is one: `start()` binds (port 0 picks a free one) and returns the URL a client uses,
`stop()` releases the port, `async with` does both, and reading the URL before `start()` fails
with a message naming the class.
"""

from __future__ import annotations

from types import TracebackType
from typing import ClassVar, Self

from aiohttp import web


class LoopbackServer:
    """Serve `app()` on host:port; subclasses supply the routes and, if needed, `api_url`."""

    # How long `stop()` waits for requests in flight (a client stuck on a stalled fake must not
    # hold a test's teardown for aiohttp's default minute).
    shutdown_timeout: ClassVar[float] = 1.0

    _runner: web.AppRunner | None = None
    _origin: str | None = None

    def app(self) -> web.Application:
        """Return the aiohttp application to serve."""
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port) and return the URL clients use."""
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        self._runner = runner
        self._origin = f"http://{bound_host}:{bound_port}"
        return self.api_url

    async def stop(self) -> None:
        """Stop serving and release the port; later connections are refused."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def running(self) -> bool:
        """Tell whether the server is serving."""
        return self._runner is not None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Return `http://<host>:<port>` of the running server."""
        if self._origin is None:
            name = type(self).__name__
            raise RuntimeError(f"{name} is not started; call `await {name}.start()` first")
        return self._origin

    @property
    def api_url(self) -> str:
        """Return the base URL a client is configured with (the origin unless overridden)."""
        return self.base_url
