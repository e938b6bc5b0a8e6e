"""Walk-forward on real BTCUSDT 1h bars: folds tile the data, training never sees its test window,
out-of-sample figures are the backtest's, and the SPEC §8 deployment rule records a version only
when it passes and only after the evaluation is written. Short windows keep it quick."""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import typer
from pyarrow import feather
from typer.testing import CliRunner

from thunes.adapters.storage.audit_jsonl import AuditLog
from thunes.adapters.storage.params_sql import SqlParamStore
from thunes.app.audit_setup import audit_context
from thunes.app.cli.optimize import EXIT_NOT_DEPLOYED, walk_forward
from thunes.app.config import Settings, load_settings
from thunes.backtest.event import run_event_backtest
from thunes.domain import ExchangeInfo, Instrument, Timeframe, parse_exchange_info
from thunes.engine.performance import compute_performance, equity_arrays, periods_per_year, round_trips
from thunes.features import OHLCV
from thunes.research.optimize import with_strategy
from thunes.research.walk_forward import (
    DAY_NS,
    WalkForwardConfig,
    WalkForwardResult,
    make_folds,
    record_if_deployable,
    result_json,
    run_walk_forward,
    write_result,
)

FEATHER = "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather"
BARS = 3_000  # 125 days of 1h bars
CONFIG = WalkForwardConfig("sma_cross", train_days=40, test_days=10, trials=4, seed=3)  # 8 folds
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _bars(shared_data: Path) -> OHLCV:
    table = feather.read_table(shared_data / FEATHER)
    cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    bars = OHLCV.from_arrays("BTCUSDT", Timeframe.H1, table.column("date").cast("int64").to_numpy(), *cols)
    return bars.slice(0, BARS)


@pytest.fixture(scope="module")
def world(shared_data: Path, exchange_info_path: Path) -> tuple[Settings, Instrument, OHLCV, ExchangeInfo]:
    info = parse_exchange_info(json.loads(exchange_info_path.read_text()))
    return load_settings(env={}), info.get("BTCUSDT"), _bars(shared_data), info


@pytest.fixture(scope="module")
def result(world: tuple[Settings, Instrument, OHLCV, ExchangeInfo]) -> WalkForwardResult:
    settings, instrument, bars, info = world
    return run_walk_forward(settings, instrument, bars, info, CONFIG)


# --- folds --------------------------------------------------------------------------------------
def test_make_folds_when_default_step_then_test_windows_tile_the_data_without_overlap(shared_data: Path) -> None:
    bars = _bars(shared_data)
    hour = Timeframe.H1.nanoseconds

    folds = make_folds(bars, CONFIG)

    assert [f.index for f in folds] == list(range(8))  # (125 - 40) // 10 whole test windows
    assert folds[0].train_start == 0
    for f in folds:
        assert f.train_stop == f.test_start  # the test window starts where training stops
        assert f.train_stop - f.train_start == 40 * 24 and f.test_stop - f.test_start == 10 * 24  # no gap in data
    for before, after in itertools.pairwise(folds):
        assert after.test_start == before.test_stop  # contiguous, never overlapping
        assert after.train_start - before.train_start == 10 * 24  # the window steps by the test length
    tail = int(bars.open_time_ns[-1]) + hour - (int(bars.open_time_ns[folds[-1].test_stop - 1]) + hour)
    assert 0 <= tail < 10 * DAY_NS  # what is left over cannot hold another test window


def test_make_folds_when_step_longer_or_shorter_than_test_then_gaps_or_refused(shared_data: Path) -> None:
    bars = _bars(shared_data)

    spaced = make_folds(bars, replace(CONFIG, step_days=25))

    assert len(spaced) == 4 and all(b.test_start - a.test_stop == 15 * 24 for a, b in itertools.pairwise(spaced))
    with pytest.raises(ValueError, match="step of at least the test length"):
        make_folds(bars, replace(CONFIG, step_days=5))  # overlapping test windows would count twice
    assert make_folds(bars, replace(CONFIG, train_days=200)) == []


