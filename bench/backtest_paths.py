"""Backtests of the peer workload (``workload``), each path in a process of its own so that its peak
RSS is its own: ``python bench/backtest_paths.py PATH SHAPE`` prints one JSON line; :func:`rows`
runs them all.

Paths: THUNES's event-driven backtest (every bar through the strategy, every order through sizing,
risk, filters, the order manager, the simulated venue's matching and the ledger), the same with no
order (the warm-up covers the whole series: the per-bar cost alone, so the difference over the
orders is what one order costs), THUNES's fast path (the compiled kernel at the signal bars, its
equity curve included), backtesting.py, and two whole-backtest references (numpy, numba).

Shapes: one symbol of 1M bars, and four symbols of 250k bars each. THUNES's event backtest runs the
four as one portfolio on one account (one clock over the four series, shared risk and ledger, a
deposit of four); backtesting.py, the fast path and the references run one symbol per backtest, one
after the other, and their times, orders and equities are added.

Timing: ``seconds`` is the best of ``REPEATS`` runs (wall clock), ``cpu_seconds`` the best in CPU
time (on a shared machine the wall clock also counts time given to other processes). The inputs
(bars, backtesting.py's DataFrames) are built before the clock starts. Compiled code (the fast
kernel, the numba reference) is compiled into numba's disk cache by a throwaway process first, and
loaded by a small first call before the clock starts (``first_call_seconds``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported by run.py

import workload
from thunes.app.collector import settle_process
from workload import SHAPES, WARMUP, Market

PATHS = ("event", "event_no_orders", "fast", "backtesting.py", "backtesting.py_no_orders", "numpy", "numba")
REPEATS = {"fast": 10, "numpy": 10, "numba": 10}  # milliseconds each: the best of 10 on a loaded machine;
# the others: once (seconds each; they dominate make bench)
PLAN = {"1x1M": PATHS, "4x250k": tuple(p for p in PATHS if p != "backtesting.py_no_orders")}  # its per-order cost once
WARM_BARS = 5_000
Inputs = list[tuple[Market, Any]]
Outcome = tuple[int, float]  # orders, final equity (quote)
Runner = Callable[[], Outcome]


def _thunes_world(inputs: Inputs) -> tuple[Any, list[tuple[Any, Any]], Any]:
    """The settings, each market's instrument (its filters checked against the workload's) and bars."""
    from thunes.adapters.exchange_info_file import builtin_exchange_info

    info = builtin_exchange_info()
    pairs = []
    for market, bars in inputs:
        instrument = info.get(market.symbol)
        if (float(instrument.tick_size), float(instrument.step_size)) != (market.tick, market.step):
            raise SystemExit(f"{market.symbol}: the workload's tick/step are not the instrument's")
        pairs.append((instrument, bars))
    return workload.settings(), pairs, info


def _event(inputs: Inputs, extra: dict[str, Any], *, orders: bool = True) -> Runner:
    """One backtest: one symbol, or the four as one portfolio on one account (shared risk and ledger, as
    ``thunes backtest --pairs`` runs them); its final equity is the account's, counted here as if each
    symbol had had its own deposit (what the peers, one backtest per symbol, add up)."""
    from thunes.backtest.event import PairMarket, run_event_backtest, run_portfolio_backtest

    settings, pairs, info = _thunes_world(inputs)

    def run() -> Outcome:
        warmup = WARMUP if orders else min(len(bars) for _, bars in pairs) - 1  # no order: all warm-up
        if len(pairs) == 1:
            instrument, bars = pairs[0]
            result = run_event_backtest(settings, instrument, bars, info, warmup_bars=warmup)
        else:
            markets = [PairMarket(settings.strategy, instrument, bars) for instrument, bars in pairs]
            deposit = Decimal(str(workload.DEPOSIT * len(pairs)))  # the peers' deposits, in one account
            result = run_portfolio_backtest(settings, markets, info, warmup_bars=warmup, deposit=deposit)
        extra["denied_or_rejected"] = sum(result.stats.denied.values()) + sum(result.stats.rejected.values())
        extra["one_account"] = len(pairs) > 1
        equity = float(result.equity[-1][1]) if len(result.equity) else workload.DEPOSIT * len(pairs)
        return len(result.orders), equity

    return run


def _fast(inputs: Inputs, extra: dict[str, Any]) -> Runner:
    from thunes.backtest.fast import run_fast_backtest

    settings, pairs, info = _thunes_world(inputs)
    start = time.perf_counter()
    warm = [
        run_fast_backtest(settings, instrument, bars.slice(0, WARM_BARS), info)  # loads the cached kernel
        for instrument, bars in pairs
    ]  # and each symbol's once-a-process work (its plan's rationals)
    extra["first_call_seconds"] = round(time.perf_counter() - start, 3)
    extra["kernel"] = all(w.kernel for w in warm)

    def run() -> Outcome:
        placed, equity = 0, 0.0
        for instrument, bars in pairs:
            result = run_fast_backtest(settings, instrument, bars, info)
            curve = result.equity_curve(bars, WARMUP)  # the whole backtest: the equity at every bar too
            extra["kernel"] = extra["kernel"] and result.kernel
            placed += result.stats.submitted
            equity += float(curve[1][-1]) if curve is not None else float("nan")
        return placed, equity

    return run


def _backtesting_py(inputs: Inputs, extra: dict[str, Any], *, trading: bool = True) -> Runner:
    import peer_backtesting

    frames = [peer_backtesting.frame(bars, market.step) for market, bars in inputs]
    strategy = peer_backtesting.strategy_class()

    def run() -> Outcome:
        placed, equity, closed = 0, 0.0, 0
        for data in frames:
            n, final, trades = peer_backtesting.run(data, strategy, trading=trading)
            placed, equity, closed = placed + n, equity + final, closed + trades
        extra["trades_closed"] = closed
        return placed, equity

    return run


def _reference(fn_name: str) -> Callable[[Inputs, dict[str, Any]], Runner]:
    def build(inputs: Inputs, extra: dict[str, Any]) -> Runner:
        import references

        fn = getattr(references, fn_name)
        market, bars = inputs[0]
        start = time.perf_counter()
        fn(bars.close[:WARM_BARS], market.tick, market.step)  # numba: compiles or loads its cache
        extra["first_call_seconds"] = round(time.perf_counter() - start, 3)

        def run() -> Outcome:
            results = [fn(bars.close, market.tick, market.step) for market, bars in inputs]
            return sum(r.orders for r in results), sum(r.final_equity for r in results)

        return run

    return build


BUILDERS: dict[str, Callable[[Inputs, dict[str, Any]], Runner]] = {
    "event": _event,
    "event_no_orders": lambda inputs, extra: _event(inputs, extra, orders=False),
    "fast": _fast,
    "backtesting.py": _backtesting_py,
    "backtesting.py_no_orders": lambda inputs, extra: _backtesting_py(inputs, extra, trading=False),
    "numpy": _reference("numpy_backtest"),
    "numba": _reference("numba_backtest"),
}


def _peak_mb() -> float:
    from thunes.adapters.proc import peak_rss_bytes  # VmHWM: this process's own peak, not its parent's

    return peak_rss_bytes() / 2**20


def measure(path: str, shape: str) -> dict[str, Any]:
    """Run ``path`` on ``shape`` ``REPEATS[path]`` times in this process; its row as a dict."""
    inputs = [(market, workload.bars(market, n)) for market, n in SHAPES[shape]]
    extra: dict[str, Any] = {}
    run = BUILDERS[path](inputs, extra)
    best, best_cpu, outcome = float("inf"), float("inf"), (0, 0.0)
    for _ in range(REPEATS.get(path, 1)):
        start, start_cpu = time.perf_counter(), time.process_time()
        outcome = run()
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.process_time() - start_cpu)
    return {"path": path, "shape": shape, "bars": sum(len(b) for _, b in inputs), "seconds": best,
            "cpu_seconds": best_cpu, "orders": outcome[0], "final_equity": outcome[1], "peak_rss_mb": _peak_mb(),
            **extra}  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "THUNES_LOGGING__LEVEL": "WARNING", "TQDM_DISABLE": "1"}


def compile_kernels() -> None:
    """Fill numba's disk cache (fast kernel, numba reference) in a throwaway process: a fresh checkout's
    compile peaks higher than any steady run, and it is not what a run costs."""
    subprocess.run([sys.executable, __file__, "--compile"], check=True, capture_output=True, env=_env())


def rows(plan: dict[str, tuple[str, ...]] = PLAN) -> list[dict[str, Any]]:
    """One measurement per (shape, path) of ``plan``, each in a fresh interpreter."""
    compile_kernels()
    out = []
    for shape, paths in plan.items():
        for path in paths:
            done = subprocess.run([sys.executable, __file__, path, shape], check=True, capture_output=True,
                                  text=True, env=_env())  # fmt: skip
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def _compile() -> None:
    small = [(workload.MARKETS[0], workload.bars(workload.MARKETS[0], WARM_BARS))]
    _fast(small, {})
    _reference("numba_backtest")(small, {})


if __name__ == "__main__":
    if sys.argv[1:] == ["--compile"]:
        _compile()
    elif len(sys.argv) == 3:
        if sys.argv[1].startswith("event"):  # as `thunes` does at its entry point for a command that runs the engine
            from thunes.app.speedups import install

            install()
        settle_process()  # as `thunes` does at its entry point (thunes.app.collector)
        from thunes.adapters.proc import keep_freed_memory

        keep_freed_memory()  # as `thunes backtest` does at its entry point: freed arrays are reused, not mapped again
        print(json.dumps(measure(sys.argv[1], sys.argv[2])))
    else:
        for row in rows():
            print(row)
