"""A stored, reviewable record of one portfolio backtest: ``runs/<run_id>/`` as for one pair
(:mod:`thunes.backtest.report_files`), with the portfolio's part added.

``config.json`` names every pair (symbol, strategy, parameters and their hash) and the data of each
symbol; ``metrics.json`` holds the account's :mod:`thunes.engine.performance` figures; ``portfolio.json``
each symbol's part, the total and buy-and-hold of the same symbols; ``trades.csv`` every symbol's
round trips; ``equity.csv`` the account's equity beside buy-and-hold's. ``report.html`` charts each
symbol's price with its entries and exits marked, then the account's equity beside buy-and-hold's
and its drawdown; ``summary.png`` the same, still.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from plotly.subplots import make_subplots

from thunes.app.audit_setup import audit_context
from thunes.app.config import Settings
from thunes.backtest.event import PairMarket
from thunes.backtest.portfolio_run import PortfolioRun, describe_strategies, measure_portfolio, prices_at
from thunes.backtest.report import PORTFOLIO_COLUMNS, Described, metric_rows, metrics_json, portfolio_rows
from thunes.backtest.report import portfolio_to_json as portfolio_json
from thunes.backtest.report_files import (
    add_trades,
    dates,
    html_page,
    html_table,
    iso,
    new_run_directory,
    write_json,
    write_trades,
)
from thunes.domain.exchange_info import ExchangeInfo
from thunes.engine.performance import drawdown_series

__all__ = [
    "PORTFOLIO_RUN_FILES",
    "PortfolioResearch",
    "evaluate_portfolio",
    "portfolio_config",
    "portfolio_html",
    "write_portfolio_png",
    "write_portfolio_run",
]

PORTFOLIO_RUN_FILES = ("config.json", "metrics.json", "portfolio.json", "trades.csv", "equity.csv", "report.html",
                       "summary.png")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PortfolioResearch:
    """One measured portfolio backtest and what its record says of it."""

    config: dict[str, Any]
    run: PortfolioRun
    strategies: list[Described]
    sources: list[str]
    cut: str | None


def evaluate_portfolio(settings: Settings, markets: list[PairMarket], info: ExchangeInfo, sources: list[str],
                       cut: str | None) -> PortfolioResearch:  # fmt: skip
    """Run the event-driven backtest of the pairs on one account and measure it (as ``thunes backtest``),
    with ``settings.backtest``'s warm-up and deposit; ``sources`` and ``cut`` say where the bars came from."""
    bt = settings.backtest
    run = measure_portfolio(settings, markets, info, warmup_bars=bt.warmup_bars, deposit=bt.initial_cash)
    strategies = describe_strategies(markets)
    return PortfolioResearch(portfolio_config(settings, run, strategies, sources, cut), run, strategies, sources, cut)


def portfolio_config(settings: Settings, run: PortfolioRun, strategies: list[Described], sources: list[str],
                     cut: str | None) -> dict[str, Any]:  # fmt: skip
    """``config.json``'s content: every pair, each symbol's data, the build and the backtest's inputs."""
    context, first = audit_context(settings), run.markets[0]
    pairs = [{"symbol": str(m.instrument.symbol), "strategy": sid, "parameters": params, "param_hash": phash}
             for m, (sid, params, phash) in zip(run.markets, strategies, strict=True)]  # fmt: skip
    backtest = {"engine": "event", "warmup_bars": run.warmup_bars, "deposit": str(run.deposit),
                "quote_asset": first.instrument.quote_asset, "fee_rate": str(settings.backtest.fee_rate)}  # fmt: skip
    return {
        "strategy": "portfolio",
        "pairs": pairs,
        "symbol": ",".join(str(m.instrument.symbol) for m in run.markets),
        "timeframe": first.bars.timeframe.value,
        "app_version": context.app_version,
        "git_sha": context.git_sha,
        "data": {str(m.instrument.symbol): _data(m, source) for m, source in zip(run.markets, sources, strict=True)},
        "cut": cut,
        "backtest": backtest,
    }


