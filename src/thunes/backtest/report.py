"""Render a measured backtest for people (rich tables) and for programs (JSON).

The figures are :mod:`thunes.engine.performance`'s, labelled once (:func:`metric_rows`) for the
console, ``thunes report backtest``'s HTML and PNG alike. No plotting library is imported here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from thunes.backtest.run import BacktestRun
from thunes.domain.instrument import Instrument
from thunes.engine.performance import Performance
from thunes.features.ohlcv import OHLCV, to_ticks

__all__ = ["engine_label", "final_equity", "metric_rows", "metrics_json", "render_report", "result_to_json"]


def metrics_json(performance: Performance) -> dict[str, Any]:
    """The performance figures as strict JSON: NaN and infinities (undefined ratios) become ``null``."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in performance.as_dict().items()}


def metric_rows(performance: Performance, quote: str = "") -> list[tuple[str, str]]:
    """Label and formatted value of each headline figure, shared by the HTML, PNG and console."""
    p, unit = performance, f" {quote}" if quote else ""
    return [
        ("total return", _pct(p.total_return)),
        ("annual return (CAGR)", _pct(p.annual_return)),
        ("annual volatility", _pct(p.annual_volatility)),
        ("sharpe", _num(p.sharpe)),
        ("sortino", _num(p.sortino)),
        ("calmar", _num(p.calmar)),
        ("max drawdown", _pct(p.max_drawdown)),
        ("max drawdown duration", f"{p.max_drawdown_duration_days:,.1f} days"),
        ("closed trades", f"{p.trades:,}" + (f" (+{p.open_trades} open)" if p.open_trades else "")),
        ("win rate", _pct(p.win_rate)),
        ("profit factor", _num(p.profit_factor)),
        ("expectancy", f"{_num(p.expectancy)}{unit} per trade"),
        ("exposure", _pct(p.exposure)),
        ("fees", f"{_num(p.total_fees)}{unit}"),
        ("trades per pair", ", ".join(f"{k} {v}" for k, v in p.trades_per_pair.items()) or "none"),
    ]


def _pct(value: float) -> str:
    return f"{value * 100:,.3f} %" if math.isfinite(value) else "n/a"


def _num(value: float) -> str:
    return f"{value:,.4f}" if math.isfinite(value) else ("∞" if value == math.inf else "n/a")


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _key_values(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    for key, value in rows:
        table.add_row(key, value)
    return table


def engine_label(run: BacktestRun) -> str:
    """Which path traded: the event-driven engine, or the fast path (kernel, or its fallback and why)."""
    if run.engine == "event":
        return "event-driven engine core"
    return "fast: compiled kernel" if run.kernel else f"fast: engine core ({run.fallback_reason})"


def final_equity(run: BacktestRun, bars: OHLCV, instrument: Instrument) -> Decimal:
    """Exact quote + base at the last close, from the deposit and every fill."""
    quote, base = run.balances(instrument)
    last: Decimal = int(to_ticks(bars.close[-1:], instrument.tick_size)[0]) * instrument.tick_size
    return quote + base * last


def buy_and_hold(run: BacktestRun, bars: OHLCV) -> float:
    """Holding the base asset over the measured span: the first measured close to the last."""
    return float(bars.close[-1] / bars.close[run.warmup_bars] - 1.0)


def _outcome(run: BacktestRun) -> dict[str, Any]:
    stats = run.result.stats
    return {
        "signals": stats.signals,
        "orders": stats.submitted,
        "fills": len(run.fills),
        "denied": dict(sorted(stats.denied.items())),
        "rejected": {str(k): v for k, v in sorted(stats.rejected.items())},
    }


def render_report(
    console: Console,
    run: BacktestRun,
    bars: OHLCV,
    instrument: Instrument,
    strategy: tuple[str, dict[str, Any], str],
    source: str,
    instruments: str,
) -> None:
    """Print the report: run description, performance and trade statistics.

    ``strategy`` is the strategy id, its parameters and its parameter hash."""
    strategy_id, params, param_hash = strategy
    quote = instrument.quote_asset
    first_measured = int(bars.open_time_ns[run.warmup_bars])
    outcome = _outcome(run)
    denied = ", ".join(f"{k} {v}" for k, v in outcome["denied"].items()) or "none"
    rejected = ", ".join(f"{k} {v}" for k, v in outcome["rejected"].items()) or "none"
    described = [
        ("strategy", f"{strategy_id}  {params}"),
        ("param hash", param_hash[:16]),
        ("market", f"{bars.symbol} {bars.timeframe.value}, {len(bars):,} bars ({run.warmup_bars:,} warm-up)"),
        ("period", f"{_when(first_measured)} → {_when(int(bars.open_time_ns[-1]))} UTC"),
        ("data", source),
        ("filters", instruments),
        ("engine", engine_label(run)),
        ("start cash", f"{run.deposit:,.2f} {quote}"),
    ]
    figures = [
        ("final equity", f"{final_equity(run, bars, instrument):,.2f} {quote}"),
        ("buy & hold", _pct(buy_and_hold(run, bars))),
        *metric_rows(run.performance, quote),
        ("orders", f"{outcome['orders']:,} ({outcome['fills']:,} fills) from {outcome['signals']:,} signals"),
        ("denied by risk", denied),
        ("rejected by venue", rejected),
    ]
    body = Group(_key_values("Run", described), "", _key_values("Performance", figures))
    console.print(Panel(body, title="THUNES backtest", subtitle="signals at the close, MARKET orders on the venue"))


def result_to_json(
    run: BacktestRun,
    bars: OHLCV,
    instrument: Instrument,
    strategy: tuple[str, dict[str, Any], str],
    source: str,
) -> dict[str, Any]:
    """A JSON-ready summary; money as strings so nothing is rounded on the way out, ``metrics`` as
    ``thunes report backtest`` writes them (``metrics.json``)."""
    strategy_id, params, param_hash = strategy
    return {
        "strategy_id": strategy_id,
        "param_hash": param_hash,
        "parameters": params,
        "symbol": bars.symbol,
        "timeframe": bars.timeframe.value,
        "bars": len(bars),
        "warmup_bars": run.warmup_bars,
        "start": _when(int(bars.open_time_ns[0])),
        "end": _when(int(bars.open_time_ns[-1])),
        "data_source": source,
        "engine": run.engine,
        "kernel": run.kernel,
        "fallback_reason": run.fallback_reason,
        "initial_cash": str(run.deposit),
        "final_equity": str(final_equity(run, bars, instrument)),
        "fees": str(sum((t.fees for t in run.trips), Decimal(0))),
        "metrics": metrics_json(run.performance),
        "buy_and_hold_return": buy_and_hold(run, bars),
        **_outcome(run),
        "trades": [
            {
                "entry": _when(t.entry_ns),
                "entry_price": str(t.entry_price),
                "quantity": str(t.quantity),
                "exit": None if t.exit_ns is None else _when(t.exit_ns),
                "exit_price": None if t.exit_price is None else str(t.exit_price),
                "pnl": str(t.pnl) if t.closed else None,
                "fees": str(t.fees),
                "fills": t.fills,
            }
            for t in run.trips
        ],
    }
