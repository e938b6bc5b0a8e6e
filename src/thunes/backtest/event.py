"""The event-driven backtest: the paper session's engine core (decision sources, sizing, shared risk,
order manager, ledger) against the in-process matching core, fed the very market events the embedded
venue replays, on a simulated clock. It runs a portfolio: one or several (strategy, symbol) pairs on
one account (one venue holding every instrument, one deposit in the quote asset, one kernel: shared
risk, one ledger, one journal), their bars merged by close time (:mod:`thunes.backtest.merge`).

Why it equals paper trading: the market is the one ``bar_events`` replays (the venue is brought up to
a bar only when an order reaches it, by :class:`~thunes.simvenue.lazy_feed.LazyBarFeed`, which a test
holds equal to replaying every bar), the venue is the same ``SimVenue`` (same fees, slippage and
filters), the traders are the same ``Trader`` and act at the same point (right after each candle
closes, before any event of the next one; at one close time in portfolio order), with the same
warm-up, the same clock and the same daily jobs. ``thunes parity`` checks it order by order against a
lockstep paper session on the venue server.

Why it is fast: each strategy sees every bar as integer ticks (``on_ticks``, or its ``scan`` over a run
of them), and everything else (a ``Bar``, the venue's market, the clock, the balances) is built only
where a signal acts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.app.aio import run_returning
from thunes.app.composition import build_strategy
from thunes.app.config import Settings, StrategySettings
from thunes.backtest.merge import Leg, live_rows, replay
from thunes.backtest.parts import ACCOUNT, VENUE, EngineParts
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import StrategyId, Symbol
from thunes.domain.instrument import Instrument
from thunes.domain.orders import Fill
from thunes.domain.venue import OrderReport
from thunes.engine.clock import ManualClock
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.engine.trader import TraderStats
from thunes.features.ohlcv import OHLCV
from thunes.features.tick_bars import TickBars
from thunes.simvenue.core import SimVenue
from thunes.simvenue.lazy_feed import LazyBarFeed
from thunes.strategy.base import Strategy

__all__ = [
    "ACCOUNT",
    "VENUE",
    "EventBacktestResult",
    "PairMarket",
    "SymbolOutcome",
    "backtest_inputs",
    "run_event_backtest",
    "run_portfolio_backtest",
]


@dataclass(frozen=True, slots=True)
class PairMarket:
    """One pair of a portfolio backtest: its strategy (its settings, or a strategy built already, e.g. a
    scripted one in a test), its instrument and its bars."""

    strategy: StrategySettings | Strategy
    instrument: Instrument
    bars: OHLCV


@dataclass(frozen=True, slots=True)
class SymbolOutcome:
    """One symbol's part of a run: its trader's counters, the position it ends with, its bars (and the
    first one traded after the warm-up)."""

    symbol: Symbol
    strategy_id: StrategyId
    stats: TraderStats
    position: Decimal
    bars: int
    live_from: int


@dataclass(slots=True)
class EventBacktestResult:
    """What the backtest traded: final order reports in submission order, fills in booking order (every
    symbol), the account's equity (quote + each base at its close) at every close time after the
    warm-up, and the counters: ``stats`` summed over the symbols, ``symbols`` each one's (in portfolio
    order; ``position`` and ``bars`` are the first symbol's, the whole run's with one pair)."""

    orders: list[OrderReport]
    fills: list[Fill]
    stats: TraderStats
    equity: Sequence[tuple[int, Decimal]] = field(default_factory=list)
    bars: int = 0
    position: Decimal = Decimal(0)
    symbols: tuple[SymbolOutcome, ...] = ()
    venue: SimVenue | None = None  # the venue at the end: the account's trades and balances the ledger must match


class _Market:
    """The simulated clock the venue reads (replay time)."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def advance(self, ns: int) -> None:
        """Replay time never goes back (an event stamped earlier than the last one keeps the clock)."""
        self.ns = max(self.ns, ns)


