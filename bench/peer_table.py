"""The peer section of ``make bench`` (issue 16): THUNES's backtests beside backtesting.py and two
whole-backtest references on the same bars and strategy, with the issue's targets printed beside
the numbers, PASS or FAIL (never asserted: a bench informs, the test suite decides).

Ratios and verdicts use CPU time: the machine is shared (two cores, several sessions), and its wall
clock also counts the time other processes were given; wall times are printed beside them. For a
single-threaded run the CPU time is what the wall clock would read on a quiet machine.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import backtest_paths
from workload import BUDGET, DEPOSIT, FAST, FEE_RATE, N_BARS, SHAPES, SLOW, WARMUP, risk_env

EVENT_VS_PEER = 2.0  # event backtest at least twice as fast as backtesting.py
ORDER_US = 60.0  # per order through sizing, risk, filters, order manager, matching and ledger
FAST_VS_NUMBA = 0.5  # fast path at least half the speed of the numba fused loop
PEAK_MB = 400.0
CLI_SECONDS = 4.0
EXACT = ("event", "fast", "numpy", "numba")  # must place the very same number of orders
LABELS = {
    "event": "THUNES event backtest",
    "event_no_orders": "  the same, no order (per-bar cost)",
    "fast": "THUNES fast path (kernel, equity curve)",
    "backtesting.py": "backtesting.py 0.6.6",
    "backtesting.py_no_orders": "  the same, no order (per-bar cost)",
    "numpy": "numpy whole backtest (reference)",
    "numba": "numba fused loop (reference)",
}
ORDER_BASE = {"event": "event_no_orders", "backtesting.py": "backtesting.py_no_orders"}


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def per_order_us(by_path: dict[str, dict[str, Any]], path: str) -> float | None:
    """CPU µs one order adds: the run with orders less the same run without, over the orders."""
    full, empty = by_path.get(path), by_path.get(ORDER_BASE.get(path, ""))
    if full is None or empty is None or full["orders"] <= empty["orders"]:
        return None
    return (full["cpu_seconds"] - empty["cpu_seconds"]) / (full["orders"] - empty["orders"]) * 1e6


def _shape_title(shape: str) -> str:
    markets = SHAPES[shape]
    names = ", ".join(m.symbol for m, _ in markets)
    note = (
        " (THUNES's event backtest: one portfolio on one account; backtesting.py, the fast path and the "
        "references: one backtest per symbol, one after the other)"
    )
    return f"{len(markets)} x {markets[0][1]:,} 1m bars ({names})" + (note if len(markets) > 1 else "")


def print_shape(shape: str, rows: list[dict[str, Any]]) -> None:
    """The table of one shape, its targets and its order-count check."""
    by_path = {row["path"]: row for row in rows}
    peer, numba = by_path["backtesting.py"]["cpu_seconds"], by_path["numba"]["cpu_seconds"]
    print(f"backtest peers, {_shape_title(shape)}")
    print(f"{'path':42} {'wall s':>8} {'cpu s':>8} {'bars/s (cpu)':>13} {'orders':>7} {'µs/order':>9} "
          f"{'final equity':>13} {'peak MB':>8} {'x bt.py':>8} {'x numba':>8}")  # fmt: skip
    for row in rows:
        cpu = row["cpu_seconds"]
        us = per_order_us(by_path, row["path"])
        print(f"{LABELS[row['path']]:42} {row['seconds']:>8.3f} {cpu:>8.3f} {row['bars'] / cpu:>13,.0f} "
              f"{row['orders']:>7,} {'' if us is None else f'{us:.1f}':>9} {row['final_equity']:>13,.2f} "
              f"{row['peak_rss_mb']:>8.0f} {peer / cpu:>8.3f} {numba / cpu:>8.4f}")  # fmt: skip
    _print_targets(by_path)
    _print_agreement(by_path)
    fast = by_path["fast"]
    loads = fast.get("first_call_seconds", 0), by_path["numba"].get("first_call_seconds", 0)
    print(f"  kernel ran: {fast.get('kernel')}; first calls (numba cache load, s): fast {loads[0]:.2f}, "
          f"numba {loads[1]:.2f}")  # fmt: skip
    print()


def _print_targets(by_path: dict[str, dict[str, Any]]) -> None:
    """The issue's targets beside what was measured, PASS or FAIL."""
    event, fast, peer = by_path["event"], by_path["fast"], by_path["backtesting.py"]
    vs_peer, wall_vs_peer = peer["cpu_seconds"] / event["cpu_seconds"], peer["seconds"] / event["seconds"]
    vs_numba = by_path["numba"]["cpu_seconds"] / fast["cpu_seconds"]
    us, peer_us = per_order_us(by_path, "event"), per_order_us(by_path, "backtesting.py")
    peak = max(event["peak_rss_mb"], fast["peak_rss_mb"])
    shown = "?" if us is None else f"{us:.0f}"
    beside = "" if peer_us is None else f" (backtesting.py {peer_us:.0f} µs)"
    print(f"  targets: event >= {EVENT_VS_PEER:g}x backtesting.py: {vs_peer:.2f}x (wall {wall_vs_peer:.2f}x) "
          f"{_verdict(vs_peer >= EVENT_VS_PEER)};  event per order <= {ORDER_US:g} µs: {shown} µs{beside} "
          f"{_verdict(us is not None and us <= ORDER_US)}")  # fmt: skip
    print(f"           fast >= {FAST_VS_NUMBA:g}x numba loop: {vs_numba:.3f}x {_verdict(vs_numba >= FAST_VS_NUMBA)};  "
          f"peak RSS < {PEAK_MB:g} MB (event, fast): {peak:.0f} MB {_verdict(peak < PEAK_MB)}")  # fmt: skip