def _data(market: PairMarket, source: str) -> dict[str, Any]:
    bars = market.bars
    first, last = int(bars.open_time_ns[0]), int(bars.open_time_ns[-1]) + bars.timeframe.nanoseconds
    return {"source": source, "bars": len(bars), "start": iso(first), "end": iso(last), "start_ns": first,
            "end_ns": last}  # fmt: skip


def write_portfolio_run(research: PortfolioResearch, out_root: Path, now: datetime) -> Path:
    """Write every file of :data:`PORTFOLIO_RUN_FILES` under a new ``out_root/<run_id>/`` and return it."""
    run = research.run
    directory = new_run_directory(research.config, out_root, now)
    write_json(directory / "metrics.json", metrics_json(run.performance))
    document = portfolio_json(run, research.strategies, research.sources, research.cut)
    write_json(directory / "portfolio.json", {k: v for k, v in document.items() if k != "trades"})
    write_trades(directory / "trades.csv", run.trips)
    _write_equity(directory / "equity.csv", run)
    (directory / "report.html").write_text(portfolio_html(research, directory.name), encoding="utf-8")
    write_portfolio_png(research, directory / "summary.png")
    return directory


def _write_equity(path: Path, run: PortfolioRun) -> None:
    """Every point's time, the account's exact equity and drawdown, and buy-and-hold's value."""
    drawdown = drawdown_series(run.values).tolist()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("time", "time_ns", "equity", "drawdown", "buy_and_hold"))
        for (ns, value), dd, held in zip(run.result.equity, drawdown, run.hold.values.tolist(), strict=True):
            writer.writerow((iso(ns), ns, value, repr(dd), repr(held)))


def _figure(run: PortfolioRun) -> go.Figure:
    """Each symbol's close with its entries and exits, then equity beside buy-and-hold, then drawdown."""
    symbols = [str(m.instrument.symbol) for m in run.markets]
    n = len(symbols)
    titles = (*(f"{s}: close and trades" for s in symbols), "Equity", "Drawdown")
    fig = make_subplots(rows=n + 2, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[*([0.5 / n] * n), 0.32, 0.18], subplot_titles=titles)  # fmt: skip
    when = dates(run.times)
    for row, (market, symbol) in enumerate(zip(run.markets, symbols, strict=True), start=1):
        prices = prices_at(market.bars, market.instrument, run.times)
        line = {"width": 1, "color": "#888"}
        fig.add_trace(go.Scatter(x=when, y=prices, name=f"{symbol} close", line=line), row=row, col=1)
        add_trades(fig, [t for t in run.trips if t.symbol == symbol], row, legend=row == 1)
    fig.add_trace(go.Scatter(x=when, y=run.values, name="equity", line={"color": "#1f77b4"}), row=n + 1, col=1)
    fig.add_trace(go.Scatter(x=when, y=run.hold.values, name="buy & hold", line={"color": "#ff7f0e", "dash": "dot"}),
                  row=n + 1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=when, y=drawdown_series(run.values) * 100, name="drawdown %", fill="tozeroy",
                             line={"color": "#d62728"}), row=n + 2, col=1)  # fmt: skip
    fig.update_layout(height=320 * n + 500, hovermode="x unified", margin={"t": 40, "b": 30})
    return fig


def _figures(research: PortfolioResearch) -> list[tuple[str, str]]:
    run, quote = research.run, research.config["backtest"]["quote_asset"]
    hold = run.hold
    return [
        ("final equity", f"{run.final_equity:,.2f} {quote}"),
        ("buy & hold", f"{hold.total_return(run.deposit) * 100:,.3f} % (equal weights, same fee)"),
        ("buy & hold sharpe", f"{hold.performance.sharpe:,.4f}"),
        ("buy & hold max drawdown", f"{hold.performance.max_drawdown * 100:,.3f} %"),
        *metric_rows(run.performance, quote),
    ]