# --- no look-ahead ------------------------------------------------------------------------------
def test_walk_forward_when_run_then_each_test_window_is_after_its_train_window_and_trades_from_its_first_bar(
    result: WalkForwardResult,
) -> None:
    bars, hour = result.bars, Timeframe.H1.nanoseconds
    assert len(result.folds) == 8
    for r in result.folds:
        f = r.fold
        train_times = set(bars.open_time_ns[f.train_start : f.train_stop].tolist())
        test_times = bars.open_time_ns[f.test_start : f.test_stop].tolist()
        assert train_times.isdisjoint(test_times) and max(train_times) < min(test_times)
        # the OOS curve is the test window exactly: one mark per test bar, from its first close
        assert r.oos.times.tolist() == [t + hour for t in test_times]


def test_walk_forward_when_the_future_changes_then_training_results_do_not(
    world: tuple[Settings, Instrument, OHLCV, ExchangeInfo], result: WalkForwardResult
) -> None:
    settings, instrument, bars, info = world
    split = result.folds[0].fold.train_stop
    o, h, lo, c = (np.concatenate([p[:split], p[split:][::-1]]) for p in (bars.open, bars.high, bars.low, bars.close))
    future_reversed = OHLCV.from_arrays("BTCUSDT", Timeframe.H1, bars.open_time_ns, o, h, lo, c, bars.volume)

    other = run_walk_forward(settings, instrument, future_reversed, info, CONFIG)

    first, changed = result.folds[0], other.folds[0]
    assert (changed.strategy, changed.is_sharpe) == (first.strategy, first.is_sharpe)  # trained on the past alone
    assert other.folds[1].is_sharpe != result.folds[1].is_sharpe  # fold 1 trains on changed bars: it does see them


# --- out-of-sample figures ----------------------------------------------------------------------
def test_fold_oos_when_recomputed_by_the_event_backtest_then_same_sharpe(
    world: tuple[Settings, Instrument, OHLCV, ExchangeInfo], result: WalkForwardResult
) -> None:
    settings, instrument, bars, info = world
    traded = [r for r in result.folds if r.oos.trips]
    assert traded
    r = traded[0]
    test = bars.slice(r.fold.test_start - result.warmup, r.fold.test_stop)
    chosen = with_strategy(settings, "sma_cross", r.strategy)

    event = run_event_backtest(chosen, instrument, test, info, warmup_bars=result.warmup)
    times, values = equity_arrays(event.equity)
    expected = compute_performance(
        times, values, round_trips(event.fills, [instrument]), periods_per_year(Timeframe.H1.nanoseconds)
    )

    assert r.oos.performance.sharpe == pytest.approx(expected.sharpe, rel=1e-12)
    assert r.oos.performance.trades == expected.trades


def test_aggregate_oos_when_chained_then_returns_compound_fold_by_fold(result: WalkForwardResult) -> None:
    compounded = math.prod(1 + r.oos.performance.total_return for r in result.folds) - 1

    assert result.oos.total_return == pytest.approx(compounded, rel=1e-9)
    assert result.oos.periods == sum(len(r.oos.times) for r in result.folds) - 1
    assert result.oos.trades == sum(r.oos.performance.trades for r in result.folds)
    c = result.candidate
    assert (c.train_stop, int(result.bars.open_time_ns[c.train_start])) == (
        BARS,
        int(result.bars.open_time_ns[-1]) + Timeframe.H1.nanoseconds - 40 * DAY_NS,
    )  # the candidate trains on the latest 40 days


# --- the deployment rule ------------------------------------------------------------------------
def _threshold(result: WalkForwardResult, value: float, trades: int = 0) -> WalkForwardResult:
    """``result`` judged against an OOS Sharpe of ``value`` over at least ``trades`` OOS trades."""
    return replace(result, config=replace(result.config, min_oos_sharpe=value, min_oos_trades=trades))


