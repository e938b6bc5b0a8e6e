"""The metrics endpoint: ``/metrics`` (Prometheus text format), ``/health`` and ``/ready``.

- ``/health``: 200 while the process answers (a liveness probe: restart it when this fails);
- ``/ready``: 200 while ``ready()`` says the session trades (connected and reconciled), else 503;
- ``/metrics``: the registry, in the format the scraper's ``Accept`` header asks for.

The server runs on a thread and event loop of its own: a scrape must never wait for the trading
loop (a long bar, a burst of fills), and a scrape that arrives while the trader is mid-bar sees
values the trader had already published. prometheus_client reads every value under its own locks;
``ready`` only reads flags. It binds 127.0.0.1 unless told otherwise: metrics say what is traded.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from thunes.adapters.hosts import listening_socket

__all__ = ["DEFAULT_HOST", "MetricsEndpointError", "MetricsServer", "build_app"]

DEFAULT_HOST = "127.0.0.1"


class MetricsEndpointError(RuntimeError):
    """The endpoint could not listen: choose another port (0 = any free one) or host, then start again."""


def build_app(registry: Collector, ready: Callable[[], bool]) -> web.Application:
    """The aiohttp application serving the three routes."""

    async def metrics(request: web.Request) -> web.Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(registry), headers={"Content-Type": content_type})

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readiness(_: web.Request) -> web.Response:
        try:
            is_ready = ready()
        except Exception:  # a broken probe is "not ready", never a 500 a load balancer might misread
            is_ready = False
        return web.Response(text="ready\n" if is_ready else "not ready\n", status=200 if is_ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", readiness)
    return app


class MetricsServer:
    """Serves :func:`build_app` on ``host:port`` (``port`` 0: any free port, see :attr:`port`)."""

    def __init__(
        self, registry: Collector, ready: Callable[[], bool], *, host: str = DEFAULT_HOST, port: int = 0
    ) -> None:
        if not 0 <= port <= 65_535:
            raise ValueError(f"metrics port must be in 0..65535, got {port}")
        self.host = host
        self._registry, self._ready, self._requested_port = registry, ready, port
        self._socket: socket.socket | None = None
        self._bound_port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The port actually bound (the chosen one when started with 0)."""
        if self._bound_port is None:
            raise RuntimeError("the metrics server is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Bind (errors raise here, in the caller) and serve on a background thread."""
        if self._thread is not None:
            raise RuntimeError("the metrics server is already started")
        self._socket = listening_socket(self.host, self._requested_port, "metrics", MetricsEndpointError)
        self._bound_port = int(self._socket.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="thunes-metrics", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s) or self._error is not None:
            self.stop()
            raise MetricsEndpointError(f"the metrics server did not start: {self._error}") from self._error

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving and release the port; idempotent."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(timeout_s)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported to start(); a daemon thread has nobody else to tell
            self._error = e
            self._started.set()

    async def _main(self) -> None:
        assert self._socket is not None
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner = web.AppRunner(build_app(self._registry, self._ready), access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, self._socket).start()
            self._started.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()
