"""Optuna search over the fast backtest: seeded, constrained, honest about its objective, and shared
through SQLite and PostgreSQL studies; ``thunes optimize`` through a real Typer app."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import optuna
import pytest
import typer
from pyarrow import feather
from typer.testing import CliRunner

from thunes.adapters.storage.audit_jsonl import AuditLog
from thunes.adapters.storage.params_sql import SqlParamStore
from thunes.app.audit_setup import audit_context
from thunes.app.cli.optimize import optimize as optimize_command
from thunes.app.config import Settings, load_settings
from thunes.backtest.event import run_event_backtest
from thunes.backtest.fast import run_fast_backtest
from thunes.backtest.report_files import evaluate
from thunes.domain import ExchangeInfo, Instrument, Timeframe, parse_exchange_info
from thunes.features import OHLCV
from thunes.research.optimize import (
    OptimizeConfig,
    OptimizeResult,
    RsiSpace,
    SmaSpace,
    StudyMismatchError,
    StudyStorageError,
    close_storage,
    equity_curve,
    masked_url,
    open_storage,
    optimize,
    record_parameters,
    with_strategy,
)

BARS = 3_000  # 1h bars of real BTCUSDT: ~4 months, enough for every point of the default spaces
PG_URL = os.environ.get("THUNES_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FEATHER = "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather"


@dataclass(frozen=True)
class Market:
    settings: Settings
    instrument: Instrument
    bars: OHLCV
    info: ExchangeInfo


@pytest.fixture(scope="module")
def market(shared_data: Path, exchange_info_path: Path) -> Market:
    info = parse_exchange_info(json.loads(exchange_info_path.read_text()))
    table = feather.read_table(shared_data / FEATHER)
    cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    bars = OHLCV.from_arrays("BTCUSDT", Timeframe.H1, table.column("date").cast("int64").to_numpy(), *cols)
    return Market(load_settings(env={}), info.get("BTCUSDT"), bars.slice(0, BARS), info)


def _run(market: Market, config: OptimizeConfig, storage: optuna.storages.BaseStorage | None = None) -> OptimizeResult:
    return optimize(market.settings, market.instrument, market.bars, market.info, config, storage=storage)


def _trials(storage: optuna.storages.BaseStorage, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def _history(study: optuna.Study) -> list[tuple[dict[str, Any], Any]]:
    return [(t.params, t.values) for t in study.get_trials()]


# --- seeds and search spaces --------------------------------------------------------------------
def test_optimize_when_same_seed_twice_then_same_trials_and_same_best(market: Market) -> None:
    config = OptimizeConfig("sma_cross", "seeded", trials=14, seed=7)  # past TPE's 10 random start-up trials
    storages = [optuna.storages.InMemoryStorage() for _ in range(3)]

    first, second = _run(market, config, storages[0]), _run(market, config, storages[1])
    other = _run(market, OptimizeConfig("sma_cross", "seeded", trials=14, seed=8), storages[2])

    runs = [optuna.load_study(study_name="seeded", storage=s) for s in storages]
    assert _history(runs[0]) == _history(runs[1])
    assert first.best == second.best
    assert first.best is not None and math.isfinite(first.best.sharpe)
    assert _history(runs[2]) != _history(runs[0])  # the seed is what fixes them
    assert other.trials_total == 14


def test_sma_space_when_sampled_then_fast_below_slow_by_the_gap_and_within_bounds(market: Market) -> None:
    space = SmaSpace(fast=(3, 40), slow_max=120, min_gap=4)
    storage = optuna.storages.InMemoryStorage()

    result = _run(market, OptimizeConfig("sma_cross", "sma", trials=25, seed=1, space=space), storage)

    trials = _trials(storage, "sma")
    assert result.complete + result.pruned == 25
    for t in trials:
        fast, slow = t.params["sma_fast"], t.params["sma_slow"]
        assert 3 <= fast <= 40 and fast + 4 <= slow <= 120
        assert t.user_attrs["strategy"] == {"sma_fast": fast, "sma_slow": slow}
    assert len({(t.params["sma_fast"], t.params["sma_slow"]) for t in trials}) > 20
    assert result.warmup == space.warmup == 121  # the longest slow window, plus the bar that shows a cross
    assert SmaSpace().warmup == 241


def test_sma_space_when_warmup_below_what_slow_needs_then_refused(market: Market) -> None:
    with pytest.raises(ValueError, match="shorter than the 241 bars"):
        _run(market, OptimizeConfig("sma_cross", "short", trials=1, warmup=200))
    with pytest.raises(ValueError, match="empty SMA space"):
        SmaSpace(fast=(5, 60), slow_max=62, min_gap=5)


def test_rsi_space_when_sampled_then_thresholds_ordered_and_stop_a_short_decimal(market: Market) -> None:
    storage = optuna.storages.InMemoryStorage()

    _run(market, OptimizeConfig("rsi_reversion", "rsi", trials=12, seed=3), storage)

    for t in _trials(storage, "rsi"):
        chosen = t.user_attrs["strategy"]
        assert 5 <= chosen["rsi_period"] <= 30
        assert 15 <= chosen["rsi_oversold"] <= 40
        assert 60 <= chosen["rsi_overbought"] <= 85
        assert re.fullmatch(r"0\.\d{3}", chosen["rsi_stop_loss"])
        assert Decimal("0.01") <= Decimal(chosen["rsi_stop_loss"]) <= Decimal("0.10")
        assert with_strategy(market.settings, "rsi_reversion", chosen).strategy.rsi_stop_loss == Decimal(
            chosen["rsi_stop_loss"]
        )


# --- the objective is the backtest's Sharpe -------------------------------------------------------
@pytest.mark.parametrize("strategy", ["sma_cross", "rsi_reversion"])
def test_equity_curve_when_rebuilt_from_fast_fills_then_equals_the_event_backtest_marks(
    market: Market, strategy: str
) -> None:
    settings = with_strategy(market.settings, strategy, {})
    event = run_event_backtest(settings, market.instrument, market.bars, market.info, warmup_bars=241)
    fast = run_fast_backtest(settings, market.instrument, market.bars, market.info, warmup_bars=241)
    deposit = settings.backtest.initial_cash  # what both runs start with when given none

    times, values = equity_curve(market.bars, fast.fills, market.instrument, warmup_bars=241, deposit=deposit)
    from_columns = fast.equity_curve(market.bars, 241)  # the kernel's integer columns, no Decimal loop

    assert len(fast.fills) > 10
    assert times.tolist() == [t for t, _ in event.equity]
    assert values.tolist() == [float(v) for _, v in event.equity]
    assert fast.kernel and from_columns is not None
    assert from_columns[0].tolist() == times.tolist()
    assert from_columns[1].tolist() == values.tolist()  # bit for bit


@pytest.mark.parametrize("strategy", ["sma_cross", "rsi_reversion"])
def test_objective_when_best_trial_then_equals_the_event_driven_report_of_those_parameters(
    market: Market, strategy: str
) -> None:
    result = _run(market, OptimizeConfig(strategy, "honest", trials=8, seed=11))
    assert result.best is not None

    chosen = with_strategy(market.settings, strategy, result.best.strategy)
    report = evaluate(chosen, market.instrument, market.bars, market.info, "test", warmup_bars=result.warmup)

    assert report.config["parameters"] != dict(market.settings.strategy.model_dump())  # real parameters ran
    assert result.best.sharpe == pytest.approx(report.performance.sharpe, rel=1e-12)
    assert result.best.total_return == pytest.approx(report.performance.total_return, rel=1e-12)
    assert result.best.max_drawdown == pytest.approx(report.performance.max_drawdown, rel=1e-12)
    assert result.best.trades == report.performance.trades


def test_optimize_when_points_are_invalid_then_pruned_with_the_reason_and_the_study_goes_on(market: Market) -> None:
    @dataclass(frozen=True)
    class Overlapping:  # fast and slow drawn from the same range: about half the pairs are impossible
        strategy: str = "sma_cross"
        warmup: int = 41

        def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
            return {"sma_fast": trial.suggest_int("sma_fast", 5, 40), "sma_slow": trial.suggest_int("sma_slow", 5, 40)}

    storage = optuna.storages.InMemoryStorage()
    result = _run(market, OptimizeConfig("sma_cross", "overlap", trials=16, seed=2, space=Overlapping()), storage)

    pruned = [t for t in _trials(storage, "overlap") if t.state is optuna.trial.TrialState.PRUNED]
    assert result.pruned == len(pruned) > 0 and result.complete == 16 - len(pruned) > 0
    for t in pruned:
        assert t.params["sma_fast"] >= t.params["sma_slow"]
        assert t.user_attrs["pruned"].startswith("invalid parameters: ")
    assert result.best is not None and result.best.strategy["sma_fast"] < result.best.strategy["sma_slow"]


def test_optimize_when_a_point_is_proposed_again_then_its_earlier_result_is_reused(market: Market) -> None:
    tiny = SmaSpace(fast=(5, 6), slow_max=12, min_gap=5)  # five (fast, slow) pairs for twelve trials
    storage = optuna.storages.InMemoryStorage()

    _run(market, OptimizeConfig("sma_cross", "tiny", trials=12, seed=0, space=tiny), storage)

    trials = {t.number: t for t in _trials(storage, "tiny")}
    repeats = [t for t in trials.values() if "same_as" in t.user_attrs]
    assert len({tuple(t.params.items()) for t in trials.values()}) <= 5 and len(repeats) >= 7
    for t in repeats:
        first = trials[t.user_attrs["same_as"]]
        assert first.number < t.number and first.params == t.params and "same_as" not in first.user_attrs
        assert (t.values, t.user_attrs["trades"]) == (first.values, first.user_attrs["trades"])


def test_optimize_when_no_point_ever_trades_then_all_pruned_and_no_best(market: Market) -> None:
    never = RsiSpace(period=(25, 30), oversold=(1.0, 2.0))  # a 25-bar RSI of BTC 1h never falls this low
    storage = optuna.storages.InMemoryStorage()

    result = _run(market, OptimizeConfig("rsi_reversion", "flat", trials=4, space=never), storage)

    assert (result.complete, result.pruned, result.best) == (0, 4, None)
    assert {t.user_attrs["pruned"] for t in _trials(storage, "flat")} == {"Sharpe undefined (0 trades)"}


def test_optimize_when_multi_then_pareto_front_is_not_dominated_and_values_are_sharpe_and_drawdown(
    market: Market,
) -> None:
    storage = optuna.storages.InMemoryStorage()

    result = _run(market, OptimizeConfig("sma_cross", "multi", trials=12, seed=4, multi=True, population=6), storage)

    done = [t for t in _trials(storage, "multi") if t.state is optuna.trial.TrialState.COMPLETE]
    assert result.best is None and result.directions == ("maximize", "minimize") and result.pareto
    for point in result.pareto:
        values = next(t.values for t in done if t.number == point.number)
        assert values == [point.sharpe, -point.max_drawdown]
        dominating = [t for t in done if t.values[0] >= values[0] and t.values[1] <= values[1] and t.values != values]
        assert dominating == []
    assert [p.sharpe for p in result.pareto] == sorted((p.sharpe for p in result.pareto), reverse=True)
    assert len({tuple(p.strategy.items()) for p in result.pareto}) == len(result.pareto)  # each point listed once


# --- shared studies -----------------------------------------------------------------------------
def test_sqlite_study_when_optimised_twice_then_continued_and_trials_add_up(market: Market, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'optuna.db'}"
    config = OptimizeConfig("sma_cross", "shared", trials=4, seed=5)

    first_storage = open_storage(url)
    first = _run(market, config, first_storage)
    close_storage(first_storage)
    second_storage = open_storage(url)  # a second process on the same file
    second = _run(market, OptimizeConfig("sma_cross", "shared", trials=3, seed=5), second_storage)

    trials = _trials(second_storage, "shared")
    close_storage(second_storage)
    assert (first.trials_total, second.trials_total, len(trials)) == (4, 7, 7)
    assert [t.number for t in trials] == list(range(7))
    assert [t.params for t in trials[4:]] != [t.params for t in trials[:3]]  # not a replay of the first seed
    assert second.best is not None and second.best.sharpe == max(t.value for t in trials if t.value is not None)


def test_study_when_continued_on_other_data_or_strategy_then_refused(market: Market) -> None:
    storage = optuna.storages.InMemoryStorage()
    _run(market, OptimizeConfig("sma_cross", "fixed", trials=1), storage)
    shorter = Market(market.settings, market.instrument, market.bars.slice(0, BARS - 24), market.info)

    with pytest.raises(StudyMismatchError, match="bars, last_open_ns"):
        optimize(shorter.settings, shorter.instrument, shorter.bars, shorter.info,
                 OptimizeConfig("sma_cross", "fixed", trials=1), storage=storage)  # fmt: skip
    with pytest.raises(StudyMismatchError, match="space, strategy, warmup"):
        _run(market, OptimizeConfig("rsi_reversion", "fixed", trials=1), storage)
    with pytest.raises(StudyMismatchError, match="objective"):
        _run(market, OptimizeConfig("sma_cross", "fixed", trials=1, multi=True), storage)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the real server, dropped afterwards (skipped only when no server answers, never in CI)."""
    psycopg = pytest.importorskip("psycopg")
    schema, plain = f"optuna_{secrets.token_hex(6)}", PG_URL.replace("+psycopg", "")
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as e:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable in CI: {e}")
        pytest.skip(f"no PostgreSQL server: {e}")
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_postgresql_study_when_two_workers_optimise_then_one_study_holds_both(market: Market, pg_url: str) -> None:
    name = f"pg-{secrets.token_hex(4)}"
    machines = [open_storage(pg_url), open_storage(pg_url)]  # two engines: as two machines would connect
    try:
        first = _run(market, OptimizeConfig("sma_cross", name, trials=3, seed=1), machines[0])
        second = _run(market, OptimizeConfig("sma_cross", name, trials=2, seed=2), machines[1])
        trials = _trials(machines[0], name)
    finally:
        for storage in machines:
            close_storage(storage)

    assert (first.trials_total, second.trials_total, len(trials)) == (3, 5, 5)
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    assert second.best is not None and second.best.sharpe == max(t.value for t in trials if t.value is not None)


