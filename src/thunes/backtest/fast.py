"""The fast backtest for parameter sweeps: the strategy's vectorised face computes every signal of
the series at once, and only the bars that carry a signal are acted on.

Why the trades are the same as the event-driven backtest's: between two signals a long-only
MARKET strategy has nothing resting at the venue and nothing to decide, so skipping those bars
skips nothing. Two implementations act on the signal bars:

- **the compiled kernel** (``fast_kernel``, numba), used whenever it can be exact: it reproduces in
  integer ticks, lots and quote units what the engine core does at each signal (sizing, the risk
  gate and its state, the exchange filters, the venue's MARKET fill with its slippage and fee, the
  booking with its dust, the client order ids and trade ids); ``fast_plan`` digests the settings
  and the instrument into its integers and ``fast_result`` turns its columns back into the
  engine's orders and fills, lazily;
- **the engine core** (:func:`run_engine_core_backtest`, the reference): at a signal bar the venue
  is put in exactly the state the replay leaves it in at that bar's close (the same ``bar_events``
  of the bar, its predecessor and every bar whose trades fall in the average-price window, each
  trade fed once and at its own time, plus the last trade before them when none of them traded:
  quote, slippage context, average and last price), the clock and the daily jobs advance the same
  way, and the same ``Trader.act`` sizes, gates, sends and books the order.

Every path builds its engine from the same :class:`~thunes.backtest.parts.EngineParts`. The
kernel is not used, and the engine core runs, when numba is not installed, when that engine is not
the one the kernel reproduces (``fast_scope``: a risk rule added, removed, reordered or of another
version, a limit it does not digest, another slippage model or ``avgPrice`` window), when the
instrument has a rule the kernel does not model (a MAX_POSITION filter, no MARKET orders, a
MARKET_LOT_SIZE step that is not a whole number of LOT_SIZE steps), for a fee rate outside [0, 1) or
a rebate, for amounts beyond 64-bit integers, and when a float the engine itself uses (slippage in
basis points, the PnL the risk engine judges) lands too close to a boundary for the kernel to be sure
of the exact answer. A user strategy (docs/strategy-api.md) runs on the whole event-driven backtest:
only the built-ins' vectorised faces are tested equal to their bar-by-bar ones. The result says which ran
(``FastBacktestResult.kernel``, ``fallback_reason``). The vectorised faces equal the bar-by-bar ones
(tested with the strategies).
"""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from typing import Any

import numpy as np

from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.app.aio import run_returning
from thunes.app.config import Settings
from thunes.backtest.event import EventBacktestResult, backtest_inputs, run_event_backtest
from thunes.backtest.fast_result import FastBacktestResult
from thunes.backtest.fast_scope import EngineModel, engine_model, strategy_unsupported
from thunes.backtest.parts import ACCOUNT, EngineParts
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.domain.market import Bar
from thunes.engine.clock import ManualClock
from thunes.engine.jobs import Job, due_jobs
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.features.ohlcv import OHLCV
from thunes.risk import RiskEngine
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay import BarClosed, BarContext, ReplayQuote, ReplayTrade, bar_events
from thunes.simvenue.replay_model import REPLAY
from thunes.strategy.base import Signal, Strategy

__all__ = ["run_engine_core_backtest", "run_fast_backtest", "signal_rows"]

NS_PER_MS = 1_000_000


def signal_rows(strategy: Strategy, bars: OHLCV, warmup_bars: int) -> tuple[Any, Any]:
    """Rows (after the warm-up) where the strategy signals, and the signals: the vectorised part."""
    signals = strategy.signals(bars)
    rows = np.flatnonzero(signals)
    rows = rows[rows >= warmup_bars]
    return rows, signals[rows]


