"""A stored, reviewable record of one event-driven backtest: ``runs/<run_id>/``.

Each run directory holds what is needed to trust and redo it: ``config.json`` (strategy,
parameters and their hash, data range, symbol, timeframe, build), ``metrics.json`` (the
:mod:`thunes.engine.performance` figures, verbatim), ``trades.csv``, ``equity.csv``, an offline
``report.html`` (plotly with its JavaScript embedded, so it opens without internet) and a
``summary.png`` (matplotlib, Agg). ``run_id`` is the UTC start time plus a short hash of the
configuration, so runs sort by time and identical setups are recognisable.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from plotly.subplots import make_subplots

from thunes.app.audit_setup import audit_context
from thunes.app.composition import strategy_for
from thunes.app.config import Settings
from thunes.backtest.event import backtest_inputs
from thunes.backtest.report import metric_rows, metrics_json
from thunes.backtest.run import measure_backtest
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.engine.performance import (
    Performance,
    RoundTrip,
    drawdown_series,
    equity_arrays,
)
from thunes.features.ohlcv import OHLCV

__all__ = [
    "RUN_FILES",
    "ResearchRun",
    "add_trades",
    "dates",
    "evaluate",
    "html_page",
    "html_report",
    "html_table",
    "iso",
    "metric_rows",
    "metrics_json",
    "new_run_directory",
    "run_id",
    "write_equity",
    "write_json",
    "write_run",
    "write_summary_png",
    "write_trades",
]

RUN_FILES = ("config.json", "metrics.json", "trades.csv", "equity.csv", "report.html", "summary.png")
_TRADE_COLUMNS = (
    "symbol",
    "entry_time",
    "exit_time",
    "entry_ns",
    "exit_ns",
    "quantity",
    "entry_price",
    "exit_price",
    "pnl",
    "fees",
    "fills",
)


@dataclass(frozen=True, slots=True)
class ResearchRun:
    """One evaluated backtest: its configuration record, inputs and results."""

    config: dict[str, Any]
    bars: OHLCV
    equity: Sequence[tuple[int, Decimal]]  # an EquityCurve from the backtest: compact, exact
    trips: list[RoundTrip]
    performance: Performance


def iso(ns: int) -> str:
    """A time in ns as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_config(
    settings: Settings, instrument: Instrument, bars: OHLCV, source: str, warmup_bars: int, deposit: Decimal
) -> dict[str, Any]:
    context = audit_context(settings)
    first, last = int(bars.open_time_ns[0]), int(bars.open_time_ns[-1]) + bars.timeframe.nanoseconds
    return {
        "strategy": settings.strategy.name,
        "parameters": dict(strategy_for(settings, instrument.tick_size).parameters),
        "strategy_settings": settings.strategy.model_dump(mode="json"),
        "param_hash": context.param_hash,
        "app_version": context.app_version,
        "git_sha": context.git_sha,
        "symbol": str(instrument.symbol),
        "timeframe": bars.timeframe.value,
        "data": {
            "source": source,
            "bars": len(bars),
            "start": iso(first),
            "end": iso(last),
            "start_ns": first,
            "end_ns": last,
        },
        "backtest": {
            "engine": "event",
            "warmup_bars": warmup_bars,
            "deposit": str(deposit),
            "quote_asset": instrument.quote_asset,
            "fee_rate": str(settings.backtest.fee_rate),
        },
    }


def evaluate(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    source: str,
    *,
    warmup_bars: int | None = None,
    deposit: Decimal | None = None,
) -> ResearchRun:
    """Run the event-driven backtest of ``settings.strategy`` on ``bars`` and measure it (as ``thunes backtest``);
    ``warmup_bars`` and ``deposit`` default to ``settings.backtest``'s."""
    warmup_bars, deposit = backtest_inputs(settings, warmup_bars, deposit)
    run = measure_backtest(settings, instrument, bars, info, warmup_bars=warmup_bars, deposit=deposit)
    assert run.equity is not None  # the event path keeps its exact curve
    config = _run_config(settings, instrument, bars, source, warmup_bars, deposit)
    return ResearchRun(config, bars, run.equity, run.trips, run.performance)


