"""The event-driven backtest: the paper session's engine core (strategy, sizing, risk, order
manager, ledger) against the in-process matching core, fed the very market events the embedded
venue replays, on a simulated clock.

Why it equals paper trading: the market is the one ``bar_events`` replays (the venue is brought up to
a bar only when an order reaches it, by :class:`~thunes.simvenue.lazy_feed.LazyBarFeed`, which a test
holds equal to replaying every bar), the venue is the same ``SimVenue`` (same fees, slippage and
filters), the trader is the same ``Trader`` and it acts at the same point (right after each candle
closes, before any event of the next one), with the same warm-up, the same clock and the same daily
jobs. ``thunes parity`` checks it order by order against a lockstep paper session on the venue server.

Why it is fast: the strategy sees every bar as integer ticks (``on_ticks``, or its ``scan`` over a run
of them), and everything else (a ``Bar``, the venue's market, the clock, the balances) is built only
where a signal acts.
"""

from __future__ import annotations

import gc
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count

from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.app.aio import run_returning
from thunes.app.composition import kernel_spec, strategy_for
from thunes.app.config import Settings
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.orders import Fill
from thunes.domain.venue import OrderReport
from thunes.engine.clock import ManualClock
from thunes.engine.equity import EquityCurve
from thunes.engine.jobs import NS_PER_DAY
from thunes.engine.kernel import build_kernel
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.engine.trader import Trader, TraderStats
from thunes.execution.journal_memory import InMemoryJournal
from thunes.features.ohlcv import OHLCV
from thunes.features.tick_bars import TickBars
from thunes.risk.store import InMemoryRiskStore
from thunes.simvenue.core import SimVenue
from thunes.simvenue.lazy_feed import LazyBarFeed
from thunes.strategy.base import Signal, Strategy

__all__ = ["ACCOUNT", "EventBacktestResult", "backtest_inputs", "run_event_backtest"]

ACCOUNT = "paper"  # the account name the embedded venue uses: ids and reports come out the same
VENUE = VenueId("sim")
_HOLD = Signal.HOLD
Scan = Callable[[Sequence[int], Sequence[int], Sequence[int], Sequence[int], int, int], tuple[int, Signal]]


@dataclass(slots=True)
class EventBacktestResult:
    """What the backtest traded: final order reports in submission order, fills in booking order,
    the equity (quote + base at the close) after every traded bar, and the trader's counters."""

    orders: list[OrderReport]
    fills: list[Fill]
    stats: TraderStats
    equity: Sequence[tuple[int, Decimal]] = field(default_factory=list)
    bars: int = 0
    position: Decimal = Decimal(0)


