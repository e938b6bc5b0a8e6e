"""Issue 16 item 4, acceptance: a strategy written by a user outside the package (a file in a temporary
directory) is backtested, paper-traded, optimised and look-ahead-checked through the CLI, and runs on
``report backtest``, ``walk-forward`` and ``parity`` too, on the same engine as the built-ins."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from thunes.app.cli.main import app

pytestmark = pytest.mark.slow

runner = CliRunner()

USER_STRATEGY = '''
"""Not part of THUNES: a user's own strategy, in a folder of their own."""

from decimal import Decimal

from thunes.strategy.api import Bar, Param, Signal, UserStrategy


class Momentum(UserStrategy):
    """Long after `run` closes each up by more than `min_move`, out after `run` down by more."""

    api_version = 1
    name = "tmp_momentum"
    version = "1.0"
    params = {
        "run": Param(2, low=1, high=6, help="Closes in a row."),
        "min_move": Param(Decimal("0"), low=Decimal("0"), high=Decimal("0.004"), step=Decimal("0.001")),
    }

    @property
    def warmup(self) -> int:
        return self.p.run + 1

    def reset(self) -> None:
        self.last: Decimal | None = None
        self.up = self.down = 0
        self.long = False

    def on_bar(self, bar: Bar) -> Signal:
        if self.last is not None:
            move = (bar.close - self.last) / self.last
            self.up = self.up + 1 if move > self.p.min_move else 0
            self.down = self.down + 1 if move < -self.p.min_move else 0
        self.last = bar.close
        if not self.long and self.up >= self.p.run:
            self.long = True
            return Signal.ENTER_LONG
        if self.long and self.down >= self.p.run:
            self.long = False
            return Signal.EXIT_LONG
        return Signal.HOLD
'''


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> str:
    """The user's file in a temporary directory (the working directory is another one), as a spec."""
    folder = tmp_path / "my strategies"
    folder.mkdir()
    (folder / "momentum.py").write_text(USER_STRATEGY)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("THUNES_CONFIG", "THUNES_STRATEGY__NAME", "THUNES_STRATEGY__PARAMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    return f"{folder / 'momentum.py'}:Momentum"


def _ok(argv: list[str]) -> str:
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, f"{argv}: exit {result.exit_code}\n{result.output}"
    return result.output


def test_user_strategy_when_backtested_and_optimised_then_trial_sharpe_is_the_backtests(user: str) -> None:
    storage = f"sqlite:///{Path.cwd() / 'optuna.db'}"

    _ok(["backtest", "--strategy", user, "--synthetic", "900", "--json", "default.json"])
    out = _ok(["optimize", "--strategy", user, "--synthetic", "900", "--trials", "2", "--storage", storage,
               "--study", "user"])  # fmt: skip

    default = json.loads(Path("default.json").read_text())
    assert str(default["strategy_id"]).startswith("tmp_momentum-")
    assert default["parameters"] == {"run": 2, "min_move": "0"}
    assert default["fills"] >= 20
    study = optuna.load_study(study_name="user", storage=storage)
    assert study.user_attrs["setup"]["strategy"] == user
    assert "run=" in out and "min_move=" in out
    best = study.best_trial
    assert set(best.params) == {"run", "min_move"}
    params = best.user_attrs["strategy"]["params"]
    argv = [f"--param={k}={v}" for k, v in params.items()]
    _ok(["backtest", "--strategy", user, "--synthetic", "900", *argv, "--json", "best.json"])
    again = json.loads(Path("best.json").read_text())
    assert again["metrics"]["sharpe"] == pytest.approx(best.value, rel=0, abs=0)  # same engine, same bars
    assert again["metrics"]["trades"] == best.user_attrs["trades"]


def test_user_strategy_when_lookahead_checked_then_passes(user: str) -> None:
    out = _ok(["lookahead", "--strategy", user, "--synthetic", "900", "--cuts", "8"])

    assert re.search(r"strategy\s+tmp_momentum", out)
    assert "passed" in out


def test_user_strategy_when_paper_traded_then_venue_trades_equal_ledger_fills(user: str) -> None:
    out = _ok(["trade", "--paper", "--strategy", user, "--param", "run=1", "--duration", "3", "--data-dir", "paper"])

    orders = re.search(r"orders sent / fills\s+(\d+) / (\d+)", out)
    venue = re.search(r"venue trades / ledger fills\s+(\d+) / (\d+)", out)
    assert orders is not None and venue is not None, out
    assert int(orders.group(2)) >= 1  # orders filled (a MARKET order may fill in several trades)
    assert venue.group(1) == venue.group(2) and int(venue.group(2)) >= int(orders.group(2))
    audit = "".join(path.read_text() for path in Path("paper/audit").glob("*.jsonl"))
    assert f'"strategy_id":"{user}"' in audit  # who decided, in the audit trail
    assert '"strategy_id":"tmp_momentum-' in audit  # the instance that placed the orders


def test_user_strategy_when_reported_walked_forward_and_parity_checked_then_same_engine(user: str) -> None:
    _ok(["report", "backtest", "--strategy", user, "--synthetic", "600", "--out", "runs"])
    wf = runner.invoke(app, ["walk-forward", "--strategy", user, "--synthetic", "1200", "--train-days", "20",
                             "--test-days", "10", "--trials", "3", "--no-record", "--out", "wf"])  # fmt: skip
    parity = _ok(["parity", "--strategy", user, "--param", "run=1", "--bars", "150", "--warmup", "20"])

    (config,) = Path("runs").glob("*/config.json")
    assert json.loads(config.read_text())["strategy"] == user
    assert wf.exit_code in (0, 3), wf.output  # deploy or not: the verdict on a synthetic market
    (evaluation,) = Path("wf").glob("walk-forward-*.json")
    assert json.loads(evaluation.read_text())["strategy"] == user
    assert "IDENTICAL" in parity
    fills = re.search(r"IDENTICAL: (\d+) fills", parity)
    assert fills is not None and int(fills.group(1)) >= 2
