"""A shadow session's summary, from its log: the same numbers at the end of ``thunes shadow``, in the
validation notebook and in ``thunes shadow report``.

The shadow log is JSON lines, one record per decision (``"record": "decision"``, the Decision's fields
and ``market_ns``, the market's clock when it was decided) and one per would-be fill (``"record":
"fill"``, see :class:`~thunes.rl.outcomes.WouldBeFill`). Actions per day are counted over market time
(an accelerated replay of a week is a week), acceptance is over every decision (PARSE refusals
included), latency is the adapter's in-process ``latency_us``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ShadowStats", "percentile", "read_log", "summarize"]

NS_PER_DAY = 86_400 * 1_000_000_000


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ascending ``sorted_values``, linear between ranks; None when empty."""
    if not sorted_values:
        return None
    at = (len(sorted_values) - 1) * q
    low, high = math.floor(at), math.ceil(at)
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (at - low))


def _quantiles(values: list[float], cuts: Sequence[tuple[str, float]]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {name: percentile(ordered, q) for name, q in cuts}


class ShadowStats:
    """Counts as records arrive (the session adds each one as it logs it)."""

    def __init__(self) -> None:
        self.decisions = 0
        self.status: Counter[str] = Counter()
        self.by_gate: Counter[str] = Counter()
        self.by_reason: Counter[str] = Counter()
        self.latency_us: list[float] = []
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.per_day: Counter[int] = Counter()
        self.fills: Counter[str] = Counter()
        self.slippage_bps: list[float] = []
        self.placed = 0

    def add(self, record: dict[str, Any]) -> None:
        if record.get("record") == "fill":
            self.fills[str(record["status"])] += 1
            if record.get("slippage_bps") is not None:
                self.slippage_bps.append(float(record["slippage_bps"]))
            return
        market = record.get("market_ns")
        self.add_decision(str(record["status"]), record.get("gate"), record.get("reason"),
                          int(record.get("latency_us") or 0), market if isinstance(market, int) else 0,
                          bool(record.get("placed")))  # fmt: skip

    def add_decision(self, status: str, gate: str | None, reason: str | None, latency_us: int, market_ns: int,
                     placed: bool) -> None:  # fmt: skip
        """One decision (the session's fast path: no record built)."""
        self.decisions += 1
        self.status[status] += 1
        self.placed += placed
        if status == "REJECTED":
            self.by_gate[str(gate)] += 1
            self.by_reason[str(reason)] += 1
        self.latency_us.append(latency_us)
        market = market_ns
        if market > 0:
            self.first_ns = market if self.first_ns is None else min(self.first_ns, market)
            self.last_ns = market if self.last_ns is None else max(self.last_ns, market)
            self.per_day[market // NS_PER_DAY] += 1

    def summary(self, **extra: Any) -> dict[str, Any]:
        """The session's summary as JSON-ready data; ``extra`` (venue orders, wall time...) is added."""
        days = None if self.first_ns is None or self.last_ns is None else (self.last_ns - self.first_ns) / NS_PER_DAY
        accepted = self.status.get("ACCEPTED", 0)
        slip = _quantiles(self.slippage_bps, (("p05", 0.05), ("p50", 0.5), ("p95", 0.95)))
        return {
            "decisions": self.decisions,
            "accepted": accepted,
            "rejected": self.status.get("REJECTED", 0),
            "noop": self.status.get("NOOP", 0),
            "acceptance_rate": accepted / self.decisions if self.decisions else None,
            "placed": self.placed,
            "market_days": days,
            "actions_per_day": self.decisions / days if days else None,
            "actions_by_day": {str(day): n for day, n in sorted(self.per_day.items())},
            "rejections_by_gate": dict(self.by_gate.most_common()),
            "rejections_by_reason": dict(self.by_reason.most_common()),
            "latency_us": _quantiles(self.latency_us, (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))),
            "would_be_fills": dict(self.fills.most_common()),
            "slippage_bps": {
                **slip,
                "mean": sum(self.slippage_bps) / len(self.slippage_bps) if self.slippage_bps else None,
                "n": len(self.slippage_bps),
            },
            **extra,
        }


def read_log(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a shadow log (a line that is not a JSON object is skipped: a log cut mid-line)."""
    with path.open("rb") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def summarize(records: Iterable[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    stats = ShadowStats()
    for record in records:
        stats.add(record)
    return stats.summary(**extra)