class _Market:
    """The simulated clock the venue reads (replay time)."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def advance(self, ns: int) -> None:
        """Replay time never goes back (an event stamped earlier than the last one keeps the clock)."""
        self.ns = max(self.ns, ns)


async def _run(settings: Settings, instrument: Instrument, bars: OHLCV, warmup_bars: int, deposit: Decimal,
               info: ExchangeInfo, *, feed_every_bar: bool) -> EventBacktestResult:  # fmt: skip
    market = _Market()
    venue = SimVenue(info.instruments, market, fee_rate=settings.backtest.fee_rate, seed=0, user_stream=False)
    venue.deposit(ACCOUNT, instrument.quote_asset, deposit)
    clock = ManualClock(int(bars.open_time_ns[0]))
    ledger = InMemoryLedger()
    ticks = TickBars(bars, instrument.tick_size)
    feed = LazyBarFeed(venue, ticks, instrument.step_size, market.advance)
    port = InProcessVenue(venue, ACCOUNT, info, sync=feed.catch_up)  # the market catches up when an order arrives
    strategy = strategy_for(settings, instrument.tick_size)
    kernel = build_kernel(kernel_spec(settings, VENUE), clock.now_ns, port, [(strategy, instrument)],
                          risk_store=InMemoryRiskStore(), journal=InMemoryJournal(), ledger=ledger)  # fmt: skip
    trader = kernel.portfolio.trader(instrument.symbol)
    replay = _Replay(trader, clock, feed, min(warmup_bars, len(bars)), eager=feed_every_bar)
    scan = strategy.scan if strategy.has_tick_face else _bar_face(strategy, ticks)
    quiet = replay.quiet_until(-1)
    for first, times, opens, highs, lows, closes in ticks.chunks():
        row, end = 0, len(times)
        while row < end:  # the hot loop: the strategy scans bars until one signals or a step is due anyway
            due = bisect_left(times, quiet, row)  # the first bar opened at or after quiet_until (times increase)
            hit, signal = scan(opens, highs, lows, closes, row, min(due + 1, end))
            if signal is _HOLD:
                if due == end:
                    break
                hit = due  # scanned up to it, quietly: it steps all the same
            quiet = await replay.step(first + hit, times[hit], signal)
            row = hit + 1
    return EventBacktestResult(list(ledger.orders.values()), ledger.fills(), trader.stats, replay.equity,
                               bars=len(bars), position=trader.position.quantity)  # fmt: skip


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


class _Replay:
    """What happens at a bar besides the strategy's call: the trader's act on a signal, the balances
    marked, the daily job. The hot loop calls :meth:`step` only on a signal or once ``quiet_until``
    has passed, so a quiet bar costs one comparison."""

    def __init__(self, trader: Trader, clock: ManualClock, feed: LazyBarFeed, live_from: int, *, eager: bool) -> None:
        self.trader, self.clock, self.feed, self.live_from = trader, clock, feed, live_from
        self.always_feed = self.eager = eager
        bars, tick = feed.bars, feed.bars.tick_size
        self.span = bars.span_ns
        self.equity = EquityCurve(bars.ohlcv.open_time_ns[live_from:] + self.span, bars.close[live_from:], tick)
        self.first_live_ns = int(bars.ohlcv.open_time_ns[live_from]) if live_from < len(bars) else 0
        self.next_day = (clock.now_ns() // NS_PER_DAY + 1) * NS_PER_DAY
        self.marked = -1

    def quiet_until(self, row: int) -> int:
        """Bars opened before this time need no :meth:`step` unless they signal: no day boundary at their
        close, not the first live bar, no bar replayed every time (orders resting, or asked to)."""
        if self.eager:
            return -1
        quiet = self.next_day - self.span
        return min(quiet, self.first_live_ns) if row < self.live_from else quiet

    async def step(self, row: int, open_ns: int, signal: Signal) -> int:
        """Bar ``row`` closed with ``signal``, exactly as the paper session takes it: the order (the venue,
        the clock and a Bar catch up first), the balances, then the boundary jobs. Returns :meth:`quiet_until`."""
        trader, clock, feed, live = self.trader, self.clock, self.feed, row >= self.live_from
        close_ns = open_ns + self.span
        if self.eager:
            feed.feed_to(row)
        moved = self.eager or row == self.live_from  # the balances move only with fills
        if signal is not _HOLD and live:
            feed.due(row)
            clock.set(max(clock.now_ns(), close_ns))
            await trader.act(signal, feed.bar(row))
            self.eager, moved = self.always_feed or feed.resting, True
        venue = feed.venue
        if moved and live and venue.trade_count(ACCOUNT) != self.marked:
            self.marked = venue.trade_count(ACCOUNT)
            self.equity.mark(row - self.live_from, *_totals(venue, trader.instrument))
        if close_ns >= self.next_day:  # the paper session's DAILY_RESET job, at the first close of a new UTC day
            clock.set(max(clock.now_ns(), close_ns))
            trader.risk.daily_reset()
            self.next_day = (close_ns // NS_PER_DAY + 1) * NS_PER_DAY
        return self.quiet_until(row)


def _totals(venue: SimVenue, instrument: Instrument) -> tuple[Decimal, Decimal]:
    """The account's quote and base totals (free + locked)."""
    balances = venue.balances(ACCOUNT)
    quote, base = balances.get(instrument.quote_asset), balances.get(instrument.base_asset)
    return (quote.total if quote else Decimal(0)), (base.total if base else Decimal(0))


def backtest_inputs(settings: Settings, warmup_bars: int | None, deposit: Decimal | None) -> tuple[int, Decimal]:
    """The warm-up and deposit of a run: those given, else ``settings.backtest``'s (no second default)."""
    bt = settings.backtest
    warmup = bt.warmup_bars if warmup_bars is None else warmup_bars
    if warmup < 0:
        raise ValueError("warmup_bars must be >= 0")
    return warmup, bt.initial_cash if deposit is None else deposit


def run_event_backtest(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    *,
    warmup_bars: int | None = None,
    deposit: Decimal | None = None,
    feed_every_bar: bool = False,
) -> EventBacktestResult:
    """Backtest ``settings.strategy`` on ``bars`` through the whole engine core (see module doc).

    ``warmup_bars`` and ``deposit`` default to ``settings.backtest``'s (``warmup_bars``,
    ``initial_cash``), the one source every command reads; the venue charges ``backtest.fee_rate``.
    ``feed_every_bar``: replay every bar into the venue as it closes, instead of only the bars an order
    can see (the same results, tested; slower)."""
    warmup_bars, deposit = backtest_inputs(settings, warmup_bars, deposit)
    venue_info = ExchangeInfo({instrument.symbol: instrument}, info.rate_limits, None)
    with _older_objects_set_aside():
        return run_returning(
            _run(settings, instrument, bars, warmup_bars, deposit, venue_info, feed_every_bar=feed_every_bar)
        )


_runs_lock = threading.Lock()
_runs = [0]  # event backtests in progress in this process (threads may run several)


@contextmanager
def _older_objects_set_aside() -> Iterator[None]:
    """What was alive before the run (modules, settings, caches) is not the run's garbage: the cycle
    collector's full passes skip it during the run (``gc.freeze``) and see it again after the last run
    in progress ends. A run keeps every order and fill it makes, so those passes come round; without
    this each walked the whole heap."""
    with _runs_lock:
        _runs[0] += 1
        gc.freeze()
    try:
        yield
    finally:
        with _runs_lock:
            _runs[0] -= 1
            if _runs[0] == 0:
                gc.unfreeze()
