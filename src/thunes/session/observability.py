"""A session's Prometheus endpoint, wired: the metric set on the engine's bus, its gauges refreshed
after every bar and every second, and ``/ready`` true only while the session really trades.

Split from :mod:`thunes.session.paper`, which only enters it, attaches it and hands it the stream. With
no port the whole thing is inert: no server, no timer, the session's callback untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, Self, TypeVar

import structlog

from thunes.adapters.metrics import DEFAULT_HOST, MetricsServer, StreamCounters, TradingMetrics
from thunes.adapters.metrics.prometheus import Subscriber
from thunes.control.status import PaperStatus
from thunes.engine.portfolio import Portfolio
from thunes.engine.trader import Trader

__all__ = ["SessionTelemetry"]

_log = structlog.get_logger(__name__)


class _Stream(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def stats(self) -> StreamCounters: ...


S = TypeVar("S", bound=_Stream)


class SessionTelemetry:
    """Metrics of one session, served on ``host:port`` (0: any free port; ``None``: no metrics).

    Use as a context manager inside the session's event loop; :attr:`on_bar` wraps the session's
    callback so the gauges are current whenever the callback sees a new status.
    """

    def __init__(
        self,
        host: str,
        port: int | None,
        status: PaperStatus,
        on_bar: Callable[[PaperStatus], None],
        *,
        refresh_every_s: float = 1.0,
    ) -> None:
        self._host, self._port, self._status, self._on_bar = host or DEFAULT_HOST, port, status, on_bar
        self._every_s = refresh_every_s
        self.metrics: TradingMetrics | None = None if port is None else TradingMetrics()
        self._server: MetricsServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._portfolio: Portfolio | None = None
        self._streams: dict[str, StreamCounters] = {}

    def __enter__(self) -> Self:
        if self.metrics is None:
            return self
        self._server = MetricsServer(self.metrics.registry, self.ready, host=self._host, port=self._port or 0)
        self._server.start()
        self._status.metrics_url = self._server.url
        _log.info("metrics_serving", url=self._server.url)
        self._schedule(asyncio.get_running_loop())
        return self

    def __exit__(self, *_: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.stop()

    def attach(self, bus: Subscriber, traders: Trader | Portfolio) -> None:
        """Count what the engine of ``traders`` (the account's) publishes on ``bus``, and read its risk state."""
        self._portfolio = traders if isinstance(traders, Portfolio) else Portfolio([traders])
        if self.metrics is not None:
            self.metrics.attach(bus)

    def trading(self, stream: S) -> S:
        """The session trades from ``stream`` now: watch it (``/ready`` follows its connection)."""
        self._streams[stream.name] = stream.stats
        self.refresh()
        return stream

    def on_bar(self, status: PaperStatus) -> None:
        """The session's bar callback, with the gauges refreshed first."""
        self.refresh()
        self._on_bar(status)

    def ready(self) -> bool:
        """Reconciled at start and every watched stream connected (false again once it closes)."""
        streams = list(self._streams.values())
        return bool(streams) and self._status.reconciliations > 0 and all(s.connected for s in streams)

    def refresh(self) -> None:
        """Set the gauges now; a failure is logged, never raised into trading."""
        portfolio = self._portfolio
        if self.metrics is None or portfolio is None:
            return
        account = self._status.account  # the session's latest valuation (cash, each symbol at its last close)
        try:
            self.metrics.refresh(
                portfolio.risk,
                venues=sorted({t.config.venue for t in portfolio}),
                streams=self._streams,
                valuation=None if account is None else account.valuation,
                reconciliation_mismatches=self._status.last_mismatches,
            )
        except Exception:
            _log.exception("metrics_refresh_failed")

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        def tick() -> None:
            self.refresh()
            self._schedule(loop)

        self._timer = loop.call_later(self._every_s, tick)
