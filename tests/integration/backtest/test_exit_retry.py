"""A refused exit is retried alike in a backtest and in a session: the event backtest (and the fast
path, which falls back to it) gives the fills of the trader driven bar by bar through ``on_bar`` over
the venue's full replay, which is how a paper session meets the market."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.app.config import Settings, load_settings
from thunes.backtest.event import run_event_backtest
from thunes.backtest.fast import EXIT_RETRIED, run_fast_backtest
from thunes.backtest.parts import ACCOUNT, EngineParts
from thunes.domain import Timeframe
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument, NotionalFilter
from thunes.domain.orders import Fill
from thunes.engine.clock import ManualClock
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.engine.trader import TraderStats
from thunes.features import OHLCV, iter_bars
from thunes.simvenue.replay import BarClosed, BarContext, ReplayQuote, ReplayTrade, bar_events

INFO = builtin_exchange_info()
# An exit's notional can pass MAX_NOTIONAL (11.99) at the venue's average price while the entry fitted:
# the venue refuses it (-1013) and the trader tries again on later bars, with a doubling back-off.
BTC = dataclasses.replace(INFO.get("BTCUSDT"), notional=NotionalFilter(Decimal(5), True, Decimal("11.99"), True, 5))
BASE = load_settings(env={})
SETTINGS = BASE.model_copy(update={
    "risk": BASE.risk.model_copy(update={"cool_down_minutes": 0, "max_order_notional": Decimal("11.99")}),
    "strategy": BASE.strategy.model_copy(update={"sma_fast": 3, "sma_slow": 8}),
})  # fmt: skip
BARS = generate_ohlcv("BTCUSDT", Timeframe.M1, 3_000, seed=1)


def _bar_by_bar(
    settings: Settings, instrument: Instrument, bars: OHLCV, warmup: int, deposit: Decimal
) -> tuple[list[Fill], TraderStats]:
    """The session's way: every replayed event into the venue, every closed bar to ``Trader.on_bar``."""
    info = ExchangeInfo({instrument.symbol: instrument}, INFO.rate_limits, None)
    clock = ManualClock(int(bars.open_time_ns[0]))
    parts = EngineParts.of(settings)  # the venue and the engine every mode builds from these settings
    venue = parts.venue(info, clock.now_ns)
    venue.deposit(ACCOUNT, instrument.quote_asset, deposit)
    ledger = InMemoryLedger()
    kernel = parts.engine(clock.now_ns, InProcessVenue(venue, ACCOUNT, info),
                          [(parts.strategy(settings, instrument.tick_size), instrument)], ledger)  # fmt: skip
    trader = kernel.portfolio.trader(instrument.symbol)
    closes = iter(enumerate(iter_bars(bars, instrument.tick_size)))
    day = clock.now_ns() // 86_400_000_000_000

    async def run() -> None:
        nonlocal day
        for event in bar_events(bars, instrument.tick_size, instrument.step_size):
            clock.set(max(clock.now_ns(), event.ts_ns))
            if isinstance(event, ReplayTrade):
                venue.on_trade(str(event.symbol), event.price, event.quantity)
            elif isinstance(event, ReplayQuote):
                venue.on_quote(str(event.symbol), event.bid, event.bid_qty, event.ask, event.ask_qty)
            elif isinstance(event, BarContext):
                venue.on_bar_context(event.symbol, event.volume, event.range_fraction)
            elif isinstance(event, BarClosed):
                row, bar = next(closes)
                clock.set(max(clock.now_ns(), bar.close_time_ns))
                if row < warmup:
                    trader.warm_up(bar)
                else:
                    await trader.on_bar(bar)
                if bar.close_time_ns // 86_400_000_000_000 > day:  # the session's daily job, after the bar
                    day = bar.close_time_ns // 86_400_000_000_000
                    kernel.risk.daily_reset()

    asyncio.run(run())
    return ledger.fills(), trader.stats


def test_event_backtest_when_the_venue_refuses_exits_then_it_retries_them_as_a_session_does() -> None:
    deposit = SETTINGS.backtest.initial_cash

    event = run_event_backtest(SETTINGS, BTC, BARS, INFO)
    session, stats = _bar_by_bar(SETTINGS, BTC, BARS, SETTINGS.backtest.warmup_bars, deposit)

    assert event.stats.exit_retries > 0 and event.stats.rejected  # exits were refused, and retried
    assert [(f.client_order_id, f.side, f.price, f.quantity) for f in event.fills] == [
        (f.client_order_id, f.side, f.price, f.quantity) for f in session
    ]
    assert event.stats == stats


def test_fast_backtest_when_an_exit_is_refused_then_the_event_engine_runs_and_says_why() -> None:
    fast = run_fast_backtest(SETTINGS, BTC, BARS, INFO)
    event = run_event_backtest(SETTINGS, BTC, BARS, INFO)

    assert not fast.kernel
    assert fast.fallback_reason is not None and EXIT_RETRIED in fast.fallback_reason
    assert fast.fills == event.fills
    assert fast.orders == event.orders
    assert fast.position == event.position