def test_deploy_when_threshold_below_equal_or_above_the_oos_sharpe(result: WalkForwardResult) -> None:
    sharpe = result.oos.sharpe
    assert math.isfinite(sharpe)

    assert _threshold(result, sharpe - 0.01).deploy is True
    assert _threshold(result, sharpe).deploy is False  # strictly above
    assert _threshold(result, sharpe + 0.01).deploy is False
    assert replace(result, oos=replace(result.oos, sharpe=math.nan)).deploy is False
    assert CONFIG.min_oos_sharpe == 1.5  # SPEC §8's default


def test_deploy_when_fewer_oos_trades_than_the_minimum_then_refused_with_the_reason(result: WalkForwardResult) -> None:
    trades, sharpe = result.oos.trades, result.oos.sharpe
    assert trades > 0

    assert _threshold(result, sharpe - 0.01, trades).deploy is True  # at least the minimum
    short = _threshold(result, sharpe - 0.01, trades + 1)
    assert short.deploy is False and short.sharpe_passes  # the Sharpe alone would have deployed
    assert f"{trades} OOS trades is fewer than {trades + 1}" in short.verdict
    assert CONFIG.min_oos_trades == 100  # the default: a Sharpe over 29 trades said DEPLOY


@pytest.mark.parametrize("passes", [True, False])
def test_record_if_deployable_when_rule_passes_then_version_with_wf_sharpe_else_nothing(
    world: tuple[Settings, Instrument, OHLCV, ExchangeInfo], result: WalkForwardResult, tmp_path: Path, passes: bool
) -> None:
    settings = world[0]
    judged = _threshold(result, result.oos.sharpe - 1 if passes else result.oos.sharpe + 1)
    build = audit_context(settings)
    path = write_result(result_json(judged, settings, build), tmp_path / "runs", NOW)

    with SqlParamStore(f"sqlite:///{tmp_path / 'params.db'}") as store, AuditLog(tmp_path / "audit") as audit:
        outcome = record_if_deployable(judged, path, settings, store, audit, build, created_ns=1, author="wf")
        history = store.history()

    document = json.loads(path.read_text())
    assert document["decision"]["deploy"] is passes
    if not passes:
        assert (outcome, history, document["recorded"]) == (None, [], None)
        return
    assert outcome is not None and history == [outcome.version]
    version = outcome.version
    assert json.loads(version.parameters_json)["sma_fast"] == result.candidate.strategy["sma_fast"]
    assert (version.wf_sharpe, version.backtest_sharpe) == (result.oos.sharpe, result.candidate.is_sharpe)
    assert path.name in version.reason and "OOS Sharpe" in version.reason
    assert document["recorded"] == {"version": 1, "param_hash": version.param_hash, "created": True}


def test_record_if_deployable_when_evaluation_not_written_or_another_one_then_refused(
    world: tuple[Settings, Instrument, OHLCV, ExchangeInfo], result: WalkForwardResult, tmp_path: Path
) -> None:
    settings, build = world[0], audit_context(world[0])
    passing = _threshold(result, -1e9)
    failing = _threshold(result, 1e9)
    failing_evaluation = write_result(result_json(failing, settings, build), tmp_path, NOW)

    with SqlParamStore(f"sqlite:///{tmp_path / 'params.db'}") as store, AuditLog(tmp_path / "audit") as audit:
        with pytest.raises(FileNotFoundError, match="write the walk-forward evaluation"):
            record_if_deployable(passing, tmp_path / "missing.json", settings, store, audit, build, created_ns=1,
                                 author="wf")  # fmt: skip
        with pytest.raises(ValueError, match="is not the evaluation of this result"):
            record_if_deployable(passing, failing_evaluation, settings, store, audit, build, created_ns=1,
                                 author="wf")  # fmt: skip
        assert store.history() == []


