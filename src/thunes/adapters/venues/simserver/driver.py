"""The replay driver: feeds recorded or synthetic market events into the venue and its streams.

Pacing: with ``speed`` the replay's clock runs ``speed`` times faster than the wall clock (1 = real
time); ``None`` replays as fast as the event loop allows while still letting clients be served. A paced
replay that fell behind (the process was not scheduled for a while) catches up in the same way: it
yields every ``YIELD_EVERY`` events, or the stream writers would not run until it caught up and a
client's queue would overflow and drop market messages (a depth client then sees a gap).
A ``gate`` makes the replay lockstep: after each closed candle it waits until the gate opens (the
trader has acted on that candle), so a paper session sees exactly the market a backtest sees, and
the two can be compared order by order (``thunes parity``).

Depth comes from one of two sources per symbol. Bar replays have none: each quote is written into the
published book as a one-level diff (update id = the quote's). Recorded replays (``capture_events``) carry
depth snapshots and diffs: from a symbol's first depth event on, a ``RecordedDepth`` book is both attached
to the venue (takers walk the recorded levels and consume them) and published (REST ``/depth``, partial
depth streams), the diff streams re-publish the recorded diffs with their original ``U``/``u``, and quotes
no longer touch the book. Liquidity our own takers consume shows in REST ``/depth`` and partial depth but
in no diff (it has no update id of its own); the next recorded diff touching a level overwrites it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from decimal import Decimal

from thunes.adapters.venues.simserver import market_messages as msg
from thunes.adapters.venues.simserver.hub import StreamHub
from thunes.adapters.venues.simserver.state import ServerState
from thunes.adapters.venues.simserver.tape import PublicTrade
from thunes.simvenue.book import L2Book
from thunes.simvenue.candles import served_intervals
from thunes.simvenue.capture_replay import RecordedDepth
from thunes.simvenue.replay import (
    BarClosed,
    BarContext,
    ReplayDepthDiff,
    ReplayDepthSnapshot,
    ReplayEvent,
    ReplayQuote,
    ReplayTrade,
)

__all__ = ["ReplayDriver"]

NS_PER_MS = 1_000_000
YIELD_EVERY = 256
KLINE_PUSH_S = 0.5


def _row(price: Decimal, qty: Decimal) -> list[str]:
    return [f"{price:.8f}", f"{qty:.8f}"]


class ReplayDriver:
    """Applies replay events in order, publishing what Binance would publish for each."""

    def __init__(
        self,
        state: ServerState,
        hub: StreamHub,
        events: Iterable[ReplayEvent],
        *,
        speed: float | None = None,
        wall_ns: Callable[[], int] = time.monotonic_ns,
        gate: Callable[[BarClosed], Awaitable[None]] | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        self.state = state
        self.hub = hub
        self._events: Iterator[ReplayEvent] = iter(events)
        self._speed = speed
        self._wall_ns = wall_ns
        self._gate = gate  # lockstep: after each closed candle, wait until the trader has acted on it
        self.published = 0
        self.finished = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._first_trade: dict[str, int] = {}
        self._last_close: dict[str, int] = {}  # the last closed kline's trade id, to re-push it
        self._recorded: dict[str, RecordedDepth] = {}
        self._intervals = served_intervals(state.candles.timeframe)  # the kline streams it can feed

    def book(self, symbol: str) -> L2Book:
        """The published (depth stream) book of ``symbol``, created on first use."""
        books = self.state.books
        if symbol not in books:
            books[symbol] = L2Book.for_instrument(self.state.exchange_info.get(symbol))
        return books[symbol]

    def recorded(self, symbol: str) -> RecordedDepth:
        """``symbol``'s recorded depth, created at its first depth event: attached to the venue and published."""
        depth = self._recorded.get(symbol)
        if depth is None:
            depth = self._recorded[symbol] = RecordedDepth(self.state.exchange_info.get(symbol))
            self.state.books[symbol] = depth.book  # replaces a synthetic book built from earlier quotes
            self.state.venue.attach_book(symbol, depth.book)
        return depth

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    def pause(self) -> None:
        """Apply no further event until :meth:`resume` (call it on the server's event loop).

        Effective at once: the market then stands still for REST, streams and orders alike.
        """
        self._resumed.clear()

    def resume(self) -> None:
        """Continue a paused replay; paced replays continue from where they stopped, without catching up."""
        self._resumed.set()

    async def run(self) -> None:
        """Replay every event, then set :attr:`finished`. A source that breaks mid-replay (a corrupt
        capture record past the start-up check) halts the market instead of ending the task unseen."""
        try:
            await self._replay()
        except Exception as e:  # whatever broke, the market must not look alive
            self.halt(f"the replay stopped after {self.published} events: {e}")
        self.finished.set()

    def halt(self, reason: str) -> None:
        """Halt every symbol as Binance shows a halted market: ``exchangeInfo`` status ``HALT`` and new
        orders refused (-2010 "Market is closed."); queries, cancels and streams keep serving the last
        state, so clients can still reconcile. One ``error:`` line on stderr says why."""
        self.state.halted = reason
        for row in self.state.exchange_info_payload["symbols"]:
            row["status"] = "HALT"
        os.write(2, f"error: {reason}; every symbol is halted (HALT), the venue serves its last state\n".encode())

    async def _replay(self) -> None:
        start_wall, start_ts = self._wall_ns(), None
        for count, event in enumerate(self._events):
            if self._speed is not None:
                start_ts = event.ts_ns if start_ts is None else start_ts
                due = start_wall + (event.ts_ns - start_ts) / self._speed
                delay = (due - self._wall_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
                elif count % YIELD_EVERY == 0:  # behind (a stalled process): catch up, still serving clients
                    await asyncio.sleep(0)
            elif count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if not self._resumed.is_set():
                paused_at = self._wall_ns()
                await self._resumed.wait()
                start_wall += self._wall_ns() - paused_at
            self.apply(event)
            if self._gate is not None and isinstance(event, BarClosed):
                await self._hold(event, self._gate(event))

    async def _hold(self, event: BarClosed, gate: Awaitable[None]) -> None:
        """Wait for the gate; meanwhile re-push the closed kline every ``KLINE_PUSH_S``, as Binance
        pushes a kline every 2 s even when nothing trades (a client waiting for its first stream
        event before it backfills must get one while the market stands still)."""
        waiting = asyncio.ensure_future(gate)
        while not waiting.done():
            await asyncio.wait({waiting}, timeout=KLINE_PUSH_S)
            if not waiting.done():
                self._klines(event.symbol, event.ts_ns // NS_PER_MS, self._last_close.get(event.symbol, 0),
                             candle_closed=True)  # fmt: skip
        await waiting

    def apply(self, event: ReplayEvent) -> None:
        """Apply one event now (also usable synchronously, e.g. to seed a market before serving)."""
        self.state.clock.ns = max(self.state.clock.ns, event.ts_ns)
        if isinstance(event, ReplayTrade):
            self._trade(event)
        elif isinstance(event, ReplayQuote):
            self._quote(event)
        elif isinstance(event, ReplayDepthDiff):
            self._depth_diff(event)
        elif isinstance(event, ReplayDepthSnapshot):
            depth = self.recorded(event.symbol)
            depth.on_snapshot(event)
            self._partial_depth(event.symbol, depth.book, depth.book.last_update_id or 0)
        elif isinstance(event, BarContext):
            self.state.venue.on_bar_context(event.symbol, event.volume, event.range_fraction)
        elif isinstance(event, BarClosed):
            self._bar_closed(event)
        self.published += 1

    def _trade(self, e: ReplayTrade) -> None:
        self.state.venue.on_trade(e.symbol, e.price, e.quantity)
        self.state.candles.on_trade(e.symbol, e.ts_ns, e.price, e.quantity, e.buyer_is_maker)
        self._first_trade.setdefault(e.symbol, e.trade_id)
        name, ms = e.symbol.lower(), e.ts_ns // NS_PER_MS
        self.state.tape.record(e.symbol, PublicTrade(e.trade_id, ms, e.price, e.quantity, e.buyer_is_maker))
        if self.hub.wants(f"{name}@trade"):
            self.hub.publish(
                f"{name}@trade", msg.trade(e.symbol, ms, e.trade_id, e.price, e.quantity, e.buyer_is_maker)
            )
        if self.hub.wants(f"{name}@aggTrade"):
            payload = msg.agg_trade(e.symbol, ms, e.trade_id, e.price, e.quantity, e.buyer_is_maker)
            self.hub.publish(f"{name}@aggTrade", payload)
        self._klines(e.symbol, ms, e.trade_id, candle_closed=False)
        self._tickers(e.symbol, ms, e.price, e.quantity)

    def _tickers(self, symbol: str, event_ms: int, last: Decimal, last_qty: Decimal) -> None:
        name = symbol.lower()
        wanted = [(s, s.endswith("miniTicker")) for s in (f"{name}@ticker", f"{name}@miniTicker") if self.hub.wants(s)]
        if not wanted:
            return
        candles = self.state.candles
        rows = candles.klines(symbol, candles.timeframe, event_ms - 86_400_000, None, 10**9)
        m = self.state.venue.market(symbol)
        zero = Decimal(0)
        quote = (m.bid or zero, m.bid_qty or zero, m.ask or zero, m.ask_qty or zero)
        for stream, mini in wanted:
            self.hub.publish(stream, msg.ticker_24h(symbol, event_ms, rows, last, last_qty, quote, mini=mini))

    def _klines(self, symbol: str, event_ms: int, last_trade: int, *, candle_closed: bool) -> None:
        name = symbol.lower()
        for interval in self._intervals:
            stream = f"{name}@kline_{interval}"
            if not self.hub.wants(stream):
                continue
            rows = self.state.candles.klines(symbol, interval, None, None, 1)
            if rows and (not candle_closed or rows[-1].closed):
                first = self._first_trade.get(symbol, last_trade)
                self.hub.publish(stream, msg.kline(symbol, interval, event_ms, rows[-1], first, last_trade))

    def _quote(self, e: ReplayQuote) -> None:
        venue = self.state.venue
        previous = venue.market(e.symbol)
        old_bid, old_ask = previous.bid, previous.ask
        venue.on_quote(e.symbol, e.bid, e.bid_qty, e.ask, e.ask_qty)
        name = e.symbol.lower()
        if self.hub.wants(f"{name}@bookTicker"):
            self.hub.publish(
                f"{name}@bookTicker", msg.book_ticker(e.symbol, e.update_id, e.bid, e.bid_qty, e.ask, e.ask_qty)
            )
        if e.symbol in self._recorded:
            return  # the recorded diffs carry this change, with their own update ids
        book = self.book(e.symbol)
        bids = [(e.bid, e.bid_qty)] + ([(old_bid, Decimal(0))] if old_bid is not None and old_bid != e.bid else [])
        asks = [(e.ask, e.ask_qty)] + ([(old_ask, Decimal(0))] if old_ask is not None and old_ask != e.ask else [])
        if not book.synced:
            book.apply_snapshot(e.update_id, [(e.bid, e.bid_qty)], [(e.ask, e.ask_qty)])
        else:
            book.apply_diff(e.update_id, e.update_id, bids, asks)
        streams = [s for s in (f"{name}@depth", f"{name}@depth@100ms") if self.hub.wants(s)]
        if streams:
            diff = msg.depth_update(e.symbol, e.ts_ns // NS_PER_MS, e.update_id, e.update_id,
                                    [_row(*b) for b in bids], [_row(*a) for a in asks])  # fmt: skip
            for stream in streams:
                self.hub.publish(stream, diff)
        self._partial_depth(e.symbol, book, e.update_id)

    def _depth_diff(self, e: ReplayDepthDiff) -> None:
        depth = self.recorded(e.symbol)
        depth.on_diff(e)
        name = e.symbol.lower()
        streams = [s for s in (f"{name}@depth", f"{name}@depth@100ms") if self.hub.wants(s)]
        if streams:
            bids, asks = [list(b) for b in e.bids], [list(a) for a in e.asks]  # the recorded text, unchanged
            diff = msg.depth_update(e.symbol, e.ts_ns // NS_PER_MS, e.first_update_id, e.final_update_id, bids, asks)
            for stream in streams:
                self.hub.publish(stream, diff)
        self._partial_depth(e.symbol, depth.book, depth.book.last_update_id or 0)

    def _partial_depth(self, symbol: str, book: L2Book, update_id: int) -> None:
        """``<symbol>@depth<levels>``: the top of the published book, when it is synced."""
        name = symbol.lower()
        for levels in (5, 10, 20):
            for stream in (f"{name}@depth{levels}", f"{name}@depth{levels}@100ms"):
                if self.hub.wants(stream) and book.synced:
                    top_bids, top_asks = book.depth(levels)
                    self.hub.publish(stream, msg.partial_depth(
                        update_id,
                        [_row(book.price(t), book.qty(n)) for t, n in top_bids],
                        [_row(book.price(t), book.qty(n)) for t, n in top_asks],
                    ))  # fmt: skip

    def _bar_closed(self, e: BarClosed) -> None:
        self.state.candles.on_bar_closed(e.symbol, e.bar)
        last = self._last_close[e.symbol] = self._first_trade.pop(e.symbol, 0)
        self._klines(e.symbol, e.ts_ns // NS_PER_MS, last, candle_closed=True)
