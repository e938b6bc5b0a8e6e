"""The fast backtest for parameter sweeps: the strategy's vectorised face computes every signal of
the series at once, and only the bars that carry a signal go through the engine core.

Why the trades are the same as the event-driven backtest's: between two signals a long-only
MARKET strategy has nothing resting at the venue and nothing to decide, so skipping those bars
skips nothing. At a signal bar the venue is put in exactly the state the replay leaves it in at
that bar's close (the same ``bar_events`` of the bar and its predecessor: last trade, quote,
slippage context), the clock and the daily jobs advance the same way, and the same ``Trader.act``
sizes, gates, sends and books the order. The vectorised faces equal the bar-by-bar ones (tested
with the strategies).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import numpy as np

from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.app.composition import risk_limits, strategy_for
from thunes.app.config import Settings
from thunes.app.event_backtest import ACCOUNT, VENUE, EventBacktestResult
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.domain.market import Bar
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import ManualClock
from thunes.engine.jobs import Job, due_jobs
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.engine.trader import Trader, TraderConfig
from thunes.execution.journal_memory import InMemoryJournal
from thunes.execution.order_manager import OrderManager
from thunes.features.ohlcv import OHLCV
from thunes.risk import RiskEngine
from thunes.risk.store import InMemoryRiskStore
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay import BarClosed, BarContext, ReplayQuote, ReplayTrade, bar_events
from thunes.strategy.base import Signal

__all__ = ["run_fast_backtest", "signal_rows"]


def signal_rows(settings: Settings, instrument: Instrument, bars: OHLCV, warmup_bars: int) -> tuple[Any, Any]:
    """Rows (after the warm-up) where the strategy signals, and the signals: the vectorised part."""
    signals = strategy_for(settings, instrument.tick_size).signals(bars)
    rows = np.flatnonzero(signals)
    rows = rows[rows >= warmup_bars]
    return rows, signals[rows]


async def _run(settings: Settings, instrument: Instrument, bars: OHLCV, warmup_bars: int, deposit: Decimal,
               info: ExchangeInfo) -> EventBacktestResult:  # fmt: skip
    clock_ns = [0]
    venue = SimVenue(info.instruments, lambda: clock_ns[0], fee_rate=Decimal("0.001"), seed=0)
    venue.deposit(ACCOUNT, instrument.quote_asset, deposit)
    clock = ManualClock(int(bars.open_time_ns[0]))
    ledger = InMemoryLedger()
    bus = InMemoryBus()
    risk = RiskEngine(risk_limits(settings), clock.now_ns, InMemoryRiskStore())
    orders = OrderManager(InProcessVenue(venue, ACCOUNT, info), InMemoryJournal(), bus, clock.now_ns, VENUE)
    trader = Trader(strategy_for(settings, instrument.tick_size), instrument, risk, orders, ledger, bus,
                    TraderConfig(VENUE, fee_rate=settings.backtest.fee_rate))  # fmt: skip
    rows, signals = signal_rows(settings, instrument, bars, warmup_bars)
    for row, signal in zip(rows.tolist(), signals.tolist(), strict=True):
        closed = _set_market(venue, clock_ns, bars.slice(max(0, row - 1), row + 1), instrument)
        bar = closed[-1]
        if len(closed) > 1:  # the bars skipped since the last signal: their daily jobs, at their time
            _advance(clock, risk, closed[0].close_time_ns)
        clock_before = clock.now_ns()
        clock.set(max(clock_before, bar.close_time_ns))
        await trader.act(Signal(signal), bar)
        _jobs(risk, clock_before, clock.now_ns())  # after the decision, as the event path runs them
    result = EventBacktestResult(list(ledger.orders.values()), ledger.fills(), trader.stats, bars=len(bars))
    result.position = trader.position.quantity
    return result


def _set_market(venue: SimVenue, clock_ns: list[int], bars: OHLCV, instrument: Instrument) -> list[Bar]:
    """Leave the venue as the replay leaves it at the close of the last of ``bars``; their bars."""
    closed: list[Bar] = []
    for event in bar_events(bars, instrument.tick_size, instrument.step_size):
        clock_ns[0] = max(clock_ns[0], event.ts_ns)
        if isinstance(event, ReplayTrade):
            venue.on_trade(event.symbol, event.price, event.quantity)
        elif isinstance(event, ReplayQuote):
            venue.on_quote(event.symbol, event.bid, event.bid_qty, event.ask, event.ask_qty)
        elif isinstance(event, BarContext):
            venue.on_bar_context(event.symbol, event.volume, event.range_fraction)
        elif isinstance(event, BarClosed):
            closed.append(event.bar)
    return closed


def _advance(clock: ManualClock, risk: RiskEngine, to_ns: int) -> None:
    previous = clock.now_ns()
    if to_ns > previous:
        clock.set(to_ns)
        _jobs(risk, previous, to_ns)


def _jobs(risk: RiskEngine, previous_ns: int, now_ns: int) -> None:
    for job in due_jobs(previous_ns, now_ns):
        if job is Job.DAILY_RESET:
            risk.daily_reset()


def run_fast_backtest(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    *,
    warmup_bars: int = 100,
    deposit: Decimal = Decimal(1000),
) -> EventBacktestResult:
    """The same orders and fills as :func:`thunes.app.event_backtest.run_event_backtest` (see module doc)."""
    venue_info = ExchangeInfo({instrument.symbol: instrument}, info.rate_limits, None)
    return asyncio.run(_run(settings, instrument, bars, warmup_bars, deposit, venue_info))