async def _run(settings: Settings, instrument: Instrument, bars: OHLCV, warmup_bars: int, deposit: Decimal,
               info: ExchangeInfo, parts: EngineParts) -> EventBacktestResult | None:  # fmt: skip
    clock_ns = [0]
    venue = parts.venue(info, lambda: clock_ns[0])
    venue.deposit(ACCOUNT, instrument.quote_asset, deposit)
    window_ms = venue.market(str(instrument.symbol)).avg_mins_ms
    clock = ManualClock(int(bars.open_time_ns[0]))
    ledger = InMemoryLedger()
    strategy = parts.strategy(settings, instrument.tick_size)
    kernel = parts.engine(clock.now_ns, InProcessVenue(venue, ACCOUNT, info), [(strategy, instrument)], ledger)
    trader, risk = kernel.portfolio.trader(instrument.symbol), kernel.risk
    rows, signals = signal_rows(strategy, bars, warmup_bars)
    seen_ns, fed = -1, -1  # the venue has every replayed trade up to seen_ns; rows up to fed are behind us
    for row, signal in zip(rows.tolist(), signals.tolist(), strict=True):
        first = _first_in_window(bars, row, window_ms)
        last = _unseen_last_trade(bars, fed, first, row, instrument)
        if last is not None:
            _, seen_ns = _set_market(venue, clock_ns, bars.slice(last, last + 1), instrument, seen_ns)
        closed, seen_ns = _set_market(venue, clock_ns, bars.slice(min(first, max(0, row - 1)), row + 1), instrument,
                                      seen_ns)  # fmt: skip
        fed, bar = row, closed[-1]
        if len(closed) > 1:  # the bars skipped since the last signal: their daily jobs, at their time
            _advance(clock, risk, closed[-2].close_time_ns)
        clock_before = clock.now_ns()
        clock.set(max(clock_before, bar.close_time_ns))
        await trader.act(Signal(signal), bar)
        if trader.pending_exit is not None:  # refused: its rounds are retried bar by bar, which signals alone miss
            return None
        _jobs(risk, clock_before, clock.now_ns())  # after the decision, as the event path runs them
    result = EventBacktestResult(list(ledger.orders.values()), ledger.fills(), trader.stats, bars=len(bars))
    result.position = trader.position.quantity
    return result


def _first_in_window(bars: OHLCV, row: int, window_ms: int) -> int:
    """The first bar that may have a replayed trade inside the venue's average-price window at ``row``'s
    close (``ReplayModel.first_open_in_window_ns``)."""
    span = bars.timeframe.nanoseconds
    first_open = REPLAY.first_open_in_window_ns(int(bars.open_time_ns[row]) + span, span, window_ms)
    return min(row, int(np.searchsorted(bars.open_time_ns, first_open, side="left")))


def _unseen_last_trade(bars: OHLCV, fed: int, first: int, row: int, instrument: Instrument) -> int | None:
    """The bar to replay for its last trade alone, when none of ``first..row`` trades: the venue prices
    at the last trade it saw when nothing traded within the window. None when nothing needs replaying."""
    if _last_traded(bars, first, row + 1, instrument) is not None:
        return None
    return _last_traded(bars, fed + 1, first, instrument)


def _last_traded(bars: OHLCV, start: int, stop: int, instrument: Instrument) -> int | None:
    """The last of rows ``start``..``stop - 1`` whose replay has trades (``ReplayModel.part``)."""
    step = instrument.step_size
    for row in range(stop - 1, start - 1, -1):
        if REPLAY.part(Decimal(repr(float(bars.volume[row]))), step) > 0:
            return row
    return None


def _set_market(
    venue: SimVenue, clock_ns: list[int], bars: OHLCV, instrument: Instrument, seen_ns: int
) -> tuple[list[Bar], int]:
    """Leave the venue as the replay leaves it at the close of the last of ``bars``: their bars, and the
    time of the last trade the venue has. Trades it already has (up to ``seen_ns``) are not fed twice."""
    closed: list[Bar] = []
    for event in bar_events(bars, instrument.tick_size, instrument.step_size):
        clock_ns[0] = max(clock_ns[0], event.ts_ns)
        if isinstance(event, ReplayTrade):
            if event.ts_ns > seen_ns:
                venue.on_trade(event.symbol, event.price, event.quantity)
                seen_ns = event.ts_ns
        elif isinstance(event, ReplayQuote):
            venue.on_quote(event.symbol, event.bid, event.bid_qty, event.ask, event.ask_qty)
        elif isinstance(event, BarContext):
            venue.on_bar_context(event.symbol, event.volume, event.range_fraction)
        elif isinstance(event, BarClosed):
            closed.append(event.bar)
    return closed, seen_ns


def _advance(clock: ManualClock, risk: RiskEngine, to_ns: int) -> None:
    previous = clock.now_ns()
    if to_ns > previous:
        clock.set(to_ns)
        _jobs(risk, previous, to_ns)


def _jobs(risk: RiskEngine, previous_ns: int, now_ns: int) -> None:
    for job in due_jobs(previous_ns, now_ns):
        if job is Job.DAILY_RESET:
            risk.daily_reset()