def test_postgresql_study_when_workers_start_together_on_an_empty_database_then_all_join_one_study(
    market: Market, pg_url: str
) -> None:
    """Optuna's first workers race to create its tables (duplicate key/table errors): nobody may fail."""
    name, workers = f"pg-{secrets.token_hex(4)}", 4
    barrier = threading.Barrier(workers)
    results: list[OptimizeResult] = []
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        barrier.wait()
        try:
            storage = open_storage(pg_url)
            try:
                results.append(_run(market, OptimizeConfig("sma_cross", name, trials=2, seed=seed), storage))
            finally:
                close_storage(storage)
        except BaseException as e:  # collected: an error in a thread must fail the test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    storage = open_storage(pg_url)
    try:
        assert len(_trials(storage, name)) == 2 * workers
    finally:
        close_storage(storage)
    assert sorted(r.trials_run for r in results) == [2] * workers


def test_open_storage_when_server_unreachable_then_one_error_without_the_password() -> None:
    with pytest.raises(StudyStorageError, match=r"cannot open study storage postgresql\+psycopg://u:\*\*\*@127"):
        open_storage("postgresql+psycopg://u:s3cret@127.0.0.1:1/x")
    assert masked_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert masked_url("sqlite:///data/optuna.db") == "sqlite:///data/optuna.db"


