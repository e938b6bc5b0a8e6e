"""Parity: one strategy on one recorded data set, run as a backtest and as a paper session on the
venue server, compared order by order and fill by fill.

The paper side is the real thing (ccxt REST and WebSocket on loopback, SQLite ledger, risk state
on disk), with one difference from ``thunes trade``: the replay is *lockstep*, it waits after each
closed candle until the trader has acted on it, so both sides meet the same market. Any difference
left is a difference between the backtest and the code that trades: exactly what this must catch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from thunes.adapters.storage.sql_store import SqlStore
from thunes.app.config import Settings
from thunes.app.sources import load_bars, load_exchange_info_source
from thunes.backtest.event import run_event_backtest
from thunes.domain.market import Timeframe
from thunes.domain.orders import Fill
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

__all__ = ["FillRow", "ParityReport", "fill_rows", "run_parity"]

FillRow = tuple[str, str, Decimal, Decimal, Decimal, str, int]


def fill_rows(fills: list[Fill]) -> list[FillRow]:
    """What must be equal: order id, side, price, quantity, fee and fee asset, time."""
    return [(str(f.client_order_id), f.side.value, f.price, f.quantity, f.commission, f.commission_asset, f.ts_ns)
            for f in fills]  # fmt: skip


@dataclass(slots=True)
class ParityReport:
    bars: int
    backtest_fills: list[FillRow]
    paper_fills: list[FillRow]
    backtest_orders: list[tuple[str, str, Decimal]]
    paper_orders: list[tuple[str, str, Decimal]]
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def _compare(report: ParityReport) -> None:
    orders = ("order", report.backtest_orders, report.paper_orders)
    fills = ("fill", report.backtest_fills, report.paper_fills)
    for kind, left, right in (orders, fills):
        if len(left) != len(right):
            report.differences.append(f"{kind}s: backtest {len(left)}, paper {len(right)}")
        for i, (a, b) in enumerate(zip(left, right, strict=False)):
            if a != b:
                report.differences.append(f"{kind} {i + 1}: backtest {a} != paper {b}")
                break


def run_parity(
    settings: Settings,
    data_dir: Path,
    *,
    bars_limit: int | None = None,
    on_bar: Callable[[PaperStatus], None] = lambda s: None,
    timeout_s: float = 3_600.0,
) -> ParityReport:
    """Backtest, then paper-trade the same candles (the first ``bars_limit`` when given), compare. Both
    sides start with ``backtest.initial_cash``, warm up ``backtest.warmup_bars`` and pay ``backtest.fee_rate``."""
    bt = settings.backtest
    warmup_bars, deposit = bt.warmup_bars, bt.initial_cash
    info, _ = load_exchange_info_source(settings.rules, settings.data)
    instrument = info.get(bt.symbol)
    bars = load_bars(instrument, Timeframe(bt.timeframe), settings.data, path=bt.data_path).bars
    if bars_limit is not None:
        if bars_limit > len(bars):  # not "all": a typo that would replay the whole file through the paper path
            raise ValueError(f"--bars {bars_limit:,} is more than the {len(bars):,} bars of the data")
        bars = bars.slice(0, bars_limit)
    if warmup_bars >= len(bars):
        raise ValueError(f"no bar after the {warmup_bars}-bar warm-up: {len(bars)} bars are too few")
    backtest = run_event_backtest(settings, instrument, bars, info, warmup_bars=warmup_bars, deposit=deposit)
    config = PaperConfig(duration_s=timeout_s, data_dir=data_dir, warmup_bars=warmup_bars, deposit=deposit,
                         lockstep=True, bars=bars)  # fmt: skip
    asyncio.run(run_paper(settings, config, on_bar))
    store = SqlStore(f"sqlite:///{data_dir / 'ledger.db'}")
    try:
        paper_fills = store.fills(str(instrument.symbol))
        paper_orders = [(str(o["client_order_id"]), str(o["side"]), Decimal(o["quantity"]))
                        for o in sorted(store.orders(), key=lambda o: (o["ts_ns"], o["client_order_id"]))]  # fmt: skip
    finally:
        store.close()
    backtest_orders = [(str(o.client_order_id), o.side.value, o.quantity)
                       for o in sorted(backtest.orders, key=lambda o: (o.ts_ns, o.client_order_id))]  # fmt: skip
    report = ParityReport(len(bars), fill_rows(backtest.fills), fill_rows(paper_fills), backtest_orders, paper_orders)
    _compare(report)
    return report
