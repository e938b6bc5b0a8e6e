"""A shadow session's validation report as one self-contained HTML file (``thunes shadow report``).

The same views as ``notebooks/rl_shadow_validation.ipynb``: decision latency (histogram, p95),
rejections by gate and by reason, acceptance rate, slippage delta, actions per day. The charts are
drawn as inline SVG by hand (bars only): no plotting library in the package (the import-linter
contract keeps plotting libraries to the backtest report files), no file beside the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["histogram", "render_html", "svg_bars"]

_W, _H, _PAD = 640, 220, 40
NS_PER_DAY = 86_400 * 1_000_000_000


def histogram(values: Sequence[float], bins: int = 30) -> tuple[list[str], list[float]]:
    """Equal-width bins of ``values``: their labels (the lower edge) and counts."""
    if not values:
        return [], []
    low, high = min(values), max(values)
    if high == low:
        return [f"{low:g}"], [float(len(values))]
    width = (high - low) / bins
    counts = [0.0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    return [f"{low + i * width:.3g}" for i in range(bins)], counts


def svg_bars(labels: Sequence[str], values: Sequence[float], *, title: str, mark: float | None = None,
             mark_label: str = "") -> str:  # fmt: skip
    """A bar chart; ``mark``: a vertical line at that fraction (0..1) of the x axis, labelled."""
    esc = html.escape
    if not values:
        return f'<p class="empty">{esc(title)}: no data</p>'
    top = max(values) or 1.0
    n = len(values)
    slot = (_W - 2 * _PAD) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H + 60}" role="img">',
             f'<title>{esc(title)}</title>',
             f'<text x="{_PAD}" y="16" font-size="14" font-weight="bold">{esc(title)}</text>']  # fmt: skip
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (_H - 2 * _PAD) * value / top
        x, y = _PAD + i * slot, _H - _PAD - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" height="{h:.1f}" '
                     f'fill="#4a78b5"><title>{esc(label)}: {value:g}</title></rect>')  # fmt: skip
        if n <= 12 or i % math.ceil(n / 8) == 0:
            cx, cy = x + slot / 2, _H - _PAD + 14
            parts.append(f'<text x="{cx:.1f}" y="{cy}" font-size="10" text-anchor="end" '
                         f'transform="rotate(-35 {cx:.1f} {cy})">{esc(label)}</text>')  # fmt: skip
    parts.append(f'<text x="4" y="{_PAD}" font-size="10">{top:g}</text>')
    parts.append(f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#333"/>')
    if mark is not None:
        x = _PAD + (_W - 2 * _PAD) * min(max(mark, 0.0), 1.0)
        parts.append(f'<line x1="{x:.1f}" y1="{_PAD}" x2="{x:.1f}" y2="{_H - _PAD}" stroke="#c0392b" '
                     f'stroke-dasharray="4"/><text x="{x + 4:.1f}" y="{_PAD + 10}" font-size="11" '
                     f'fill="#c0392b">{esc(mark_label)}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _fmt(value: Any, spec: str = ",.1f") -> str:
    return "-" if value is None else format(value, spec)


def render_html(summary: dict[str, Any], records: Sequence[dict[str, Any]], *, title: str) -> str:
    """The report page of a shadow log's ``records`` and their ``summary`` (:func:`~thunes.rl.summary.summarize`)."""
    latencies = [float(r.get("latency_us") or 0) for r in records if r.get("record") != "fill"]
    slippage = [float(r["slippage_bps"]) for r in records if r.get("record") == "fill"
                and r.get("slippage_bps") is not None]  # fmt: skip
    lat = summary["latency_us"]
    labels, counts = histogram(latencies)
    p95_at = None
    if latencies and lat["p95"] is not None and max(latencies) > min(latencies):
        p95_at = (lat["p95"] - min(latencies)) / (max(latencies) - min(latencies))
    gates = summary["rejections_by_gate"]
    reasons = summary["rejections_by_reason"]
    days = summary["actions_by_day"]
    day_labels = [datetime.fromtimestamp(int(d) * 86_400, UTC).strftime("%Y-%m-%d") for d in days]
    slip_labels, slip_counts = histogram(slippage)
    rate = summary["acceptance_rate"]
    overview = _table([
        ("decisions", f"{summary['decisions']:,}"),
        ("acceptance rate", "-" if rate is None else f"{rate:.1%}"),
        ("rejected / noop", f"{summary['rejected']:,} / {summary['noop']:,}"),
        ("rejection rate", "-" if not summary["decisions"] else f"{summary['rejected'] / summary['decisions']:.1%}"),
        ("market days", _fmt(summary["market_days"], ".2f")),
        ("actions per day", _fmt(summary["actions_per_day"])),
        ("latency p50 / p95 / p99 (us)", f"{_fmt(lat['p50'])} / {_fmt(lat['p95'])} / {_fmt(lat['p99'])}"),
        ("would-be fills", ", ".join(f"{k} {v}" for k, v in summary["would_be_fills"].items()) or "-"),
        ("slippage delta p05 / p50 / p95 (bps)", " / ".join(_fmt(summary["slippage_bps"][k], ".2f")
                                                            for k in ("p05", "p50", "p95"))),
    ])  # fmt: skip
    charts = [
        svg_bars(labels, counts, title="Decision latency (us)", mark=p95_at, mark_label=f"p95 {_fmt(lat['p95'])}"),
        svg_bars(list(gates), [float(v) for v in gates.values()], title="Rejections by gate"),
        svg_bars(list(reasons), [float(v) for v in reasons.values()], title="Rejections by reason"),
        svg_bars(slip_labels, slip_counts, title="Slippage delta vs reference (bps, positive = cost)"),
        svg_bars(day_labels, [float(v) for v in days.values()], title="Actions per market day"),
    ]
    style = ("body{font-family:sans-serif;margin:2em;max-width:720px}table{border-collapse:collapse}"
             "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
             "svg{display:block;margin:1.5em 0}")  # fmt: skip
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{overview}{''.join(charts)}"
            "</body></html>\n")  # fmt: skip
