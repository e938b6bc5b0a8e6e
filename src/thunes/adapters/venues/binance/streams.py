"""WebSocket market data and order updates through ccxt.pro, with reconnection and gap backfill.

Each subscription owns its ccxt.pro connection: replacing one (error, staleness, planned renewal)
never disturbs another. ccxt.pro keeps the socket, subscribes and answers pings; a background
"pump" keeps its watch call alive so a closed socket surfaces as an error here, while the raw
events reach this module through :class:`~.feed.Feed` (see there for why). After every reconnect
the gap is filled over REST before live events resume: klines from the last closed candle seen,
orders by reading back open and recent orders, so no closed candle and no order update is lost,
and nothing already yielded is yielded again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

import structlog

from thunes.adapters.venues.binance import convert
from thunes.adapters.venues.binance.client import BinanceClient
from thunes.adapters.venues.binance.errors import map_error
from thunes.adapters.venues.binance.feed import (
    Feed,
    RotateConnectionError,
    StaleStreamError,
    StreamSettings,
    StreamStats,
    backoff_delay,
)
from thunes.domain.enums import OrderStatus
from thunes.domain.identifiers import Symbol
from thunes.domain.market import Bar, QuoteTick, Timeframe, TradeTick
from thunes.domain.venue import OrderReport, RetryableVenueError

__all__ = ["BinanceStreams", "StreamSettings", "StreamStats", "Subscription"]

T = TypeVar("T")
Event = dict[str, Any]
_log = structlog.get_logger(__name__)
_PARSE_ERRORS = (KeyError, ValueError, TypeError, ArithmeticError)


class Subscription(Generic[T]):
    """An endless async iterator of domain items with its :class:`StreamStats`; close it when done."""

    def __init__(self, name: str, generator: AsyncGenerator[T, None], stats: StreamStats) -> None:
        self.name = name
        self.stats = stats
        self._generator = generator

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        return await self._generator.__anext__()

    async def aclose(self) -> None:
        """Stop: closes the connection and its pump."""
        await self._generator.aclose()

    async def __aenter__(self) -> Subscription[T]:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


@dataclass
class _Connection:
    exchange: Any
    feed: Feed
    pump: asyncio.Future[None]

    async def close(self) -> None:
        self.pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.pump
        with contextlib.suppress(Exception):  # a half-dead socket may fail to close; it is dropped anyway
            await self.exchange.close()


@dataclass
class _Spec(Generic[T]):
    """What one subscription wants: its events, the ccxt watch that subscribes, and its session."""

    name: str
    accept: Callable[[Event], bool]
    watch: Callable[[Any], Awaitable[Any]]
    droppable: bool
    session: Callable[[_Connection, Callable[[], None]], AsyncIterator[T]]
    prepare: Callable[[Any], Awaitable[Any]] | None = None  # awaited before the pump starts
    stats: StreamStats = field(default_factory=StreamStats)


def _status_rank(report: OrderReport) -> tuple[int, Decimal]:
    stage = 2 if report.status.is_terminal else 1 if report.status is OrderStatus.PARTIALLY_FILLED else 0
    return stage, report.filled_quantity


def _is_newer(new: OrderReport, old: OrderReport | None) -> bool:
    """Order states only move forward (status, then filled quantity; an amend lowers the quantity)."""
    if old is None:
        return True
    a, b = _status_rank(new), _status_rank(old)
    if a != b:
        return a > b
    return Decimal(0) < new.quantity < old.quantity


class _KlineCursor:
    """The last closed candle yielded, and the REST fill of whatever came after it unseen."""

    def __init__(
        self, client: BinanceClient, symbol: Symbol, timeframe: Timeframe, since_ms: int | None, stats: StreamStats
    ) -> None:
        self._client, self._symbol, self._timeframe, self._stats = client, symbol, timeframe, stats
        self._tf_ms = timeframe.nanoseconds // convert.NS_PER_MS
        self._last_ms = None if since_ms is None else since_ms - self._tf_ms  # open time of the last yielded

    async def _fill(self, end_ms: int | None, now_ms: int) -> list[Bar]:
        assert self._last_ms is not None
        bars = await self._client.klines(self._symbol, self._timeframe, self._last_ms + self._tf_ms, end_ms,
                                         now_ms=now_ms)  # fmt: skip
        self._stats.backfilled += len(bars)
        if bars:
            self._last_ms = bars[-1].open_time_ns // convert.NS_PER_MS
        return bars

    async def resume(self, now_ms: int) -> list[Bar]:
        """After (re)connecting: every candle closed before ``now_ms`` (the venue's event time) not yet seen."""
        return [] if self._last_ms is None else await self._fill(None, now_ms)

    async def take(self, bar: Bar) -> list[Bar]:
        """A closed candle from the stream: nothing if already yielded, the missed ones first if it skips."""
        open_ms = bar.open_time_ns // convert.NS_PER_MS
        if self._last_ms is not None and open_ms <= self._last_ms:
            self._stats.duplicates += 1
            return []
        missed = (
            await self._fill(open_ms - 1, open_ms)
            if self._last_ms is not None and open_ms > self._last_ms + self._tf_ms
            else []
        )
        self._last_ms = open_ms
        return [*missed, bar]


class BinanceStreams:
    """Factory of subscriptions over one :class:`BinanceClient` (its config, keys and REST backfill)."""

    def __init__(self, client: BinanceClient, settings: StreamSettings | None = None) -> None:
        self._client = client
        self.settings = settings or StreamSettings()

    # --- public subscriptions ------------------------------------------------------------------
    def watch_klines(self, symbol: Symbol, timeframe: Timeframe, *, since_ms: int | None = None) -> Subscription[Bar]:
        """Closed candles in order, each once; with ``since_ms`` the history from there comes first."""

        def accept(e: Event) -> bool:
            return e.get("e") == "kline" and e.get("s") == symbol and (e.get("k") or {}).get("i") == timeframe.value

        async def session(conn: _Connection, healthy: Callable[[], None]) -> AsyncIterator[Bar]:
            stale = self.settings.stale_after_s
            event = (await conn.feed.get(stale))[1]  # the subscription is live: now the gap is bounded
            healthy()
            for bar in await cursor.resume(int(event["E"])):
                yield bar
            while True:
                closed = self._closed_bar(event, spec.stats)
                if closed is not None:
                    for bar in await cursor.take(closed):
                        yield bar
                event = (await conn.feed.get(stale))[1]

        spec: _Spec[Bar] = _Spec(
            f"klines:{symbol}:{timeframe.value}",
            accept,
            lambda ex: ex.watch_ohlcv(self._client.ccxt_symbol(symbol), timeframe.value),
            True,
            session,
        )
        cursor = _KlineCursor(self._client, symbol, timeframe, since_ms, spec.stats)
        return self._subscribe(spec)

    def watch_trades(self, symbol: Symbol) -> Subscription[TradeTick]:
        """Public trades as they print (no backfill: a missed trade is history, not state)."""

        def parse(event: Event, _: int) -> TradeTick:
            return convert.trade_from_stream(event)

        return self._market(
            f"trades:{symbol}",
            lambda e: e.get("e") in ("trade", "aggTrade") and e.get("s") == symbol,
            lambda ex: ex.watch_trades(self._client.ccxt_symbol(symbol)),
            parse,
        )

    def watch_book_ticker(self, symbol: Symbol) -> Subscription[QuoteTick]:
        """Best bid and offer updates (``<symbol>@bookTicker``), stamped with their receipt time."""
        return self._market(
            f"quotes:{symbol}",
            lambda e: "e" not in e and e.get("s") == symbol and "u" in e and "b" in e and "a" in e,
            lambda ex: ex.watch_bids_asks([self._client.ccxt_symbol(symbol)]),
            convert.quote_from_book_ticker,
        )

    def watch_orders(self, symbols: Iterable[Symbol] = ()) -> Subscription[OrderReport]:
        """Every change of our orders, in order, each state once, never dropped.

        After a reconnect, open orders (all symbols) and the recent orders of ``symbols`` and of
        every symbol seen so far are read back; states newer than the last one yielded come first.
        The first connection only records that snapshot (it is the caller's starting point).
        """
        interest = set(symbols)
        known: dict[tuple[str, str], OrderReport] = {}
        baselined = [False]

        def newer(report: OrderReport) -> bool:
            key = (report.symbol, report.client_order_id)
            if not _is_newer(report, known.get(key)):
                return False
            known[key] = report
            interest.add(report.symbol)
            return True

        async def session(conn: _Connection, healthy: Callable[[], None]) -> AsyncIterator[OrderReport]:
            stats = spec.stats
            snapshot = await self._order_snapshot(interest, known)
            healthy()  # subscribed and caught up: ``stats.connected`` tells callers updates now flow
            for report in snapshot:
                if newer(report) and baselined[0]:
                    stats.backfilled += 1
                    yield report
            baselined[0] = True
            while True:
                _, event = await conn.feed.get(self.settings.order_stale_after_s)
                try:
                    report = convert.order_from_execution_report(event)
                except _PARSE_ERRORS as e:
                    self._malformed(spec.name, event, e, stats)
                    continue
                if newer(report):
                    yield report
                else:
                    stats.duplicates += 1

        spec: _Spec[OrderReport] = _Spec(
            "orders",
            lambda e: e.get("e") == "executionReport",
            lambda ex: ex.watch_orders(),
            False,
            session,
            prepare=lambda ex: ex.authenticate(),  # the user-data subscription is confirmed before the snapshot
        )
        return self._subscribe(spec)

    # --- helpers -------------------------------------------------------------------------------
    async def _order_snapshot(
        self, interest: set[Symbol], known: dict[tuple[str, str], OrderReport]
    ) -> list[OrderReport]:
        found: dict[tuple[str, str], OrderReport] = {}

        def add(report: OrderReport) -> None:
            key = (report.symbol, report.client_order_id)
            if _is_newer(report, found.get(key)):
                found[key] = report

        for report in await self._client.open_orders():
            add(report)
        for symbol in sorted(interest):
            for report in await self._client.recent_orders(symbol, self.settings.recent_orders):
                add(report)
        for key, report in list(known.items()):  # still open when last seen, now out of view
            if not report.status.is_terminal and key not in found:
                looked_up = await self._client.lookup(report.symbol, report.client_order_id)
                if looked_up is not None:
                    add(looked_up)
        return sorted(found.values(), key=lambda r: r.ts_ns)

    def _closed_bar(self, event: Event, stats: StreamStats) -> Bar | None:
        try:
            return convert.bar_from_stream(event) if event["k"]["x"] else None
        except _PARSE_ERRORS as e:
            self._malformed("klines", event, e, stats)
            return None

    @staticmethod
    def _malformed(name: str, event: Event, error: Exception, stats: StreamStats) -> None:
        stats.malformed += 1
        _log.warning("stream_message_malformed", stream=name, error_type=type(error).__name__,
                     keys=sorted(event)[:20])  # fmt: skip

    def _market(
        self,
        name: str,
        accept: Callable[[Event], bool],
        watch: Callable[[Any], Awaitable[Any]],
        parse: Callable[[Event, int], T],
    ) -> Subscription[T]:
        async def session(conn: _Connection, healthy: Callable[[], None]) -> AsyncIterator[T]:
            while True:
                received_ns, event = await conn.feed.get(self.settings.stale_after_s)
                healthy()
                try:
                    item = parse(event, received_ns)
                except _PARSE_ERRORS as e:
                    self._malformed(name, event, e, spec.stats)
                    continue
                yield item

        spec: _Spec[T] = _Spec(name, accept, watch, True, session)
        return self._subscribe(spec)

    def _subscribe(self, spec: _Spec[T]) -> Subscription[T]:
        return Subscription(spec.name, self._run(spec), spec.stats)

    async def _open(self, spec: _Spec[T]) -> _Connection:
        exchange = await self._client.open_stream_exchange()
        size = self.settings.market_queue_size if spec.droppable else self.settings.order_queue_size
        feed = Feed(size, droppable=spec.droppable, stats=spec.stats, settings=self.settings)

        def sink(event: Event) -> None:
            if spec.accept(event):
                feed.put(event)

        exchange.thunes_sink = sink
        if spec.prepare is not None:
            try:
                await spec.prepare(exchange)
            except Exception as e:  # the boundary, as in the pump
                with contextlib.suppress(Exception):
                    await exchange.close()
                raise map_error(e) from e
        return _Connection(exchange, feed, asyncio.ensure_future(self._pump(exchange, spec, feed)))

    @staticmethod
    async def _pump(exchange: Any, spec: _Spec[T], feed: Feed) -> None:
        """Keep ccxt's watch awaited: it (re)subscribes, and its failure is the connection's failure."""
        try:
            while True:
                await spec.watch(exchange)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the boundary: whatever ccxt raised, the consumer gets a venue error
            feed.fail(map_error(e))

    async def _run(self, spec: _Spec[T]) -> AsyncGenerator[T, None]:
        """Connect, run the session, and on any retryable failure reconnect with backoff, forever.

        Fatal and rejected errors (bad key, unknown symbol) propagate: retrying cannot fix them.
        """
        attempt = [0]
        stats = spec.stats

        def healthy() -> None:
            attempt[0] = 0
            stats.connected = True

        while True:
            conn: _Connection | None = None
            delay, reason = 0.0, "planned renewal"
            try:
                conn = await self._open(spec)
                async for item in spec.session(conn, healthy):
                    yield item
            except RotateConnectionError:
                stats.rotations += 1
            except RetryableVenueError as e:
                stats.stale += isinstance(e, StaleStreamError)
                reason = stats.last_error = f"{type(e).__name__}: {e}"
                delay = backoff_delay(attempt[0], self.settings)
                attempt[0] += 1
            finally:
                stats.connected = False
                if conn is not None:
                    await conn.close()
            stats.reconnects += 1
            _log.info("stream_reconnect", stream=spec.name, delay_s=round(delay, 3), attempt=attempt[0], reason=reason)
            await asyncio.sleep(delay)