# --- recording ----------------------------------------------------------------------------------
def test_record_parameters_when_best_found_then_a_version_with_its_sharpe_and_an_audit_record(
    market: Market, tmp_path: Path
) -> None:
    result = _run(market, OptimizeConfig("sma_cross", "to-record", trials=3, seed=9))
    assert result.best is not None
    chosen = with_strategy(market.settings, "sma_cross", result.best.strategy)

    with SqlParamStore(f"sqlite:///{tmp_path / 'params.db'}") as store, AuditLog(tmp_path / "audit") as audit:
        outcome = record_parameters(store, audit, audit_context(market.settings), chosen.strategy, created_ns=1,
                                    author="test", reason="why", backtest_sharpe=result.best.sharpe,
                                    wf_sharpe=math.nan)  # fmt: skip
        history = store.history("sma_cross")

    assert outcome.created and history == [outcome.version]
    assert json.loads(outcome.version.parameters_json)["sma_fast"] == result.best.strategy["sma_fast"]
    assert outcome.version.param_hash == audit_context(chosen).param_hash
    assert (outcome.version.backtest_sharpe, outcome.version.wf_sharpe) == (result.best.sharpe, None)


# --- the command --------------------------------------------------------------------------------
app = typer.Typer(pretty_exceptions_enable=False)
app.command("optimize")(optimize_command)
app.command("other")(lambda: None)  # two commands: the app keeps `optimize` as a sub-command name
runner = CliRunner()


