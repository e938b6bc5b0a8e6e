"""The event-driven backtest: the paper session's engine core (strategy, sizing, risk, order
manager, ledger) against the in-process matching core, fed the very market events the embedded
venue replays, on a simulated clock.

Why it equals paper trading: the events come from the same bar plans as ``bar_events`` (fed to the
venue directly, without building event objects), the venue is the same
``SimVenue`` (same fees, slippage and filters), the trader is the same ``Trader`` and it acts at the
same point (right after each candle closes, before any event of the next one), with the same
warm-up, the same clock and the same daily jobs. ``thunes parity`` checks it order by order against
a lockstep paper session on the venue server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.app.composition import risk_limits, strategy_for
from thunes.app.config import Settings
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.market import Bar
from thunes.domain.orders import Fill
from thunes.domain.venue import OrderReport
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import ManualClock
from thunes.engine.equity import EquityCurve
from thunes.engine.jobs import Job, due_jobs
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.engine.trader import Trader, TraderConfig, TraderStats
from thunes.execution.journal_memory import InMemoryJournal
from thunes.execution.order_manager import OrderManager
from thunes.features.ohlcv import OHLCV, to_ticks
from thunes.risk import RiskEngine
from thunes.risk.store import InMemoryRiskStore
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay import bar_plans, feed_plan

__all__ = ["ACCOUNT", "VENUE_FEE_RATE", "EventBacktestResult", "run_event_backtest"]

ACCOUNT = "paper"  # the account name the embedded venue uses: ids and reports come out the same
VENUE = VenueId("sim")
VENUE_FEE_RATE = Decimal("0.001")  # the backtests' SimVenue fee (Binance's spot base rate); the fast path's too


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
               info: ExchangeInfo) -> EventBacktestResult:  # fmt: skip
    market = _Market()
    venue = SimVenue(info.instruments, market, fee_rate=VENUE_FEE_RATE, seed=0)
    venue.deposit(ACCOUNT, instrument.quote_asset, deposit)
    clock = ManualClock(int(bars.open_time_ns[0]))
    bus, ledger = InMemoryBus(), InMemoryLedger()
    risk = RiskEngine(risk_limits(settings), clock.now_ns, InMemoryRiskStore())
    orders = OrderManager(InProcessVenue(venue, ACCOUNT, info), InMemoryJournal(), bus, clock.now_ns, VENUE)
    trader = Trader(strategy_for(settings, instrument.tick_size), instrument, risk, orders, ledger, bus,
                    TraderConfig(VENUE, fee_rate=settings.backtest.fee_rate))  # fmt: skip
    tick = instrument.tick_size
    live_bars = bars.slice(min(warmup_bars, len(bars)), len(bars))
    equity = EquityCurve(live_bars.open_time_ns + bars.timeframe.nanoseconds, to_ticks(live_bars.close, tick), tick)
    result = EventBacktestResult([], [], trader.stats, equity)
    closed, marked = 0, -1
    for plan in bar_plans(bars, tick, instrument.step_size):
        feed_plan(venue, plan, tick, market.advance)
        closed += 1
        live = closed > warmup_bars
        await _step(trader, clock, plan.bar, live=live)
        if live and venue.trade_count(ACCOUNT) != marked:  # the balances move only with fills
            marked = venue.trade_count(ACCOUNT)
            equity.mark(closed - warmup_bars - 1, *_totals(venue, instrument))
    result.bars = closed
    result.orders = list(ledger.orders.values())
    result.fills = ledger.fills()
    result.position = trader.position.quantity
    return result


async def _step(trader: Trader, clock: ManualClock, bar: Bar, *, live: bool) -> None:
    """One closed candle, exactly as a paper session takes it: clock, decision, boundary jobs."""
    previous = clock.now_ns()
    clock.set(max(previous, bar.close_time_ns))
    if live:
        await trader.on_bar(bar)
    else:
        trader.warm_up(bar)  # history the venue had before the session: learned, never traded
    for job in due_jobs(previous, clock.now_ns()):
        if job is Job.DAILY_RESET:
            trader.risk.daily_reset()


def _totals(venue: SimVenue, instrument: Instrument) -> tuple[Decimal, Decimal]:
    """The account's quote and base totals (free + locked)."""
    balances = venue.balances(ACCOUNT)
    quote, base = balances.get(instrument.quote_asset), balances.get(instrument.base_asset)
    return (quote.total if quote else Decimal(0)), (base.total if base else Decimal(0))


def run_event_backtest(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    *,
    warmup_bars: int = 100,
    deposit: Decimal = Decimal(1000),
) -> EventBacktestResult:
    """Backtest ``settings.strategy`` on ``bars`` through the whole engine core (see module doc)."""
    if warmup_bars < 0:
        raise ValueError("warmup_bars must be >= 0")
    venue_info = ExchangeInfo({instrument.symbol: instrument}, info.rate_limits, None)
    return asyncio.run(_run(settings, instrument, bars, warmup_bars, deposit, venue_info))