async def _run(markets: Sequence[PairMarket], warmup_bars: int, deposit: Decimal, info: ExchangeInfo,
               parts: EngineParts, *, feed_every_bar: bool) -> EventBacktestResult:  # fmt: skip
    market = _Market()
    venue = parts.venue(info, market)
    venue.deposit(ACCOUNT, markets[0].instrument.quote_asset, deposit)
    clock = ManualClock(min(int(m.bars.open_time_ns[0]) for m in markets))
    ledger = InMemoryLedger()
    feeds = [LazyBarFeed(venue, TickBars(m.bars, m.instrument.tick_size), m.instrument.step_size, market.advance)
             for m in markets]  # fmt: skip

    def catch_up() -> None:  # the market of a symbol catches up when an order reaches the venue
        for feed in feeds:
            feed.catch_up()

    port = InProcessVenue(venue, ACCOUNT, info, sync=feeds[0].catch_up if len(feeds) == 1 else catch_up)
    strategies = [m.strategy if isinstance(m.strategy, Strategy) else build_strategy(m.strategy, m.instrument.tick_size)
                  for m in markets]  # fmt: skip
    kernel = parts.engine(clock.now_ns, port, [(s, m.instrument) for s, m in zip(strategies, markets, strict=True)],
                          ledger)  # fmt: skip
    live = live_rows([feed.bars for feed in feeds], warmup_bars)
    legs = [Leg(kernel.portfolio.trader(m.instrument.symbol), feed, strategy, first, eager=feed_every_bar)
            for m, feed, strategy, first in zip(markets, feeds, strategies, live, strict=True)]  # fmt: skip
    equity = await replay(legs, venue, ACCOUNT, clock)
    outcomes = tuple(SymbolOutcome(leg.trader.instrument.symbol, leg.trader.strategy.strategy_id, leg.trader.stats,
                                   leg.trader.position.quantity, len(leg.feed.bars), leg.live_from)
                     for leg in legs)  # fmt: skip
    stats = legs[0].trader.stats if len(legs) == 1 else kernel.portfolio.stats()
    return EventBacktestResult(list(ledger.orders.values()), ledger.fills(), stats, equity,
                               bars=outcomes[0].bars, position=outcomes[0].position, symbols=outcomes,
                               venue=venue)  # fmt: skip


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
    parts: EngineParts | None = None,
) -> EventBacktestResult:
    """Backtest ``settings.strategy`` on ``bars`` of ``instrument`` through the whole engine core (see
    module doc): the portfolio of that one pair.

    ``warmup_bars`` and ``deposit`` default to ``settings.backtest``'s (``warmup_bars``,
    ``initial_cash``), the one source every command reads; the venue charges ``backtest.fee_rate``.
    ``feed_every_bar``: replay every bar into the venue as it closes, instead of only the bars an order
    can see (the same results, tested; slower). ``parts``: what the engine is built from (default
    ``EngineParts.of(settings)``, what paper and live trade with), its strategy included."""
    engine = parts if parts is not None else EngineParts.of(settings)
    pair = PairMarket(engine.strategy(settings, instrument.tick_size), instrument, bars)
    return run_portfolio_backtest(settings, [pair], info, warmup_bars=warmup_bars, deposit=deposit,
                                  feed_every_bar=feed_every_bar, parts=engine)  # fmt: skip


def run_portfolio_backtest(
    settings: Settings,
    markets: Sequence[PairMarket],
    info: ExchangeInfo,
    *,
    warmup_bars: int | None = None,
    deposit: Decimal | None = None,
    feed_every_bar: bool = False,
    parts: EngineParts | None = None,
) -> EventBacktestResult:
    """Backtest the pairs ``markets`` (in portfolio order) on one account through the whole engine core
    (see module doc): ``deposit`` in their common quote asset, the warm-up's ``warmup_bars`` bars of
    every symbol before any trades. Defaults, ``feed_every_bar`` and ``parts`` (its strategy aside: each
    pair has its own) as :func:`run_event_backtest`. ValueError for no pair, a symbol twice, several
    quote assets or several bar intervals."""
    warmup_bars, deposit = backtest_inputs(settings, warmup_bars, deposit)
    _check_markets(markets)
    venue_info = ExchangeInfo({m.instrument.symbol: m.instrument for m in markets}, info.rate_limits, None)
    engine = parts if parts is not None else EngineParts.of(settings)
    return run_returning(_run(markets, warmup_bars, deposit, venue_info, engine, feed_every_bar=feed_every_bar))


def _check_markets(markets: Sequence[PairMarket]) -> None:
    if not markets:
        raise ValueError("a portfolio backtest needs at least one pair")
    symbols = [m.instrument.symbol for m in markets]
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"a symbol is traded twice in {', '.join(symbols)}: one pair per symbol")
    first = markets[0]
    for m in markets:
        if m.instrument.quote_asset != first.instrument.quote_asset:
            raise ValueError(f"one account, one quote asset: {m.instrument.symbol} is quoted in "
                             f"{m.instrument.quote_asset}, {symbols[0]} in {first.instrument.quote_asset}")  # fmt: skip
        if m.bars.timeframe != first.bars.timeframe:
            raise ValueError(f"one bar interval: {m.instrument.symbol} has {m.bars.timeframe.value} bars, "
                             f"{symbols[0]} {first.bars.timeframe.value}")  # fmt: skip
        if len(m.bars) == 0:
            raise ValueError(f"no bars for {m.instrument.symbol}")
        if str(m.bars.symbol) != str(m.instrument.symbol):
            raise ValueError(f"{m.bars.symbol} bars given for {m.instrument.symbol}")
