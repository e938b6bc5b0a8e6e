"""Render a measured backtest for people (rich tables) and for programs (JSON): one pair, or a
portfolio (the account's figures, each symbol's part and the total, beside buy-and-hold).

The figures are :mod:`thunes.engine.performance`'s, labelled once (:func:`metric_rows`) for the
console, ``thunes report backtest``'s HTML and PNG alike. No plotting library is imported here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from thunes.backtest.portfolio_run import PortfolioRun, SymbolFigures
from thunes.backtest.portfolio_run import buy_and_hold as held
from thunes.backtest.run import BacktestRun
from thunes.domain.instrument import Instrument
from thunes.engine.performance import Performance, RoundTrip, periods_per_year
from thunes.features.ohlcv import OHLCV, to_ticks

__all__ = [
    "PORTFOLIO_COLUMNS",
    "Described",
    "engine_label",
    "final_equity",
    "metric_rows",
    "metrics_json",
    "portfolio_rows",
    "portfolio_to_json",
    "render_portfolio",
    "render_report",
    "result_to_json",
]

Described = tuple[str, dict[str, Any], str]
"""A strategy as reports show it: its id, its parameters and its parameter hash."""


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


def engine_label(run: BacktestRun | PortfolioRun) -> str:
    """Which path traded: the event-driven engine, or the fast path (kernel, or its fallback and why)."""
    if run.engine == "event":
        return "event-driven engine core"
    return "fast: compiled kernel" if run.kernel else f"fast: engine core ({run.fallback_reason})"


def final_equity(run: BacktestRun, bars: OHLCV, instrument: Instrument) -> Decimal:
    """Exact quote + base at the last close, from the deposit and every fill."""
    quote, base = run.balances(instrument)
    last: Decimal = int(to_ticks(bars.close[-1:], instrument.tick_size)[0]) * instrument.tick_size
    return quote + base * last


def buy_and_hold(run: BacktestRun, bars: OHLCV, instrument: Instrument) -> float:
    """Holding the base asset over the measured span, bought at the first measured close and sold at
    the last with the backtest's fee both ways (as a portfolio's buy-and-hold of one symbol)."""
    ppy = periods_per_year(bars.timeframe.nanoseconds)
    return held([(instrument, bars)], run.times, run.deposit, run.fee_rate, ppy).total_return(run.deposit)


def _outcome(run: BacktestRun | PortfolioRun) -> dict[str, Any]:
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
        ("buy & hold", _pct(buy_and_hold(run, bars, instrument))),
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
        "buy_and_hold_return": buy_and_hold(run, bars, instrument),
        **_outcome(run),
        "trades": [_trip(t) for t in run.trips],
    }


def _trip(t: RoundTrip) -> dict[str, Any]:
    return {
        "entry": _when(t.entry_ns),
        "entry_price": str(t.entry_price),
        "quantity": str(t.quantity),
        "exit": None if t.exit_ns is None else _when(t.exit_ns),
        "exit_price": None if t.exit_price is None else str(t.exit_price),
        "pnl": str(t.pnl) if t.closed else None,
        "fees": str(t.fees),
        "fills": t.fills,
    }


def _short_pct(value: float) -> str:
    return f"{value * 100:,.2f} %" if math.isfinite(value) else "n/a"


def portfolio_rows(run: PortfolioRun) -> list[tuple[str, ...]]:
    """The per-symbol table (:data:`PORTFOLIO_COLUMNS`), one row a symbol then the total. Shared by the
    console and the HTML; money in the quote asset, at cents."""

    def row(f: SymbolFigures) -> tuple[str, ...]:
        trades = f"{f.trades:,}" + (f" (+{f.open_trades})" if f.open_trades else "")
        return (f.symbol, f.strategy_id.rsplit("-", 1)[0], trades, f"{f.pnl:,.2f}", f"{f.fees:,.2f}",
                _short_pct(f.exposure), _short_pct(f.contribution), _short_pct(f.buy_and_hold))  # fmt: skip

    p, fees = run.performance, sum((f.fees for f in run.symbols), Decimal(0))
    total = ("total", f"{len(run.symbols)} pairs", f"{p.trades:,}" + (f" (+{p.open_trades})" if p.open_trades else ""),
             f"{run.final_equity - run.deposit:,.2f}", f"{fees:,.2f}", _short_pct(p.exposure),
             _short_pct(p.total_return), _short_pct(run.hold.total_return(run.deposit)))  # fmt: skip
    return [*(row(f) for f in run.symbols), total]


PORTFOLIO_COLUMNS = ("symbol", "strategy", "trades", "PnL", "fees", "exposure", "return", "buy & hold")
"""The per-symbol table's columns: closed trades (+ open), PnL and fees in the quote asset, the share of
the span with a position open, the PnL over the deposit (the total's is the account's return), and the
symbol's own buy-and-hold (the total's: equal weights of the deposit)."""


def render_portfolio(
    console: Console,
    run: PortfolioRun,
    strategies: list[Described],
    sources: list[str],
    instruments: str,
) -> None:
    """Print a portfolio's report: the run, the account's performance beside buy-and-hold, then each
    symbol's part and the total (``strategies`` and ``sources`` in portfolio order)."""
    quote = run.markets[0].instrument.quote_asset
    first = run.markets[0].bars
    pairs = [
        f"{m.instrument.symbol} {sid} {params}" for m, (sid, params, _) in zip(run.markets, strategies, strict=True)
    ]
    described = [
        ("pairs", "\n".join(pairs)),
        ("market", f"{len(run.markets)} symbols {first.timeframe.value}, "
                   f"{', '.join(f'{len(m.bars):,}' for m in run.markets)} bars ({run.warmup_bars:,} warm-up each)"),
        ("period", f"{_when(int(run.times[0]))} → {_when(int(run.times[-1]))} UTC (closes)"),
        ("data", "\n".join(f"{m.instrument.symbol}: {source}" for m, source in zip(run.markets, sources, strict=True))),
        ("filters", instruments),
        ("engine", engine_label(run)),
        ("start cash", f"{run.deposit:,.2f} {quote}"),
    ]  # fmt: skip
    outcome, hold = _outcome(run), run.hold
    figures = [
        ("final equity", f"{run.final_equity:,.2f} {quote}"),
        ("buy & hold", f"{_pct(hold.total_return(run.deposit))} (equal weights, same fee; sharpe "
                       f"{_num(hold.performance.sharpe)}, max drawdown {_pct(hold.performance.max_drawdown)})"),
        *metric_rows(run.performance, quote),
        ("orders", f"{outcome['orders']:,} ({outcome['fills']:,} fills) from {outcome['signals']:,} signals"),
        ("denied by risk", ", ".join(f"{k} {v}" for k, v in outcome["denied"].items()) or "none"),
        ("rejected by venue", ", ".join(f"{k} {v}" for k, v in outcome["rejected"].items()) or "none"),
    ]  # fmt: skip
    body = Group(_key_values("Run", described), "", _key_values("Performance (account)", figures))
    console.print(Panel(body, title="THUNES backtest: portfolio", subtitle="one account, shared risk; MARKET orders"))
    table = Table(title=f"Per symbol (money in {quote}; return: PnL over the start cash)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)  # fmt: skip
    for name in PORTFOLIO_COLUMNS:
        table.add_column(name, justify="left" if name in ("symbol", "strategy") else "right", no_wrap=True)
    rows = portfolio_rows(run)
    for i, cells in enumerate(rows):
        table.add_row(*cells, end_section=i == len(rows) - 2)
    console.print(table)


def portfolio_to_json(run: PortfolioRun, strategies: list[Described], sources: list[str],
                      cut: str | None) -> dict[str, Any]:  # fmt: skip
    """A portfolio's result, JSON-ready (money as strings): the account's figures (``metrics`` as
    ``thunes report backtest`` writes them), ``symbols`` (each one's part), ``total`` and ``buy_and_hold``."""
    hold, first = run.hold, run.markets[0].bars
    fees = sum((f.fees for f in run.symbols), Decimal(0))
    return {
        "pairs": [{"symbol": str(m.instrument.symbol), "strategy_id": sid, "param_hash": phash, "parameters": params}
                  for m, (sid, params, phash) in zip(run.markets, strategies, strict=True)],
        "timeframe": first.timeframe.value,
        "warmup_bars": run.warmup_bars,
        "start": _when(int(run.times[0])),
        "end": _when(int(run.times[-1])),
        "cut": cut,
        "engine": run.engine,
        "kernel": run.kernel,
        "fallback_reason": run.fallback_reason,
        "initial_cash": str(run.deposit),
        "final_equity": str(run.final_equity),
        "metrics": metrics_json(run.performance),
        **_outcome(run),
        "symbols": [
            {"symbol": f.symbol, "strategy_id": f.strategy_id, "bars": len(m.bars), "data_source": source,
             "trades": f.trades, "open_trades": f.open_trades, "pnl": str(f.pnl), "fees": str(f.fees),
             "exposure": _finite(f.exposure), "return": f.contribution, "buy_and_hold_return": f.buy_and_hold,
             "position": str(f.position)}
            for f, m, source in zip(run.symbols, run.markets, sources, strict=True)
        ],
        "total": {"trades": run.performance.trades, "open_trades": run.performance.open_trades,
                  "pnl": str(run.final_equity - run.deposit), "fees": str(fees),
                  "exposure": _finite(run.performance.exposure), "return": run.performance.total_return},
        "buy_and_hold": {"return": hold.total_return(run.deposit), "final_equity": str(hold.final),
                         "fee_rate": str(hold.fee_rate), "metrics": metrics_json(hold.performance),
                         "symbols": hold.returns},
        "trades": [{"symbol": t.symbol, **_trip(t)} for t in run.trips],
    }  # fmt: skip


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
