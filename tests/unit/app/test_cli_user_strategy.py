"""User strategies on the command line: ``thunes new-strategy``, a strategy named by an installed
entry point or in the TOML settings, ``--fast`` falling back to the event engine with the reason, and a
strategy that peeks at the future caught by ``thunes lookahead``."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.app.cli.main import app
from thunes.strategy.loader import ENTRY_POINT_GROUP

runner = CliRunner()

UP_DOWN = '''
from decimal import Decimal

from thunes.strategy.api import Bar, Param, Signal, UserStrategy


class UpDown(UserStrategy):
    """Long after `run` rising closes, out after `run` falling ones."""

    api_version = 1
    name = "up_down"
    params = {"run": Param(2, low=1, high=6)}

    @property
    def warmup(self) -> int:
        return self.p.run + 1

    def reset(self) -> None:
        self.last, self.up, self.down, self.long = None, 0, 0, False

    def on_bar(self, bar: Bar) -> Signal:
        if self.last is not None:
            self.up = self.up + 1 if bar.close > self.last else 0
            self.down = self.down + 1 if bar.close < self.last else 0
        self.last = bar.close
        if not self.long and self.up >= self.p.run:
            self.long = True
            return Signal.ENTER_LONG
        if self.long and self.down >= self.p.run:
            self.long = False
            return Signal.EXIT_LONG
        return Signal.HOLD
'''

# Its vectorised face decides at row i from the close of row i + 1: invisible bar by bar, caught by cutting.
PEEKS = (
    UP_DOWN
    + """

class Peeks(UpDown):
    name = "peeks"

    def signals(self, bars):
        import numpy as np

        rising = np.append(bars.close[1:] > bars.close[:-1], False)  # tomorrow's close, today
        out = np.zeros(len(bars), dtype=np.int8)
        out[1:][np.diff(rising.astype(np.int8)) == 1] = Signal.ENTER_LONG
        out[1:][np.diff(rising.astype(np.int8)) == -1] = Signal.EXIT_LONG
        return out
"""
)


def _json(result_path: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads(result_path.read_text())
    return document


def test_new_strategy_when_run_then_template_backtests_as_is_and_passes_lookahead(cwd: Path) -> None:
    made = runner.invoke(app, ["new-strategy", "my_breakout", "--dir", "strategies/new"])
    spec = "strategies/new/my_breakout.py:MyBreakout"

    tested = runner.invoke(app, ["backtest", "--strategy", spec, "--synthetic", "1500", "--json", "out.json"])
    checked = runner.invoke(app, ["lookahead", "--strategy", spec, "--synthetic", "1500", "--cuts", "5"])

    assert made.exit_code == 0, made.output
    assert f"thunes backtest --strategy {spec}" in made.output
    assert tested.exit_code == 0, tested.output
    result = _json(cwd / "out.json")
    assert str(result["strategy_id"]).startswith("my_breakout-")
    assert result["parameters"] == {"entry_window": 20, "exit_window": 10}
    assert result["fills"] >= 10  # type: ignore[operator]
    assert checked.exit_code == 0, checked.output
    assert "passed" in checked.output


def test_new_strategy_when_file_exists_then_refused_and_file_untouched(cwd: Path) -> None:
    (cwd / "mine.py").write_text("# my own work\n")

    result = runner.invoke(app, ["new-strategy", "mine", "--dir", str(cwd)])

    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {cwd / 'mine.py'} exists: new-strategy never overwrites a file " \
                                    "(choose another NAME or --dir)"  # fmt: skip
    assert (cwd / "mine.py").read_text() == "# my own work\n"


def test_backtest_when_fast_with_user_strategy_then_event_engine_ran_with_the_reason(cwd: Path) -> None:
    (cwd / "up_down.py").write_text(UP_DOWN)
    base = ["backtest", "--strategy", "up_down.py:UpDown", "--synthetic", "800", "--param", "run=3"]

    event = runner.invoke(app, [*base, "--json", "event.json"])
    fast = runner.invoke(app, [*base, "--fast", "--json", "fast.json"])

    assert event.exit_code == 0 and fast.exit_code == 0, event.output + fast.output
    on_event, on_fast = _json(cwd / "event.json"), _json(cwd / "fast.json")
    assert (on_fast["engine"], on_fast["kernel"]) == ("fast", False)
    reason = "user strategy up_down: the fast path runs the built-ins only; the event-driven engine ran"
    assert on_fast["fallback_reason"] == reason
    assert on_event["parameters"] == {"run": 3}
    assert on_event["fills"] == on_fast["fills"] and on_event["fills"] >= 20  # type: ignore[operator]
    assert on_event["trades"] == on_fast["trades"]
    assert on_event["metrics"] == on_fast["metrics"]


def test_backtest_when_strategy_and_params_in_toml_then_used(cwd: Path) -> None:
    (cwd / "up_down.py").write_text(UP_DOWN)
    (cwd / "thunes.toml").write_text('[strategy]\nname = "up_down.py:UpDown"\n\n[strategy.params]\nrun = 4\n')

    configured = runner.invoke(app, ["backtest", "--synthetic", "400", "--json", "toml.json"])
    overridden = runner.invoke(app, ["backtest", "--synthetic", "400", "--param", "run=1", "--json", "cli.json"])
    refused = runner.invoke(app, ["backtest", "--synthetic", "400", "--param", "run=9"])

    assert configured.exit_code == 0, configured.output
    assert overridden.exit_code == 0, overridden.output
    assert _json(cwd / "toml.json")["parameters"] == {"run": 4}
    assert _json(cwd / "cli.json")["parameters"] == {"run": 1}  # the command line over [strategy.params]
    assert refused.exit_code == 2
    assert refused.stderr.strip() == "error: up_down parameter run: must be <= 6, got 9"


def test_backtest_when_strategy_from_installed_entry_point_then_found_by_name(
    cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = cwd / "site"
    site.mkdir()
    (site / "cli_ep_strategies.py").write_text(UP_DOWN)
    info = site / "cli_ep_strategies-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cli-ep-strategies\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nupdown = cli_ep_strategies:UpDown\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()

    result = runner.invoke(app, ["backtest", "--strategy", "updown", "--synthetic", "300", "--json", "ep.json"])

    assert result.exit_code == 0, result.output
    assert str(_json(cwd / "ep.json")["strategy_id"]).startswith("up_down-")


def test_lookahead_when_user_strategy_peeks_at_the_next_bar_then_caught_exit_1(cwd: Path) -> None:
    (cwd / "peeks.py").write_text(PEEKS)

    honest = runner.invoke(app, ["lookahead", "--strategy", "peeks.py:UpDown", "--synthetic", "600"])
    cheat = runner.invoke(app, ["lookahead", "--strategy", "peeks.py:Peeks", "--synthetic", "600"])

    assert honest.exit_code == 0, honest.output
    assert cheat.exit_code == 1, cheat.output
    assert "signal(s) changed" in cheat.output
    assert "signals" in cheat.output.split("signal(s) changed", 1)[1]  # the face that peeked is named