def test_result_json_when_written_then_strict_json_with_every_fold(
    world: tuple[Settings, Instrument, OHLCV, ExchangeInfo], result: WalkForwardResult, tmp_path: Path
) -> None:
    document = result_json(result, world[0], audit_context(world[0]))
    path = write_result(document, tmp_path, NOW)
    again = write_result(document, tmp_path, NOW)

    assert re.fullmatch(r"walk-forward-20260301T120000Z-[0-9a-f]{8}\.json", path.name)
    assert again != path and again.name == path.stem + "-1.json"  # never overwritten
    stored = json.loads(path.read_text())
    assert [f["fold"] for f in stored["folds"]] == list(range(8))
    assert stored["folds"][0]["train"]["end"] == stored["folds"][0]["test"]["start"]
    assert stored["oos"]["sharpe"] == result.oos.sharpe
    assert stored["config"]["warmup_bars"] == 241 and stored["config"]["step_days"] == 10
    assert stored["data"]["bars"] == BARS


# --- the command --------------------------------------------------------------------------------
app = typer.Typer(pretty_exceptions_enable=False)
app.command("walk-forward")(walk_forward)
app.command("other")(lambda: None)  # two commands: the app keeps `walk-forward` as a sub-command name
runner = CliRunner()


@pytest.fixture
def cli_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("THUNES_CONFIG", "THUNES_RULES__EXCHANGE_INFO_PATH", "THUNES_STRATEGY__NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "paper").mkdir()  # the session's data dir: a recording walk-forward never creates one
    return tmp_path


def _cli(shared_data: Path, threshold: str) -> list[str]:
    return ["walk-forward", "--data", str(shared_data / FEATHER), "--start", "2025-01-01", "--end", "2025-03-01",
            "--train-days", "30", "--test-days", "7", "--trials", "3", "--min-oos-sharpe", threshold,
            "--min-oos-trades", "0", "--data-dir", "paper"]  # fmt: skip


def test_cli_walk_forward_when_rule_passes_then_deploy_evaluation_written_and_version_recorded(
    cli_dir: Path, shared_data: Path
) -> None:
    outcome = runner.invoke(app, _cli(shared_data, "-100"))

    assert outcome.exit_code == 0, outcome.output
    assert "DEPLOY: OOS Sharpe" in outcome.output and "DO NOT DEPLOY" not in outcome.output
    (path,) = (cli_dir / "runs").glob("walk-forward-*.json")
    stored = json.loads(path.read_text())
    assert len(stored["folds"]) == 4  # (59 - 30) // 7
    assert re.search(r"recorded sma_cross v1 \(param hash [0-9a-f]{16}\)", outcome.output)
    with SqlParamStore(f"sqlite:///{cli_dir / 'paper' / 'params.db'}") as store:
        (version,) = store.history()
    assert stored["recorded"]["param_hash"] == version.param_hash
    assert version.wf_sharpe == stored["oos"]["sharpe"] and version.author == "walk-forward"


def test_cli_walk_forward_when_rule_fails_then_do_not_deploy_exit_3_and_nothing_recorded(
    cli_dir: Path, shared_data: Path
) -> None:
    outcome = runner.invoke(app, _cli(shared_data, "100"))

    assert outcome.exit_code == EXIT_NOT_DEPLOYED == 3, outcome.output
    assert "DO NOT DEPLOY: OOS Sharpe" in outcome.output and "is not > 100.0" in outcome.output
    (path,) = (cli_dir / "runs").glob("walk-forward-*.json")  # the evaluation is recorded either way
    assert json.loads(path.read_text())["decision"]["deploy"] is False
    assert list((cli_dir / "paper").iterdir()) == []


def test_cli_walk_forward_when_windows_do_not_fit_then_one_error_line(cli_dir: Path, shared_data: Path) -> None:
    too_long = [*_cli(shared_data, "1.5"), "--train-days", "90"]
    too_short = [*_cli(shared_data, "1.5"), "--train-days", "5"]

    no_fold, no_warmup = runner.invoke(app, too_long), runner.invoke(app, too_short)

    assert no_fold.exit_code == 2 and "error: 1,416 bars hold no fold" in no_fold.output
    assert no_warmup.exit_code == 2 and "shorter than the 241-bar warm-up" in no_warmup.output
