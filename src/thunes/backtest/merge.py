"""The event backtest's loop: each symbol's bars scanned at integer speed until something must happen,
the symbols merged by close time, and what happens at one close time done in the portfolio's order.

The order at one close time ``T`` (the rule :mod:`thunes.engine.portfolio` states for every mode):

1. the symbols whose orders rest at the venue are replayed up to ``T`` (their bar's trades can fill
   them), interleaved by time as one venue replaying every symbol would;
2. the traders whose symbol has a bar closing at ``T`` act, in portfolio order, each after its own
   symbol's market has caught up to ``T`` (the venue sees a symbol's bars only when an order of
   that symbol reaches it, :class:`~thunes.simvenue.lazy_feed.LazyBarFeed`);
3. the account's equity is marked (cash and every base holding at its close), then the account's
   jobs due at ``T`` run: the daily reset at the first close of a new UTC day, once for the account.

Why it is fast: a symbol's strategy scans its bars as integer ticks until it signals or the next
account step is due (a new UTC day), so a quiet bar costs one comparison, however many symbols there
are; the merge (a heap of each symbol's next step) is touched only at those steps.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Generator, Mapping, Sequence
from decimal import Decimal
from itertools import count

import numpy as np
import numpy.typing as npt

from thunes.domain.instrument import Instrument
from thunes.engine.clock import ManualClock
from thunes.engine.equity import EquityCurve
from thunes.engine.jobs import NS_PER_DAY
from thunes.engine.trader import Trader
from thunes.features.tick_bars import TickBars
from thunes.simvenue.core import SimVenue
from thunes.simvenue.lazy_feed import LazyBarFeed, replay_together
from thunes.simvenue.models import Balance
from thunes.strategy.base import Signal, Strategy

__all__ = ["Leg", "Scan", "live_rows", "replay"]

_HOLD = Signal.HOLD
_ZERO = Decimal(0)
Scan = Callable[[Sequence[int], Sequence[int], Sequence[int], Sequence[int], int, int], tuple[int, Signal]]
Step = tuple[int, int, Signal]  # (row, open time ns, signal)
Steps = Generator[Step, int, None]


class Leg:
    """One symbol of the run: its trader, its market feed, its strategy's scan and its warm-up."""

    def __init__(self, trader: Trader, feed: LazyBarFeed, strategy: Strategy, live_from: int, *, eager: bool) -> None:
        self.trader, self.feed, self.live_from = trader, feed, live_from
        self.always_feed = self.eager = eager  # replay every bar (asked to, or orders resting)
        self.scan: Scan = strategy.scan if strategy.has_tick_face else _bar_face(strategy, feed.bars)
        self.points: npt.NDArray[np.int64] | None = None  # each row's equity point, when not row - live_from

    def point(self, row: int) -> int:
        """The equity curve's point at the close of ``row`` (a live row)."""
        return row - self.live_from if self.points is None else self.points.item(row)

    def steps(self) -> Steps:
        """The rows that need a step: those that signal, and the first opened at or after the time sent
        in (the next account step; -1: every row). The hot loop."""
        ticks, scan = self.feed.bars, self.scan
        quiet = yield -1, -1, _HOLD  # primed: the first time comes with the first send
        for first, times, opens, highs, lows, closes in ticks.chunks():
            row, end = 0, len(times)
            while row < end:  # the strategy scans bars until one signals or a step is due anyway
                due = bisect_left(times, quiet, row)  # the first bar opened at or after quiet (times increase)
                hit, signal = scan(opens, highs, lows, closes, row, min(due + 1, end))
                if signal is _HOLD:
                    if due == end:
                        break
                    hit = due  # scanned up to it, quietly: it steps all the same
                quiet = yield first + hit, times[hit], signal
                row = hit + 1


def _bar_face(strategy: Strategy, ticks: TickBars) -> Scan:
    """``scan`` for a strategy that decides from whole bars: the bar of each row in turn (rows are
    scanned once each, in order, so a counter knows the row across chunks)."""
    rows = count()

    def scan(opens: Sequence[int], highs: Sequence[int], lows: Sequence[int], closes: Sequence[int],
             start: int, stop: int) -> tuple[int, Signal]:  # fmt: skip
        for row in range(start, stop):
            signal = strategy.on_bar(ticks.bar(next(rows)))
            if signal is not _HOLD:
                return row, signal
        return stop, _HOLD

    return scan


