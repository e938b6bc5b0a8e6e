"""Issue 16 item 4: what a backtest takes (``initial_cash``, ``fee_rate``, ``warmup_bars``) comes from
one place, the ``[backtest]`` settings, in every command that backtests (an option overrides it for
that run only, named the same everywhere); ``parity`` takes ``--symbol``/``--data``; the walk-forward
deploy rule needs a minimum number of out-of-sample trades. Before: ``backtest`` started with
``backtest.initial_cash`` (10000) and the others with a hard-coded 1000, the venue charged 0.1 % whatever
``fee_rate`` said, and walk-forward said DEPLOY over 29 trades."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from thunes.app.cli.main import app
from thunes.app.cli.optimize import EXIT_NOT_DEPLOYED
from thunes.app.config import load_settings
from thunes.app.sources import load_bars, load_exchange_info_source
from thunes.backtest.event import run_event_backtest
from thunes.domain import Timeframe
from thunes.domain.orders import Side

runner = CliRunner()
CASH, FEE, WARMUP = "2500", "0.00075", 250  # the warm-up covers the SMA search space's 241 bars
ETH_1H = "binance/ohlcv/marketlab_2024-09_2026-02/ETH_USDT-1h.feather"


@pytest.fixture
def cwd(tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory whose thunes.toml sets the three backtest settings."""
    monkeypatch.chdir(tmp_path)
    for name in ("THUNES_CONFIG", "THUNES_RULES__EXCHANGE_INFO_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    (tmp_path / "thunes.toml").write_text(
        f'[backtest]\ninitial_cash = "{CASH}"\nfee_rate = "{FEE}"\nwarmup_bars = {WARMUP}\n'
    )
    (tmp_path / "paper").mkdir()
    return tmp_path


def _run(*argv: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(argv))
    assert result.exit_code == code, result.output
    return result


def _backtest_json(cwd: Path, name: str, *extra: str) -> dict[str, object]:
    out = cwd / f"{name}.json"
    _run("backtest", "--synthetic", "600", "--json", str(out), *extra)
    document: dict[str, object] = json.loads(out.read_text())
    return document


def test_backtesting_commands_when_one_config_then_the_same_cash_fee_and_warmup(cwd: Path) -> None:
    backtest = _backtest_json(cwd, "backtest")
    _run("report", "backtest", "--synthetic", "600", "--out", str(cwd / "runs"))
    (run_dir,) = (cwd / "runs").iterdir()
    report = json.loads((run_dir / "config.json").read_text())["backtest"]
    optimized = _run("optimize", "--synthetic", "600", "--trials", "1", "--storage", f"sqlite:///{cwd}/o.db").output
    walk = ["walk-forward", "--synthetic", "1300", "--train-days", "20", "--test-days", "10", "--trials", "1"]
    _run(*walk, "--out", str(cwd / "wf"), "--no-record", code=EXIT_NOT_DEPLOYED)  # too few OOS trades
    (wf_path,) = (cwd / "wf").glob("walk-forward-*.json")
    walk_forward = json.loads(wf_path.read_text())["config"]

    assert (backtest["initial_cash"], backtest["fee_rate"], backtest["warmup_bars"]) == (CASH, FEE, WARMUP)
    assert (report["deposit"], report["fee_rate"], report["warmup_bars"]) == (CASH, FEE, WARMUP)
    assert f"{WARMUP}-bar warm-up, starting with {CASH} at a {FEE} fee rate" in " ".join(optimized.split())
    assert (walk_forward["deposit"], walk_forward["fee_rate"], walk_forward["warmup_bars"]) == (CASH, FEE, WARMUP)


def test_backtest_options_when_given_on_one_run_then_only_that_run_changes(cwd: Path) -> None:
    overridden = _backtest_json(cwd, "one", "--initial-cash", "5000", "--fee-rate", "0", "--warmup", "120")
    configured = _backtest_json(cwd, "two")

    assert (overridden["initial_cash"], overridden["fee_rate"], overridden["warmup_bars"]) == ("5000", "0", 120)
    assert Decimal(str(overridden["fees"])) == 0  # the venue charged what was asked
    assert (configured["initial_cash"], configured["fee_rate"], configured["warmup_bars"]) == (CASH, FEE, WARMUP)


def test_event_backtest_when_fee_rate_configured_then_the_venue_charges_it(shared_data: Path) -> None:
    settings = load_settings(env={"THUNES_DATA__SHARED_DATA_DIR": str(shared_data), "THUNES_BACKTEST__FEE_RATE": FEE})
    info, _ = load_exchange_info_source(settings.rules, settings.data)
    instrument = info.get("BTCUSDT")
    bars = load_bars(instrument, Timeframe.H1, settings.data).bars.slice(0, 2_000)

    fills = run_event_backtest(settings, instrument, bars, info).fills

    assert len(fills) >= 4
    for side in (Side.BUY, Side.SELL):  # per fill the fee is rounded up to the asset's precision: in total, the rate
        mine = [f for f in fills if f.side is side]
        paid = sum((f.commission for f in mine), Decimal(0))
        charged = paid / sum((f.quantity * (1 if side is Side.BUY else f.price) for f in mine), Decimal(0))
        assert Decimal(FEE) <= charged < Decimal("0.0008"), (side, charged)  # not the 0.001 it used to be


def test_walk_forward_when_fewer_oos_trades_than_the_minimum_then_not_deployed_with_the_reason(cwd: Path) -> None:
    walk = ["walk-forward", "--synthetic", "1300", "--train-days", "20", "--test-days", "10", "--trials", "1"]
    walk += ["--min-oos-sharpe", "-1000000", "--no-record"]  # any Sharpe passes: the trade count decides

    refused = _run(*walk, "--out", str(cwd / "a"), code=EXIT_NOT_DEPLOYED)
    passed = _run(*walk, "--min-oos-trades", "0", "--out", str(cwd / "b"))

    assert "DO NOT DEPLOY" in refused.output and "OOS trades is fewer than 100" in " ".join(refused.output.split())
    (document,) = (json.loads(p.read_text()) for p in (cwd / "a").glob("*.json"))
    assert document["decision"]["deploy"] is False and document["oos"]["trades"] < 100
    assert "oos_trades >= 100" in document["decision"]["rule"]
    assert "DEPLOY" in passed.output and "DO NOT" not in passed.output


def test_parity_when_symbol_and_data_given_then_that_market_is_compared(cwd: Path, shared_data: Path) -> None:
    result = _run(
        "parity", "--symbol", "ETHUSDT", "--data", str(shared_data / ETH_1H), "--bars", "400", "--warmup", "60"
    )

    assert "IDENTICAL" in result.output