def run_id(config: dict[str, Any], now: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ-<8 hex>``: start time (UTC) and a hash of the canonical configuration."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest[:8]}"


def write_trades(path: Path, trips: list[RoundTrip]) -> None:
    """``trades.csv``: one row a round trip (every symbol's), in :data:`_TRADE_COLUMNS`."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(_TRADE_COLUMNS)
        for t in trips:
            exit_time = "" if t.exit_ns is None else iso(t.exit_ns)
            writer.writerow(
                [
                    t.symbol,
                    iso(t.entry_ns),
                    exit_time,
                    t.entry_ns,
                    "" if t.exit_ns is None else t.exit_ns,
                    t.quantity,
                    t.entry_price,
                    "" if t.exit_price is None else t.exit_price,
                    t.pnl,
                    t.fees,
                    t.fills,
                ]
            )


def write_equity(path: Path, equity: Sequence[tuple[int, Decimal]]) -> None:
    """``equity.csv``: every point's time, exact equity and drawdown."""
    drawdown = drawdown_series(equity_arrays(equity)[1]).tolist()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("time", "time_ns", "equity", "drawdown"))
        for (ns, value), dd in zip(equity, drawdown, strict=True):
            writer.writerow((iso(ns), ns, value, repr(dd)))


def write_run(run: ResearchRun, out_root: Path, now: datetime) -> Path:
    """Write every file of :data:`RUN_FILES` under a new ``out_root/<run_id>/`` and return it."""
    directory = new_run_directory(run.config, out_root, now)
    write_json(directory / "metrics.json", metrics_json(run.performance))
    write_trades(directory / "trades.csv", run.trips)
    write_equity(directory / "equity.csv", run.equity)
    (directory / "report.html").write_text(html_report(run, directory.name), encoding="utf-8")
    write_summary_png(run, directory / "summary.png")
    return directory


def new_run_directory(config: dict[str, Any], out_root: Path, now: datetime) -> Path:
    """A new ``out_root/<run_id>/`` holding ``config.json`` (with its run id and creation time)."""
    base = run_id(config, now)
    out_root.mkdir(parents=True, exist_ok=True)
    directory, n = out_root / base, 1
    while directory.exists():  # same configuration started within the same second
        directory, n = out_root / f"{base}-{n}", n + 1
    directory.mkdir()
    write_json(directory / "config.json", {"run_id": directory.name, "created": now.astimezone(UTC).isoformat(),
                                           **config})  # fmt: skip
    return directory


def write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")


def dates(ns: Any) -> Any:
    """Times in ns as numpy datetimes (what the charts' time axes take)."""
    return np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")


def _figure(run: ResearchRun) -> go.Figure:
    bars = run.bars
    times, values = equity_arrays(run.equity)
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        row_heights=[0.45, 0.35, 0.2],
        subplot_titles=("Close and trades", "Equity", "Drawdown"),
    )
    closes = dates(bars.open_time_ns + bars.timeframe.nanoseconds)
    fig.add_trace(go.Scatter(x=closes, y=bars.close, name="close", line={"width": 1, "color": "#888"}), row=1, col=1)
    add_trades(fig, run.trips, row=1)
    fig.add_trace(go.Scatter(x=dates(times), y=values, name="equity", line={"color": "#1f77b4"}), row=2, col=1)
    fig.add_trace(
        go.Scatter(
            x=dates(times),
            y=drawdown_series(values) * 100,
            name="drawdown %",
            fill="tozeroy",
            line={"color": "#d62728"},
        ),
        row=3,
        col=1,
    )
    fig.update_layout(height=900, hovermode="x unified", margin={"t": 40, "b": 30})
    return fig