@pytest.fixture
def cli_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> Path:
    """An empty working directory (no thunes.toml) that finds the real exchangeInfo dump."""
    monkeypatch.chdir(tmp_path)
    for name in ("THUNES_CONFIG", "THUNES_RULES__EXCHANGE_INFO_PATH", "THUNES_STRATEGY__NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def _cli(shared_data: Path, *args: str) -> list[str]:
    data = ["--data", str(shared_data / FEATHER), "--start", "2025-01-01", "--end", "2025-04-01"]
    return ["optimize", *data, "--data-dir", "paper", *args]


def test_cli_optimize_when_run_twice_on_default_storage_then_study_continues(cli_dir: Path, shared_data: Path) -> None:
    first = runner.invoke(app, _cli(shared_data, "--trials", "3"))
    second = runner.invoke(app, _cli(shared_data, "--trials", "2", "--seed", "1"))

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert (cli_dir / "data" / "optuna.db").is_file()
    name = "sma_cross-BTCUSDT-1h-20250101-20250401"
    assert f"study {name} in sqlite:///data/optuna.db: 3 trials run, 3 in the study" in first.output
    assert f"study {name} in sqlite:///data/optuna.db: 2 trials run, 5 in the study (5 complete" in second.output
    assert "2,160 bars 2025-01-01 → 2025-04-01" in first.output
    assert re.search(r"best trial #\d: fast=\d+ slow=\d+ +Sharpe -?\d\.\d{3}", second.output)
    assert not (cli_dir / "paper").exists()  # nothing recorded without --record


def test_cli_optimize_when_record_then_version_in_the_history_and_audit_trail(cli_dir: Path, shared_data: Path) -> None:
    (cli_dir / "paper").mkdir()
    result = runner.invoke(app, _cli(shared_data, "--strategy", "rsi_reversion", "--trials", "4", "--record",
                                     "--storage", f"sqlite:///{cli_dir / 'studies.db'}"))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert re.search(r"recorded rsi_reversion v1 \(param hash [0-9a-f]{16}\)", result.output)
    with SqlParamStore(f"sqlite:///{cli_dir / 'paper' / 'params.db'}") as store:
        (version,) = store.history("rsi_reversion")
    assert version.author == "optimize" and "not walk-forward validated" in version.reason
    assert version.wf_sharpe is None and version.backtest_sharpe is not None
    assert f"Sharpe {version.backtest_sharpe:.3f}" in result.output
    assert "PARAMETER_UPDATED" in next((cli_dir / "paper" / "audit").glob("*.jsonl")).read_text()


def test_cli_optimize_when_record_to_a_missing_data_dir_then_refused_before_the_study(
    cli_dir: Path, shared_data: Path
) -> None:
    # It created the folder (a typo made a new session dir) and wrote the study first.
    storage = cli_dir / "studies.db"
    result = runner.invoke(app, _cli(shared_data, "--trials", "1", "--record", "--storage", f"sqlite:///{storage}"))

    assert result.exit_code == 2, result.output
    assert "error: --data-dir paper is missing" in result.output
    assert not (cli_dir / "paper").exists() and not storage.exists()


def test_cli_optimize_when_multi_then_pareto_front_printed_and_record_refused(cli_dir: Path, shared_data: Path) -> None:
    result = runner.invoke(app, _cli(shared_data, "--multi", "--trials", "4"))
    refused = runner.invoke(app, _cli(shared_data, "--multi", "--trials", "4", "--record"))

    assert result.exit_code == 0, result.output
    assert "Pareto front (Sharpe up, max drawdown down)" in result.output
    assert "sma_cross-BTCUSDT-1h-20250101-20250401-multi" in result.output
    assert refused.exit_code == 2 and "--record needs one best trial" in refused.output


def test_cli_optimize_when_bad_input_then_one_error_line_and_exit_2(cli_dir: Path, shared_data: Path) -> None:
    storage = runner.invoke(app, _cli(shared_data, "--storage", "postgresql+psycopg://u:pw@127.0.0.1:1/x"))
    dates = runner.invoke(app, _cli(shared_data, "--start", "2030-01-01"))
    mismatch = [runner.invoke(app, _cli(shared_data, "--trials", "1", "--study", "s", *extra))
                for extra in ([], ["--strategy", "rsi_reversion"])]  # fmt: skip

    assert storage.exit_code == 2 and "error: cannot open study storage postgresql+psycopg://u:***@" in storage.output
    assert "pw@" not in storage.output
    assert dates.exit_code == 2 and "error: fewer than 2 bars between 2030-01-01" in dates.output
    assert mismatch[0].exit_code == 0
    assert mismatch[1].exit_code == 2 and "error: study 's' was run with other space, strategy" in mismatch[1].output


def test_cli_module_when_imported_then_optuna_is_not_loaded() -> None:
    """The main CLI mounts these commands: importing them must not need the ``research`` extra."""
    code = "import sys, thunes.app.cli.optimize; sys.exit('optuna' in sys.modules)"

    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_cli_optimize_when_optuna_missing_then_names_the_research_extra(
    cli_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "thunes.research.optimize", raising=False)  # nor could research have loaded

    result = runner.invoke(app, ["optimize", "--synthetic", "500"])

    assert result.exit_code == 2
    assert "needs the optional 'research' extra" in result.output
