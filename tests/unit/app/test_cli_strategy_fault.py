"""A user strategy that raises: every command that runs strategies says so in one line naming the
strategy, the error and where in the user's file (exit 3), never a traceback through the engine; an
error raised outside the user's code is not dressed up as the strategy's."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.app.cli.main import app
from thunes.app.errors import EXIT_STRATEGY
from thunes.strategy.loader import load_strategy_class, strategy_fault

runner = CliRunner()

# Each hook raises when its name is the one chosen (after a few bars for on_bar, so warm-up passes).
FAULTY = """
from thunes.strategy.api import Bar, Param, Signal, UserStrategy

FAIL_IN = "{fail_in}"


class Faulty(UserStrategy):
    api_version = 1
    name = "faulty"
    params = {{"run": Param(2, low=1, high=6)}}

    @property
    def warmup(self) -> int:
        if FAIL_IN == "warmup":
            raise RuntimeError("no warm-up for you")
        return 3

    def reset(self) -> None:
        if FAIL_IN == "reset":
            raise KeyError("state")
        self.seen = 0

    def on_bar(self, bar: Bar) -> Signal:
        self.seen += 1
        if FAIL_IN == "on_bar" and self.seen > 50:
            raise ZeroDivisionError("user bug")
        return Signal.ENTER_LONG if self.seen % 20 == 0 else Signal.EXIT_LONG if self.seen % 20 == 10 else Signal.HOLD
"""

LINE = {
    hook: next(n for n, line in enumerate(FAULTY.splitlines(), 1) if f'FAIL_IN == "{hook}"' in line) + 1
    for hook in ("warmup", "reset", "on_bar")
}  # each hook's raise: the line after its test
ERROR = {"warmup": "RuntimeError: no warm-up for you", "reset": "KeyError: 'state'",
         "on_bar": "ZeroDivisionError: user bug"}  # fmt: skip
COMMANDS = {
    "backtest": ["backtest", "--synthetic", "600"],
    "backtest --fast": ["backtest", "--fast", "--synthetic", "600"],
    "optimize": ["optimize", "--synthetic", "600", "--trials", "1"],
    "lookahead": ["lookahead", "--synthetic", "600", "--cuts", "2"],
}


# warmup: only the commands that ask a strategy its warm-up (a backtest takes the configured one)
RUNNING = [(c, "on_bar") for c in COMMANDS] + [("optimize", "warmup"), ("lookahead", "warmup")]


@pytest.mark.parametrize(("command", "fail_in"), RUNNING)
def test_cli_when_the_user_strategy_raises_then_one_line_naming_it_exit_3(
    cwd: Path, command: str, fail_in: str
) -> None:
    name = f"faulty_{fail_in}.py"
    (cwd / name).write_text(FAULTY.format(fail_in=fail_in))

    result = runner.invoke(app, [*COMMANDS[command], "--strategy", f"{name}:Faulty"])

    assert result.exit_code == EXIT_STRATEGY, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the strategy failed: Faulty raised {ERROR[fail_in]} (in {fail_in}, {name} line {LINE[fail_in]})"
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_when_the_user_strategy_cannot_be_built_then_one_line_with_its_line_exit_2(cwd: Path, command: str) -> None:
    (cwd / "faulty_reset.py").write_text(FAULTY.format(fail_in="reset"))  # reset runs when it is built

    result = runner.invoke(app, [*COMMANDS[command], "--strategy", "faulty_reset.py:Faulty"])

    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: Faulty(...) failed: {ERROR['reset']} (line {LINE['reset']})"


def test_strategy_fault_when_raised_outside_user_code_then_none(cwd: Path) -> None:
    (cwd / "faulty_none.py").write_text(FAULTY.format(fail_in="none"))
    load_strategy_class("faulty_none.py:Faulty")  # its file is now a strategy's
    with pytest.raises(ValueError, match="invalid literal") as raised:
        int("not a number")  # THUNES's (here: the test's) own code

    assert strategy_fault(raised.value) is None