def live_rows(bars: Sequence[TickBars], warmup_bars: int) -> list[int]:
    """Each symbol's first traded row: the account goes live when every symbol has had ``warmup_bars``
    bars (with one symbol, row ``warmup_bars``); a symbol's first live bar opens at or after that time."""
    if any(warmup_bars >= len(b) for b in bars):
        return [len(b) for b in bars]
    start = max(int(b.ohlcv.open_time_ns[warmup_bars]) for b in bars)
    return [b.first_row_at_or_after(start) for b in bars]


def equity_grid(legs: Sequence[Leg]) -> EquityCurve:
    """One point per close time from the live start (every symbol's closes merged), each asset priced
    at its last close at or before it; each leg learns the point of each of its rows (:meth:`Leg.point`)."""
    feeds = [leg.feed for leg in legs]
    span = feeds[0].bars.span_ns
    if len(legs) == 1:  # one symbol: its own columns, shared, not copied; its row r is point r - live_from
        bars, live = feeds[0].bars, legs[0].live_from
        return EquityCurve(bars.ohlcv.open_time_ns[live:] + span, bars.close[live:], bars.tick_size)
    closes_ns = [f.bars.ohlcv.open_time_ns + span for f in feeds]
    grid = np.unique(np.concatenate([c[leg.live_from :] for c, leg in zip(closes_ns, legs, strict=True)]))
    for leg, c in zip(legs, closes_ns, strict=True):
        leg.points = np.searchsorted(grid, c)  # each row's close is a point (rows before the live start: 0)
    prices = [f.bars.close[np.maximum(np.searchsorted(c, grid, side="right") - 1, 0)]
              for f, c in zip(feeds, closes_ns, strict=True)]  # fmt: skip
    return EquityCurve.of_assets(grid, prices, [f.bars.tick_size for f in feeds])