def run_engine_core_backtest(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    *,
    warmup_bars: int | None = None,
    deposit: Decimal | None = None,
    parts: EngineParts | None = None,
) -> EventBacktestResult:
    """The fast path through the real engine core at every signal bar: the reference the kernel is
    held to, and what runs when the kernel cannot (see module doc). Defaults: ``settings.backtest``'s,
    ``EngineParts.of(settings)``. When an exit is refused (retried bar by bar from then on, which signal
    bars alone cannot reproduce) the event-driven backtest runs instead (:data:`EXIT_RETRIED`)."""
    return _engine_core(settings, instrument, bars, info, warmup_bars, deposit, parts)[0]


EXIT_RETRIED = "an exit was refused and is retried bar by bar: the event-driven engine ran"


def _engine_core(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    warmup_bars: int | None,
    deposit: Decimal | None,
    parts: EngineParts | None,
) -> tuple[EventBacktestResult, str | None]:
    """The engine core's result, or the event-driven one with :data:`EXIT_RETRIED` when an exit was refused."""
    warmup, cash = backtest_inputs(settings, warmup_bars, deposit)
    venue_info = ExchangeInfo({instrument.symbol: instrument}, info.rate_limits, None)
    engine = parts if parts is not None else EngineParts.of(settings)
    result = run_returning(_run(settings, instrument, bars, warmup, cash, venue_info, engine))
    if result is not None:
        return result, None
    event = run_event_backtest(settings, instrument, bars, info, warmup_bars=warmup, deposit=cash, parts=engine)
    return event, EXIT_RETRIED


def run_fast_backtest(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    *,
    warmup_bars: int | None = None,
    deposit: Decimal | None = None,
    use_kernel: bool = True,
    parts: EngineParts | None = None,
) -> FastBacktestResult:
    """The same orders and fills as :func:`thunes.backtest.event.run_event_backtest` (see module
    doc): by the compiled kernel when it can be exact, else (or with ``use_kernel=False``) by the
    engine core, or by the event-driven backtest for a strategy the fast path does not know.
    ``fallback_reason`` on the result says why the kernel did not run. ``warmup_bars`` and ``deposit``
    default to ``settings.backtest``'s, ``parts`` to ``EngineParts.of(settings)``; the venue charges
    ``backtest.fee_rate``."""
    warmup_bars, deposit = backtest_inputs(settings, warmup_bars, deposit)
    parts = parts if parts is not None else EngineParts.of(settings)
    strategy = parts.strategy(settings, instrument.tick_size)
    unknown = strategy_unsupported(strategy)
    if unknown is not None:  # its signals alone cannot say where to act: every bar, through the event engine
        event = run_event_backtest(settings, instrument, bars, info, warmup_bars=warmup_bars, deposit=deposit,
                                   parts=parts)  # fmt: skip
        return FastBacktestResult.of_engine_core(event, f"{unknown}; the event-driven engine ran")
    reason = _kernel_unavailable() if use_kernel else "use_kernel=False"
    if reason is None:  # the engine these parts make, checked against the one the kernel reproduces
        venue_info = ExchangeInfo({instrument.symbol: instrument}, info.rate_limits, None)
        engine = engine_model(parts, venue_info, strategy, instrument)
        if isinstance(engine, str):
            reason = engine
        elif len(bars) > 0:
            result = _kernel_backtest(instrument, bars, warmup_bars, deposit, strategy, engine)
            if isinstance(result, FastBacktestResult):
                return result
            reason = result
    reference, retried = _engine_core(settings, instrument, bars, info, warmup_bars, deposit, parts)
    return FastBacktestResult.of_engine_core(reference, "; ".join(filter(None, (reason or "no bars", retried))))


def _kernel_unavailable() -> str | None:
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed (it comes with the research extra)"
    return None


def _kernel_backtest(instrument: Instrument, bars: OHLCV, warmup_bars: int, deposit: Decimal, strategy: Strategy,
                     engine: EngineModel) -> FastBacktestResult | str:  # fmt: skip
    """The kernel's result, or why it cannot give one."""
    from thunes.backtest.fast_plan import KernelUnsupportedError, run_kernel  # numba: only when it is there
    from thunes.backtest.fast_series import compiled_signal_rows

    rows, signals = compiled_signal_rows(strategy, bars, warmup_bars) or signal_rows(strategy, bars, warmup_bars)
    try:
        return run_kernel(instrument, bars, rows, signals, strategy_id=strategy.strategy_id,
                          deposit=deposit, engine=engine)  # fmt: skip
    except KernelUnsupportedError as e:
        return str(e)