def _print_agreement(by_path: dict[str, dict[str, Any]]) -> None:
    """Every path must do the same work: the same orders (backtesting.py: nearly, see peer_backtesting)."""
    counts = {path: by_path[path]["orders"] for path in EXACT}
    same = len(set(counts.values())) == 1
    peer = by_path["backtesting.py"]["orders"]
    denied = by_path["event"].get("denied_or_rejected", 0)
    print(f"  orders: {' = '.join(f'{p} {n:,}' for p, n in counts.items())} "
          f"{'agree' if same else 'DISAGREE'} ({_verdict(same and denied == 0)}; THUNES denied or rejected "
          f"{denied}); backtesting.py {peer:,} ({peer - counts['event']:+,}: its crossover misses a cross through "
          f"an exact tie of the averages, and the exit after it)")  # fmt: skip


def cli_row(*flags: str) -> tuple[float, float, int | None]:
    """Whole-process ``thunes backtest`` on the workload's 1M bars: (wall s, CPU s, orders it reports)."""
    script = Path(sys.executable).with_name("thunes")
    env = {**os.environ, **risk_env(), "THUNES_LOGGING__LEVEL": "WARNING", "COLUMNS": "200"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as cwd:  # no ./thunes.toml of the caller's is read
        start = time.perf_counter()
        done = subprocess.run([str(script), "backtest", "--synthetic", str(N_BARS), "--timeframe", "1m",
                               "--sma-fast", str(FAST), "--sma-slow", str(SLOW), "--warmup", str(WARMUP),
                               "--fee-rate", str(FEE_RATE), "--initial-cash", str(DEPOSIT), *flags],
                              check=True, capture_output=True, text=True, env=env, cwd=cwd)  # fmt: skip
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = re.search(r"orders\s+([\d,]+)", done.stdout)
    return wall, cpu, int(found.group(1).replace(",", "")) if found else None


def print_cli() -> None:
    print(f"{'thunes backtest, whole process, 1M bars of the workload':58} {'wall s':>8} {'cpu s':>8} "
          f"{'orders':>7}  target")  # fmt: skip
    for label, flags in (("thunes backtest (event-driven)", ()), ("thunes backtest --fast", ("--fast",))):
        wall, cpu, orders = cli_row(*flags)
        shown = "?" if orders is None else f"{orders:,}"
        print(f"{label:58} {wall:>8.2f} {cpu:>8.2f} {shown:>7}  <= {CLI_SECONDS:g} s {_verdict(cpu <= CLI_SECONDS)}")


def main() -> None:
    """Measure every path (subprocesses) and print the peer tables and the whole-process rows."""
    print(f"backtest peers: SMA {FAST}/{SLOW} crossover on seeded synthetic 1m bars, every signal an order "
          f"(entries of {BUDGET:g} USDT in whole lots, risk limits opened), fee {FEE_RATE:g} on every fill, "
          f"{WARMUP}-bar warm-up; ratios and verdicts on CPU time")  # fmt: skip
    print("  x bt.py: backtesting.py's CPU time over the row's (above 1: faster); x numba: the same against "
          "the numba loop; µs/order: (CPU with orders - CPU without) / orders")  # fmt: skip
    rows = backtest_paths.rows()
    for shape in backtest_paths.PLAN:
        print_shape(shape, [row for row in rows if row["shape"] == shape])
    print_cli()


if __name__ == "__main__":
    main()
