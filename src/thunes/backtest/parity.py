"""Parity: a portfolio (one or several (strategy, symbol) pairs on one account) on one recorded data
set, run as a backtest and as a paper session on the venue server, compared order by order and fill
by fill, for each symbol and for the account.

The paper side is the real thing (ccxt REST and WebSocket on loopback, SQLite ledger, risk state
on disk), with one difference from ``thunes trade``: the replay is *lockstep*, it waits after each
closed candle until the trader has acted on it, so both sides meet the same market. Any difference
left is a difference between the backtest and the code that trades: exactly what this must catch.

Every row carries its symbol. Each symbol's orders, fills and risk denials are compared on their own
(the first difference of each symbol is named), and the account's fills in the order they were
booked: two symbols acting on one close time in another order (who took the last free slot) differ there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from thunes.adapters.storage.sql_store import SqlStore
from thunes.app.composition import portfolio_pairs
from thunes.app.config import Settings
from thunes.app.sources import load_bars, load_exchange_info_source, load_portfolio_bars
from thunes.backtest.event import PairMarket, run_portfolio_backtest
from thunes.domain.market import Timeframe
from thunes.domain.orders import Fill
from thunes.domain.venue import OrderReport
from thunes.features.ohlcv import OHLCV
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

__all__ = [
    "FillRow",
    "OrderRow",
    "ParityReport",
    "SymbolParity",
    "compare",
    "fill_rows",
    "parity_markets",
    "run_parity",
]

FillRow = tuple[str, str, str, Decimal, Decimal, Decimal, str, int]
OrderRow = tuple[str, str, str, Decimal]


def fill_rows(fills: Sequence[Fill]) -> list[FillRow]:
    """What must be equal: symbol, order id, side, price, quantity, fee and fee asset, time."""
    return [(str(f.symbol), str(f.client_order_id), f.side.value, f.price, f.quantity, f.commission,
             f.commission_asset, f.ts_ns) for f in fills]  # fmt: skip


@dataclass(slots=True)
class SymbolParity:
    """One symbol's orders, fills and risk denials (by reason) on both sides, and its first difference
    of each kind."""

    symbol: str
    backtest_orders: list[OrderRow]
    paper_orders: list[OrderRow]
    backtest_fills: list[FillRow]
    paper_fills: list[FillRow]
    backtest_denied: dict[str, int] = field(default_factory=dict)
    paper_denied: dict[str, int] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


@dataclass(slots=True)
class ParityReport:
    """Both sides of a run: ``bars`` per symbol; the account's orders (by time, then id) and fills (in
    booking order), each symbol's (:class:`SymbolParity`, in portfolio order), and every difference
    (each symbol's first, then the account's)."""

    bars: int
    backtest_fills: list[FillRow]
    paper_fills: list[FillRow]
    backtest_orders: list[OrderRow]
    paper_orders: list[OrderRow]
    symbols: list[SymbolParity] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def _first_differences(left: Sequence[tuple[object, ...]], right: Sequence[tuple[object, ...]], kind: str,
                       where: str) -> list[str]:  # fmt: skip
    """The count when it differs, and the first row that differs (``where``: a symbol, or the account)."""
    found = []
    if len(left) != len(right):
        found.append(f"{where}: {kind}s: backtest {len(left)}, paper {len(right)}")
    for i, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            found.append(f"{where}: {kind} {i + 1}: backtest {a} != paper {b}")
            break
    return found


def compare(report: ParityReport) -> None:
    """Fill ``report.differences``: each symbol's first difference of orders, fills and denials (in its
    :class:`SymbolParity` too), then the account's orders and booked fills (several symbols only)."""
    for side in report.symbols:
        side.differences += _first_differences(side.backtest_orders, side.paper_orders, "order", side.symbol)
        side.differences += _first_differences(side.backtest_fills, side.paper_fills, "fill", side.symbol)
        if side.backtest_denied != side.paper_denied:  # the same decisions refused for the same reasons
            side.differences.append(f"{side.symbol}: denials: backtest {side.backtest_denied}, "
                                    f"paper {side.paper_denied}")  # fmt: skip
        report.differences += side.differences
    if len(report.symbols) > 1:  # one symbol's account is that symbol: said once
        report.differences += _first_differences(report.backtest_orders, report.paper_orders, "order", "account")
        report.differences += _first_differences(report.backtest_fills, report.paper_fills, "fill", "account")


def _window(series: Sequence[OHLCV], skip: int, bars_limit: int | None) -> list[OHLCV]:
    """Each series cut to the open times of the common window: ``bars_limit`` bars (``None``: all)
    after the first ``skip`` of the first series. ValueError when the data is shorter."""
    first = series[0]
    if skip >= len(first):
        raise ValueError(f"--skip {skip:,} leaves no bar of the {len(first):,} bars of the data")
    stop = len(first) if bars_limit is None else skip + bars_limit
    if stop > len(first):  # not "all": a typo that would replay the whole file through the paper path
        raise ValueError(f"--bars {bars_limit:,} is more than the {len(first) - skip:,} bars of the data"
                         + (f" after --skip {skip:,}" if skip else ""))  # fmt: skip
    start_ns, end_ns = int(first.open_time_ns[skip]), int(first.open_time_ns[stop - 1])
    cut = []
    for bars in series:
        lo = int(np.searchsorted(bars.open_time_ns, start_ns, side="left"))
        hi = int(np.searchsorted(bars.open_time_ns, end_ns, side="right"))
        cut.append(bars if (lo, hi) == (0, len(bars)) else bars.slice(lo, hi))
    return cut


