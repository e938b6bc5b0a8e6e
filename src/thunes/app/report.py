"""Render a backtest result for people (rich tables) and for programs (JSON)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from thunes.engine.simple_backtest import BacktestResult

__all__ = ["render_report", "result_to_json"]


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _pct(value: float) -> str:
    return f"{value * 100:,.2f} %" if math.isfinite(value) else "∞"


def _num(value: float) -> str:
    return f"{value:,.3f}" if math.isfinite(value) else "∞"


def _money(value: Decimal, asset: str) -> str:
    return f"{value:,.2f} {asset}"


def _key_values(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    for key, value in rows:
        table.add_row(key, value)
    return table


def _run_table(result: BacktestResult, params: dict[str, Any], source: str, instruments: str) -> Table:
    quote = result.final_position.quote_asset
    rows = [
        ("strategy", f"{result.strategy_id}  {params}"),
        ("param hash", result.param_hash[:16]),
        ("market", f"{result.symbol} {result.timeframe}, {result.bars:,} bars"),
        ("period", f"{_when(result.start_ns)} → {_when(result.end_ns)} UTC"),
        ("data", source),
        ("filters", instruments),
        ("start cash", _money(result.initial_cash, quote)),
    ]
    return _key_values("Run", rows)


def _performance_table(result: BacktestResult) -> Table:
    m = result.metrics
    quote = result.final_position.quote_asset
    rows = [
        ("final equity", _money(result.final_equity, quote)),
        ("total return", _pct(m.total_return)),
        ("buy & hold", _pct(result.buy_and_hold_return)),
        ("annual return", _pct(m.annual_return)),
        ("sharpe", _num(m.sharpe)),
        ("sortino", _num(m.sortino)),
        ("calmar", _num(m.calmar)),
        ("max drawdown", f"{_pct(m.max_drawdown)} over {m.max_drawdown_bars:,} bars"),
        ("fees paid", _money(result.fees, quote)),
    ]
    return _key_values("Performance", rows)


def _trades_table(result: BacktestResult) -> Table:
    m = result.metrics
    quote = result.final_position.quote_asset
    still_open = sum(1 for t in result.trades if t.exit_ns is None)
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items())) or "none"
    rows = [
        ("closed trades", f"{m.trades:,}" + (f" (+{still_open} open)" if still_open else "")),
        ("win rate", _pct(m.win_rate)),
        ("profit factor", _num(m.profit_factor)),
        ("expectancy", f"{m.expectancy:,.2f} {quote} per trade"),
        ("exposure", _pct(m.exposure)),
        ("orders not sent", skipped),
        (
            "still held" if still_open else "dust left",
            f"{result.final_position.quantity.normalize()} {result.final_position.base_asset}",
        ),
    ]
    return _key_values("Trades", rows)


def render_report(
    console: Console, result: BacktestResult, params: dict[str, Any], source: str, instruments: str
) -> None:
    """Print the report: run description, performance and trade statistics."""
    body = Group(
        _run_table(result, params, source, instruments), "", _performance_table(result), "", _trades_table(result)
    )
    console.print(Panel(body, title="THUNES backtest", subtitle="signals at close, fills at next open"))


def result_to_json(result: BacktestResult, params: dict[str, Any], source: str) -> dict[str, Any]:
    """A JSON-ready summary; money as strings so nothing is rounded on the way out."""
    return {
        "strategy_id": result.strategy_id,
        "param_hash": result.param_hash,
        "parameters": params,
        "symbol": result.symbol,
        "timeframe": result.timeframe,
        "bars": result.bars,
        "start": _when(result.start_ns),
        "end": _when(result.end_ns),
        "data_source": source,
        "initial_cash": str(result.initial_cash),
        "final_equity": str(result.final_equity),
        "fees": str(result.fees),
        "metrics": result.metrics.as_dict(),
        "buy_and_hold_return": result.buy_and_hold_return,
        "skipped": result.skipped,
        "trades": [
            {
                "entry": _when(t.entry_ns),
                "entry_price": str(t.entry_price),
                "quantity": str(t.quantity),
                "exit": None if t.exit_ns is None else _when(t.exit_ns),
                "exit_price": None if t.exit_price is None else str(t.exit_price),
                "pnl": None if t.pnl is None else str(t.pnl),
            }
            for t in result.trades
        ],
    }
