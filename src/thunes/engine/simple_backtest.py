"""A first, simple bar backtester: signals at the close, MARKET fills at the next bar's open.

Deliberately small (the full event-driven engine comes later) but already honest where money is
concerned: every fill goes through the exchange filters and exit-feasible sizing, quantities and
cash are ``Decimal``, the commission is charged as Binance does by default (in the asset received:
base on a BUY, quote on a SELL) and positions use the domain's fee-aware PnL.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from thunes.domain.enums import Liquidity, OrderType, Side
from thunes.domain.fees import commission
from thunes.domain.identifiers import ClientOrderId
from thunes.domain.instrument import Instrument
from thunes.domain.orders import Fill, OrderRequest
from thunes.domain.position import Position
from thunes.domain.rules import MarketContext, normalize_order, round_quantity
from thunes.domain.sizing import size_entry
from thunes.engine.metrics import Metrics, compute_metrics
from thunes.features.ohlcv import OHLCV, to_ticks
from thunes.strategy.base import Signal, Strategy

__all__ = ["BacktestConfig", "BacktestResult", "Trade", "run_backtest"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Money in the instrument's quote asset; rates and fractions as decimals (0.001 = 0.1 %)."""

    initial_cash: Decimal = Decimal(10_000)
    fee_rate: Decimal = Decimal("0.001")
    stake_fraction: Decimal = Decimal("0.99")
    exit_buffer: Decimal = Decimal("0.05")

    def __post_init__(self) -> None:
        if self.initial_cash <= 0:
            raise ValueError("initial_cash must be positive")
        if not 0 <= self.fee_rate < 1:
            raise ValueError("fee_rate must be in [0, 1)")
        if not 0 < self.stake_fraction <= 1:
            raise ValueError("stake_fraction must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip. ``pnl`` is net of both commissions; open trades have no exit yet."""

    entry_ns: int
    entry_price: Decimal
    quantity: Decimal
    exit_ns: int | None = None
    exit_price: Decimal | None = None
    pnl: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Everything a report needs; ``equity`` is sampled at each bar's close (floats, for plotting)."""

    strategy_id: str
    param_hash: str
    symbol: str
    timeframe: str
    bars: int
    start_ns: int
    end_ns: int
    initial_cash: Decimal
    final_cash: Decimal
    final_position: Position
    final_equity: Decimal
    fees: Decimal
    trades: tuple[Trade, ...]
    skipped: dict[str, int]
    equity: npt.NDArray[np.float64] = field(repr=False)
    metrics: Metrics
    buy_and_hold_return: float


@dataclass(slots=True)
class _Book:
    """Mutable account state of one run."""

    cash: Decimal
    position: Position
    trades: list[Trade] = field(default_factory=list)
    open_trade: Trade | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    changes: list[tuple[int, float, float]] = field(default_factory=list)  # (row, cash, qty)
    sequence: int = 0

    def next_id(self) -> ClientOrderId:
        self.sequence += 1
        return ClientOrderId(f"bt-{self.sequence}")


def _enter(book: _Book, instrument: Instrument, config: BacktestConfig, price: Decimal, ts_ns: int) -> None:
    sized = size_entry(
        instrument, book.cash * config.stake_fraction, price, config.fee_rate, exit_buffer=config.exit_buffer
    )
    if sized.quantity is None:
        book.skipped["EXIT_INFEASIBLE"] += 1
        return
    request = OrderRequest(book.next_id(), instrument.symbol, Side.BUY, OrderType.MARKET, quantity=sized.quantity)
    checked = normalize_order(instrument, request, MarketContext(reference_price=price))
    if not checked.ok or checked.order.quantity is None:
        book.skipped[checked.violations[0].reason_code] += 1
        return
    qty = checked.order.quantity
    fee = commission(qty, config.fee_rate, instrument.base_precision)
    fill = Fill(request.client_order_id, str(book.sequence), instrument.symbol, Side.BUY, price, qty, fee,
                instrument.base_asset, Liquidity.TAKER, ts_ns)  # fmt: skip
    book.cash -= fill.notional
    book.position = book.position.apply(fill)
    book.open_trade = Trade(ts_ns, price, qty)


def _exit(book: _Book, instrument: Instrument, config: BacktestConfig, price: Decimal, ts_ns: int) -> None:
    assert book.open_trade is not None
    qty = round_quantity(instrument, book.position.quantity, OrderType.MARKET)
    request_id = book.next_id()
    if qty <= 0:
        book.skipped["DUST"] += 1
        return
    request = OrderRequest(request_id, instrument.symbol, Side.SELL, OrderType.MARKET, quantity=qty)
    checked = normalize_order(instrument, request, MarketContext(reference_price=price))
    if not checked.ok:
        book.skipped[checked.violations[0].reason_code] += 1
        return
    fee = commission(qty * price, config.fee_rate, instrument.quote_precision)
    fill = Fill(request_id, str(book.sequence), instrument.symbol, Side.SELL, price, qty, fee,
                instrument.quote_asset, Liquidity.TAKER, ts_ns)  # fmt: skip
    before = book.position.realized_pnl
    book.position = book.position.apply(fill)
    book.cash += fill.notional - fee
    t = book.open_trade
    book.trades.append(Trade(t.entry_ns, t.entry_price, t.quantity, ts_ns, price, book.position.realized_pnl - before))
    book.open_trade = None


def _equity_curve(book: _Book, close: npt.NDArray[np.float64], initial: Decimal) -> npt.NDArray[np.float64]:
    rows = np.array([0] + [c[0] for c in book.changes], dtype=np.int64)
    cash = np.array([float(initial)] + [c[1] for c in book.changes])
    qty = np.array([0.0] + [c[2] for c in book.changes])
    # Holdings in force at each bar: the last change at or before that row.
    idx = np.searchsorted(rows, np.arange(close.size), side="right") - 1
    return cash[idx] + qty[idx] * close


def run_backtest(
    strategy: Strategy, bars: OHLCV, instrument: Instrument, config: BacktestConfig | None = None
) -> BacktestResult:
    """Run ``strategy`` over ``bars``; a signal at row ``i`` fills at the open of row ``i + 1``."""
    config = config or BacktestConfig()
    if len(bars) < 2:
        raise ValueError(f"need at least 2 bars to backtest, got {len(bars)}")
    tick = instrument.tick_size
    signals = strategy.signals(bars)
    opens = to_ticks(bars.open, tick).tolist()
    book = _Book(config.initial_cash, Position(instrument.symbol, instrument.base_asset, instrument.quote_asset))
    for row in np.nonzero(signals[:-1])[0].tolist():
        price, ts_ns = opens[row + 1] * tick, int(bars.open_time_ns[row + 1])
        if signals[row] == Signal.ENTER_LONG and book.open_trade is None:
            _enter(book, instrument, config, price, ts_ns)
        elif signals[row] == Signal.EXIT_LONG and book.open_trade is not None:
            _exit(book, instrument, config, price, ts_ns)
        else:
            continue
        book.changes.append((row + 1, float(book.cash), float(book.position.quantity)))
    if book.open_trade is not None:
        book.trades.append(book.open_trade)
    equity = _equity_curve(book, bars.close, config.initial_cash)
    last_close = to_ticks(bars.close[-1:], tick).tolist()[0] * tick
    in_market = np.zeros(len(bars), dtype=bool)
    for t in book.trades:
        start = int(np.searchsorted(bars.open_time_ns, t.entry_ns))
        stop = len(bars) if t.exit_ns is None else int(np.searchsorted(bars.open_time_ns, t.exit_ns))
        in_market[start:stop] = True
    pnls = np.array([float(t.pnl) for t in book.trades if t.pnl is not None])
    metrics = compute_metrics(equity, pnls, in_market, bars.timeframe.periods_per_year)
    return BacktestResult(
        strategy_id=str(strategy.strategy_id),
        param_hash=strategy.param_hash,
        symbol=bars.symbol,
        timeframe=bars.timeframe.value,
        bars=len(bars),
        start_ns=int(bars.open_time_ns[0]),
        end_ns=int(bars.open_time_ns[-1]),
        initial_cash=config.initial_cash,
        final_cash=book.cash,
        final_position=book.position,
        final_equity=book.cash + book.position.quantity * last_close,
        fees=book.position.fees_quote,
        trades=tuple(book.trades),
        skipped=dict(book.skipped),
        equity=equity,
        metrics=metrics,
        buy_and_hold_return=float(bars.close[-1] / bars.open[0] - 1.0),
    )