def parity_markets(settings: Settings, *, skip: int = 0, bars_limit: int | None = None) -> list[PairMarket]:
    """The pairs of ``portfolio_pairs(settings)`` with their candles: one pair's from ``backtest.data_path``
    when given (else the store or the shared data), several pairs' from the store or the shared data cut
    to their common range; then the window ``skip``, ``bars_limit``. ValueError for a candle file with
    several pairs, a window outside the data, or no bar after the warm-up."""
    bt = settings.backtest
    pairs = portfolio_pairs(settings)
    info, _ = load_exchange_info_source(settings.rules, settings.data)
    instruments = [info.get(p.symbol) for p in pairs]
    timeframe = Timeframe(bt.timeframe)
    if len(pairs) == 1:
        series = [load_bars(instruments[0], timeframe, settings.data, path=bt.data_path).bars]
    elif bt.data_path is not None:
        raise ValueError(f"--data {bt.data_path} is one symbol's candles and the portfolio has {len(pairs)} "
                         "pairs: each symbol's candles come from the store or the shared data (drop --data, "
                         "or pick one pair with --symbol)")  # fmt: skip
    else:
        series = list(load_portfolio_bars(instruments, timeframe, settings.data).bars)
    series = _window(series, skip, bars_limit)
    shortest = min(len(bars) for bars in series)
    if bt.warmup_bars >= shortest:
        raise ValueError(f"no bar after the {bt.warmup_bars}-bar warm-up: {shortest} bars are too few")
    return [PairMarket(p.strategy, i, b) for p, i, b in zip(pairs, instruments, series, strict=True)]


def _counts(counter: Mapping[str, int]) -> dict[str, int]:
    return {reason: n for reason, n in sorted(counter.items()) if n}


def _order_rows(orders: Sequence[OrderReport]) -> list[OrderRow]:
    ordered = sorted(orders, key=lambda o: (o.ts_ns, str(o.client_order_id)))
    return [(str(o.symbol), str(o.client_order_id), o.side.value, o.quantity) for o in ordered]


def _paper_rows(data_dir: Path) -> tuple[list[OrderRow], list[FillRow]]:
    """The paper session's orders (by time, then id) and fills (in booking order), from its ledger."""
    store = SqlStore(f"sqlite:///{data_dir / 'ledger.db'}")
    try:
        orders = [(str(o["symbol"]), str(o["client_order_id"]), str(o["side"]), Decimal(o["quantity"]))
                  for o in sorted(store.orders(), key=lambda o: (o["ts_ns"], o["client_order_id"]))]  # fmt: skip
        fills = fill_rows(store.booked_fills())
    finally:
        store.close()
    return orders, fills


def run_parity(
    settings: Settings,
    data_dir: Path,
    *,
    bars_limit: int | None = None,
    skip: int = 0,
    on_bar: Callable[[PaperStatus], None] = lambda s: None,
    timeout_s: float = 3_600.0,
) -> ParityReport:
    """Backtest the portfolio, then paper-trade the same candles in lockstep, compare (each symbol, and
    the account). The candles: :func:`parity_markets` (``bars_limit`` bars per symbol after the first
    ``skip``; all when ``None``). Both sides start with ``backtest.initial_cash``, warm up
    ``backtest.warmup_bars`` bars of every symbol and pay ``backtest.fee_rate``."""
    bt = settings.backtest
    markets = parity_markets(settings, skip=skip, bars_limit=bars_limit)
    info, _ = load_exchange_info_source(settings.rules, settings.data)
    backtest = run_portfolio_backtest(settings, markets, info, warmup_bars=bt.warmup_bars, deposit=bt.initial_cash)
    config = PaperConfig(duration_s=timeout_s, data_dir=data_dir, warmup_bars=bt.warmup_bars, deposit=bt.initial_cash,
                         lockstep=True, bars={str(m.instrument.symbol): m.bars for m in markets})  # fmt: skip
    status = asyncio.run(run_paper(settings, config, on_bar))
    paper_orders, paper_fills = _paper_rows(data_dir)
    backtest_orders, backtest_fills = _order_rows(backtest.orders), fill_rows(backtest.fills)
    sides = []
    for outcome in backtest.symbols:  # in portfolio order
        s = str(outcome.symbol)
        row = status.symbols.get(s)
        sides.append(SymbolParity(
            s, [r for r in backtest_orders if r[0] == s], [r for r in paper_orders if r[0] == s],
            [r for r in backtest_fills if r[0] == s], [r for r in paper_fills if r[0] == s],
            _counts(outcome.stats.denied), _counts(row.denied if row is not None else {}),
        ))  # fmt: skip
    report = ParityReport(len(markets[0].bars), backtest_fills, paper_fills, backtest_orders, paper_orders, sides)
    compare(report)
    return report