def add_trades(fig: go.Figure, trips: Sequence[RoundTrip], row: int, *, legend: bool = True) -> None:
    """The trips' entries (green, up) and exits (red, down) on the price chart in ``row``."""
    exits = [t for t in trips if t.exit_ns is not None]
    fig.add_trace(
        go.Scatter(
            x=dates([t.entry_ns for t in trips]),
            y=[float(t.entry_price) for t in trips],
            mode="markers",
            name="entry",
            legendgroup="entry",
            showlegend=legend,
            marker={"symbol": "triangle-up", "size": 8, "color": "green"},
            text=[f"qty {t.quantity}" for t in trips],
        ),
        row=row,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=dates([t.exit_ns for t in exits]),
            y=[float(t.exit_price or 0) for t in exits],
            mode="markers",
            name="exit",
            legendgroup="exit",
            showlegend=legend,
            marker={"symbol": "triangle-down", "size": 8, "color": "red"},
            text=[f"pnl {t.pnl:.4f}" for t in exits],
        ),
        row=row,
        col=1,
    )


def html_table(rows: Sequence[tuple[str, ...]], header: Sequence[str] = ()) -> str:
    """Rows as an HTML table: with no ``header``, key-value rows (the key a row heading)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    if header:
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def html_page(title: str, blocks: Sequence[tuple[str, str]], chart: go.Figure) -> str:
    """A self-contained page: ``blocks`` (heading, HTML) side by side, then the interactive chart."""
    style = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
    style += "th,td{padding:2px 12px;text-align:left;border-bottom:1px solid #ddd}.row{display:flex;gap:3em}"
    inner = "".join(f"<div><h2>{html.escape(head)}</h2>{body}</div>" for head, body in blocks)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>THUNES run {html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>THUNES backtest {html.escape(title)}</h1>"
        f"<div class='row'>{inner}</div>{chart.to_html(full_html=False, include_plotlyjs=True)}</body></html>"
    )


def html_report(run: ResearchRun, title: str) -> str:
    """A self-contained HTML page: run description, metrics, and the interactive charts."""
    c = run.config
    described = [
        ("strategy", f"{c['strategy']} {json.dumps(c['parameters'])}"),
        ("param hash", c["param_hash"]),
        ("market", f"{c['symbol']} {c['timeframe']}, {c['data']['bars']:,} bars"),
        ("period", f"{c['data']['start']} → {c['data']['end']}"),
        ("data", c["data"]["source"]),
        ("build", f"{c['app_version']} {c['git_sha'][:12]}"),
    ]
    figures = metric_rows(run.performance, c["backtest"]["quote_asset"])
    return html_page(title, [("Run", html_table(described)), ("Performance", html_table(figures))], _figure(run))


def write_summary_png(run: ResearchRun, path: Path) -> None:
    """Equity and drawdown charts with the headline figures, rendered by Agg (no display needed)."""
    times, values = equity_arrays(run.equity)
    when = dates(times)
    fig = Figure(figsize=(11, 7), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1], height_ratios=[2, 1])
    ax_equity = fig.add_subplot(grid[0, 0])
    ax_equity.plot(when, values, color="#1f77b4", linewidth=1)
    ax_equity.set_title(f"{run.config['strategy']} on {run.config['symbol']} {run.config['timeframe']}: equity")
    ax_equity.grid(alpha=0.3)
    ax_dd = fig.add_subplot(grid[1, 0], sharex=ax_equity)
    ax_dd.fill_between(when, drawdown_series(values) * 100, 0, color="#d62728", alpha=0.5)
    ax_dd.set_title("drawdown (%)")
    ax_dd.grid(alpha=0.3)
    ax_text = fig.add_subplot(grid[:, 1])
    ax_text.axis("off")
    text = "\n".join(f"{k}: {v}" for k, v in metric_rows(run.performance, run.config["backtest"]["quote_asset"]))
    ax_text.text(0, 1, text, va="top", ha="left", family="monospace", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, format="png")
