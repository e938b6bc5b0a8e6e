"""One engine for every backtest (issue 16 item 2): for the same inputs, ``thunes backtest`` (event path
and ``--fast``), ``thunes report backtest``, ``optimize`` (one trial at the default parameters) and
``walk-forward`` (one fold) report the trades and the Sharpe of the event-driven engine, measured here
straight from :func:`run_event_backtest` and :mod:`thunes.engine.performance`. Real BTCUSDT 1h bars,
both built-in strategies."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import optuna
import pytest
from pyarrow import feather
from typer.testing import CliRunner

from thunes.app.cli.main import app
from thunes.app.config import Settings, load_settings
from thunes.backtest.event import run_event_backtest
from thunes.domain import ExchangeInfo, Instrument, Timeframe, parse_exchange_info
from thunes.engine.performance import (
    Performance,
    RoundTrip,
    compute_performance,
    equity_arrays,
    periods_per_year,
    round_trips,
)
from thunes.features import OHLCV
from thunes.research.optimize import OptimizeConfig, optimize, with_strategy
from thunes.research.walk_forward import WalkForwardConfig, run_walk_forward

FEATHER = "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather"
WARMUP, DEPOSIT = 100, Decimal(1000)
STRATEGIES = ("sma_cross", "rsi_reversion")
runner = CliRunner()


@dataclass(frozen=True)
class _Market:
    settings: Settings
    instrument: Instrument
    bars: OHLCV
    info: ExchangeInfo


@pytest.fixture(scope="module")
def market(shared_data: Path, exchange_info_path: Path) -> _Market:
    info = parse_exchange_info(json.loads(exchange_info_path.read_text()))
    table = feather.read_table(shared_data / FEATHER)
    cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    bars = OHLCV.from_arrays("BTCUSDT", Timeframe.H1, table.column("date").cast("int64").to_numpy(), *cols)
    return _Market(load_settings(env={}), info.get("BTCUSDT"), bars, info)


def _reference(
    m: _Market, settings: Settings, bars: OHLCV, warmup: int = WARMUP
) -> tuple[list[RoundTrip], Performance]:
    """The event-driven engine's trades and figures, measured by hand."""
    result = run_event_backtest(settings, m.instrument, bars, m.info, warmup_bars=warmup, deposit=DEPOSIT)
    trips = round_trips(result.fills, [m.instrument])
    times, values = equity_arrays(result.equity)
    return trips, compute_performance(times, values, trips, periods_per_year(bars.timeframe.nanoseconds))


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _json_trades(trips: list[RoundTrip]) -> list[tuple[Any, ...]]:
    return [(_when(t.entry_ns), str(t.entry_price), str(t.quantity), None if t.exit_ns is None else _when(t.exit_ns),
             None if t.exit_price is None else str(t.exit_price), str(t.pnl) if t.closed else None)
            for t in trips]  # fmt: skip


@dataclass
class _Cli:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *argv: str) -> str:
        result = runner.invoke(app, list(argv), env=self.env)
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture
def cli(tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> _Cli:
    """A working directory whose thunes.toml starts each backtest with the same cash as the others."""
    monkeypatch.chdir(tmp_path)
    for name in ("THUNES_CONFIG", "THUNES_RULES__EXCHANGE_INFO_PATH"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "thunes.toml").write_text(f"[backtest]\ninitial_cash = {DEPOSIT}\n")
    return _Cli(tmp_path, {"THUNES_DATA__SHARED_DATA_DIR": str(shared_data)})


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_backtest_and_report_when_same_inputs_then_the_event_engines_trades_and_sharpe(
    strategy: str, market: _Market, cli: _Cli
) -> None:
    trips, performance = _reference(market, with_strategy(market.settings, strategy, {}), market.bars)
    expected = _json_trades(trips)
    documents = {}
    for path in ("event", "fast"):
        out = cli.root / f"{path}.json"
        cli.run("backtest", "--strategy", strategy, "--json", str(out), *(["--fast"] if path == "fast" else []))
        documents[path] = json.loads(out.read_text())
    cli.run("report", "backtest", "--strategy", strategy, "--out", str(cli.root / "runs"))
    (run_dir,) = (cli.root / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with (run_dir / "trades.csv").open() as handle:
        reported = [(int(r["entry_ns"]), r["quantity"], r["pnl"]) for r in csv.DictReader(handle)]

    assert len(trips) > 50
    for path, document in documents.items():
        assert document["engine"] == path
        assert [tuple(t[k] for k in ("entry", "entry_price", "quantity", "exit", "exit_price", "pnl"))
                for t in document["trades"]] == expected, path  # fmt: skip
        assert document["metrics"]["sharpe"] == performance.sharpe, path
        assert document["metrics"]["trades"] == performance.trades
        assert document["metrics"]["total_return"] == performance.total_return
    assert documents["fast"]["kernel"] is True  # parity claimed: the compiled kernel ran, and matched
    assert reported == [(t.entry_ns, str(t.quantity), str(t.pnl)) for t in trips]
    assert metrics["sharpe"] == performance.sharpe
    assert metrics["max_drawdown"] == performance.max_drawdown


class _Defaults:
    """A search space of one point: the strategy's default parameters."""

    def __init__(self, strategy: str) -> None:
        self.strategy = strategy

    @property
    def warmup(self) -> int:
        return WARMUP

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_optimize_when_one_trial_at_the_defaults_then_the_event_engines_sharpe(strategy: str, market: _Market) -> None:
    settings = with_strategy(market.settings, strategy, {})
    trips, performance = _reference(market, settings, market.bars)
    config = OptimizeConfig(strategy, "one", trials=1, warmup=WARMUP, deposit=DEPOSIT, space=_Defaults(strategy))

    best = optimize(settings, market.instrument, market.bars, market.info, config).best

    assert best is not None and best.strategy == {}
    assert best.sharpe == performance.sharpe
    assert best.trades == performance.trades == sum(1 for t in trips if t.closed)
    assert best.max_drawdown == performance.max_drawdown


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_walk_forward_when_one_fold_then_its_oos_is_the_event_engine_on_the_test_window(
    strategy: str, market: _Market
) -> None:
    bars = market.bars.slice(0, 4_000)  # 120 + 30 days of 1h bars hold one fold, not two
    config = WalkForwardConfig(strategy, train_days=120, test_days=30, trials=4, deposit=DEPOSIT)  # the space's warm-up

    result = run_walk_forward(market.settings, market.instrument, bars, market.info, config)

    (fold,) = result.folds
    test = bars.slice(fold.fold.test_start - result.warmup, fold.fold.test_stop)
    chosen = with_strategy(market.settings, strategy, fold.strategy)
    trips, performance = _reference(market, chosen, test, result.warmup)
    assert trips  # the fold traded: the comparison is not of two empty runs
    assert fold.oos.trips == trips
    assert fold.oos.performance.sharpe == performance.sharpe
    assert result.oos.sharpe == performance.sharpe  # one fold: the chained out-of-sample curve is its own
    assert result.oos.trades == performance.trades