def portfolio_html(research: PortfolioResearch, title: str) -> str:
    """A self-contained HTML page: the pairs, the account beside buy-and-hold, each symbol's part, charts."""
    c = research.config
    described = [
        *((f"{p['symbol']}", f"{p['strategy']} {json.dumps(p['parameters'])}") for p in c["pairs"]),
        ("market", f"{len(c['pairs'])} symbols {c['timeframe']}, {research.run.warmup_bars:,} warm-up bars each"),
        ("period", f"{iso(int(research.run.times[0]))} → {iso(int(research.run.times[-1]))} (closes)"),
        *((f"data {s}", f"{d['source']}, {d['bars']:,} bars") for s, d in c["data"].items()),
        *([("cut", c["cut"])] if c["cut"] else []),
        ("start cash", f"{c['backtest']['deposit']} {c['backtest']['quote_asset']}"),
        ("build", f"{c['app_version']} {c['git_sha'][:12]}"),
    ]
    blocks = [
        ("Run", html_table(described)),
        ("Account", html_table(_figures(research))),
        ("Per symbol", html_table(portfolio_rows(research.run), PORTFOLIO_COLUMNS)),
    ]
    return html_page(title, blocks, _figure(research.run))


def write_portfolio_png(research: PortfolioResearch, path: Path) -> None:
    """Each symbol's close with its entries and exits, equity beside buy-and-hold, drawdown, and the
    headline figures, rendered by Agg (no display needed)."""
    run = research.run
    n, when = len(run.markets), dates(run.times)
    fig = Figure(figsize=(12, 4 + 1.6 * n), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(n + 2, 2, width_ratios=[3, 1], height_ratios=[*([1] * n), 2, 1])
    first = None
    for row, market in enumerate(run.markets):
        symbol = str(market.instrument.symbol)
        ax = fig.add_subplot(grid[row, 0], sharex=first)
        first = first or ax
        ax.plot(when, prices_at(market.bars, market.instrument, run.times), color="#888", linewidth=0.8)
        trips = [t for t in run.trips if t.symbol == symbol]
        ax.scatter(dates([t.entry_ns for t in trips]), [float(t.entry_price) for t in trips], marker="^", s=12,
                   color="green", label="entry")  # fmt: skip
        exits = [t for t in trips if t.exit_ns is not None]
        ax.scatter(dates([t.exit_ns for t in exits]), [float(t.exit_price or 0) for t in exits], marker="v", s=12,
                   color="red", label="exit")  # fmt: skip
        ax.set_title(f"{symbol}: close, entries and exits", fontsize=9)
        ax.grid(alpha=0.3)
    ax_equity = fig.add_subplot(grid[n, 0], sharex=first)
    ax_equity.plot(when, run.values, color="#1f77b4", linewidth=1, label="equity")
    ax_equity.plot(when, run.hold.values, color="#ff7f0e", linewidth=1, linestyle=":", label="buy & hold")
    ax_equity.set_title(f"portfolio of {n} pairs, {research.config['timeframe']}: equity", fontsize=9)
    ax_equity.legend(fontsize=8)
    ax_equity.grid(alpha=0.3)
    ax_dd = fig.add_subplot(grid[n + 1, 0], sharex=first)
    ax_dd.fill_between(when, drawdown_series(run.values) * 100, 0, color="#d62728", alpha=0.5)
    ax_dd.set_title("drawdown (%)", fontsize=9)
    ax_dd.grid(alpha=0.3)
    ax_text = fig.add_subplot(grid[:, 1])
    ax_text.axis("off")
    lines = [f"{k}: {v}" for k, v in _figures(research)]
    lines += ["", "per symbol: trades, PnL, return, B&H"]
    lines += [f"{r[0]}: {r[2]}, {r[3]}, {r[6]}, {r[7]}" for r in portfolio_rows(run)]
    ax_text.text(0, 1, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, format="png")