class _Account:
    """What happens once per close time for the whole account: the equity mark and the daily reset."""

    def __init__(self, legs: Sequence[Leg], venue: SimVenue, account: str, clock: ManualClock) -> None:
        self.legs, self.venue, self.account, self.clock = legs, venue, account, clock
        self.risk = legs[0].trader.risk
        self.instruments = [leg.trader.instrument for leg in legs]
        self.equity = equity_grid(legs)
        times = self.equity.times_ns
        self.live_ns = int(times[0]) if len(times) else -1
        self.next_day = (clock.now_ns() // NS_PER_DAY + 1) * NS_PER_DAY
        self.marked = -1
        if len(times):
            self._mark(0)  # the starting balances, until a fill moves them

    def _mark(self, index: int, trades: int | None = None) -> None:
        self.marked = self.venue.trade_count(self.account) if trades is None else trades
        self.equity.mark(index, *_totals(self.venue, self.account, self.instruments))

    def after(self, close_ns: int, moved: bool, leg: Leg, row: int) -> None:
        """Every trader due at ``close_ns`` has acted (``leg``'s ``row`` closed then): mark the balances
        when a fill moved them (only an order or a replayed bar can: ``moved``), then the paper session's
        DAILY_RESET job at the first close of a new UTC day."""
        if moved and close_ns >= self.live_ns >= 0:
            trades = self.venue.trade_count(self.account)
            if trades != self.marked:
                self._mark(leg.point(row), trades)
        if close_ns >= self.next_day:
            self.clock.set(max(self.clock.now_ns(), close_ns))
            self.risk.daily_reset()
            self.next_day = (close_ns // NS_PER_DAY + 1) * NS_PER_DAY

    def quiet_until(self, leg: Leg) -> int:
        """Bars of ``leg`` opened before this time need no step unless they signal: no day boundary at
        their close, none replayed every time (orders resting, or asked to), no exit pending."""
        if leg.eager or leg.trader.pending_exit is not None:  # an exit retried: every bar counts its back-off
            return -1
        return self.next_day - leg.feed.bars.span_ns


def _totals(venue: SimVenue, account: str, instruments: Sequence[Instrument]) -> tuple[Decimal, ...]:
    """The account's quote total, then each instrument's base total (free + locked; a zero total is
    ``Decimal(0)``, as ``SimVenue.balances`` leaves it out). Read from the live accounts (read only): a
    copy of every balance at every mark cost more than the rest of it."""
    balances = venue.accounts_view()[account].balances
    if len(instruments) == 1:
        return _total(balances, instruments[0].quote_asset), _total(balances, instruments[0].base_asset)
    return (_total(balances, instruments[0].quote_asset), *[_total(balances, i.base_asset) for i in instruments])


def _total(balances: Mapping[str, Balance], asset: str) -> Decimal:
    balance = balances.get(asset)
    if balance is None:
        return _ZERO
    total = balance.free + balance.locked
    return total if total else _ZERO


async def replay(legs: Sequence[Leg], venue: SimVenue, account: str, clock: ManualClock) -> EquityCurve:
    """Run every leg to its last bar (the module doc's order); returns the account's equity curve."""
    state = _Account(legs, venue, account, clock)
    if len(legs) == 1:
        await _one(legs[0], state, clock)
    else:
        await _merged(legs, state, clock)
    return state.equity


async def _one(leg: Leg, state: _Account, clock: ManualClock) -> None:
    """One symbol: its steps in order, with nothing to merge (what :func:`_merged` does for one leg,
    without its heap: a step costs a few instructions, and a backtest may take one per bar)."""
    span, feed, trader = leg.feed.bars.span_ns, leg.feed, leg.trader
    steps = leg.steps()
    next(steps)
    for_quiet = state.quiet_until
    try:
        row, open_ns, signal = steps.send(for_quiet(leg))
        while True:
            close_ns = open_ns + span
            moved = leg.eager
            if moved:
                feed.feed_to(row)
            if row >= leg.live_from and (signal is not _HOLD or trader.pending_exit is not None):
                feed.due(row)
                clock.set(max(clock.now_ns(), close_ns))
                bar = feed.bar(row)
                if trader.pending_exit is not None:  # a refused exit's next round first, as a session does
                    await trader.tend_exit(bar.close)
                await trader.act(signal, bar)
                leg.eager, moved = leg.always_feed or feed.resting, True
            state.after(close_ns, moved, leg, row)
            row, open_ns, signal = steps.send(for_quiet(leg))
    except StopIteration:
        return


async def _merged(legs: Sequence[Leg], state: _Account, clock: ManualClock) -> None:
    """Several symbols: each one's next step on a heap by (close time, portfolio index)."""
    span = legs[0].feed.bars.span_ns
    heap: list[tuple[int, int, int, Signal]] = []  # (close ns, portfolio index, row, signal)
    scanners = [leg.steps() for leg in legs]

    def advance(i: int) -> None:
        try:
            row, open_ns, signal = scanners[i].send(state.quiet_until(legs[i]))
        except StopIteration:
            return
        heapq.heappush(heap, (open_ns + span, i, row, signal))

    for i, scanner in enumerate(scanners):
        next(scanner)
        advance(i)
    while heap:
        close_ns = heap[0][0]
        batch = [heapq.heappop(heap)]
        while heap and heap[0][0] == close_ns:
            batch.append(heapq.heappop(heap))
        moved = _feed_eager(legs, batch)
        for _, i, row, signal in batch:
            leg = legs[i]
            trader = leg.trader
            if row >= leg.live_from and (signal is not _HOLD or trader.pending_exit is not None):
                leg.feed.due(row)
                clock.set(max(clock.now_ns(), close_ns))
                bar = leg.feed.bar(row)
                if trader.pending_exit is not None:  # a refused exit's next round first, as a session does
                    await trader.tend_exit(bar.close)
                await trader.act(signal, bar)
                leg.eager, moved = leg.always_feed or leg.feed.resting, True
        _, first, row, _ = batch[0]
        state.after(close_ns, moved, legs[first], row)
        for _, i, _, _ in batch:
            advance(i)


def _feed_eager(legs: Sequence[Leg], batch: Sequence[tuple[int, int, int, Signal]]) -> bool:
    """The legs replayed every bar, brought to this close before anyone acts: those with orders resting
    first, together (their trades interleaved by time, as one venue replays several symbols), then the
    others (their trades recorded at their own times, whatever the clock). Whether there were any."""
    eager = [(legs[i].feed, row) for _, i, row, _ in batch if legs[i].eager]
    if not eager:
        return False
    resting = [(feed, row) for feed, row in eager if feed.resting]
    if len(resting) > 1:
        replay_together(resting)
    for feed, row in eager:
        feed.feed_to(row)  # a no-op for those just replayed together
    return True
