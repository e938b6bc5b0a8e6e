"""The file ``thunes new-strategy NAME`` writes: a working strategy on the strategy API, commented so
that a user can change it into their own. It must run as written (a test backtests, optimises and
look-ahead-checks it), so it is kept here, beside the API it is written against."""

from __future__ import annotations

import keyword
import re

from thunes.strategy.api import STRATEGY_API_VERSION

__all__ = ["class_name", "render_template", "strategy_name_problem"]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,54}")

_TEMPLATE = '''"""{class_name}: a Donchian breakout, written by `thunes new-strategy {name}` as a starting point.

Enter long when a bar closes above the highest high of the previous `entry_window` bars; exit when one
closes below the lowest low of the previous `exit_window` bars. Change it into your own strategy:

    thunes backtest --strategy {path}:{class_name} --synthetic 2000
    thunes backtest --strategy {path}:{class_name} --param entry_window=30
    thunes lookahead --strategy {path}:{class_name} --synthetic 2000
    thunes optimize --strategy {path}:{class_name} --synthetic 3000 --trials 20

The contract (docs/strategy-api.md): THUNES hands the strategy its parameters (self.p) and closed bars,
oldest first, one at a time; on_bar returns a Signal for each. Read nothing else (no files, no clock,
no globals that change): the engine cannot replay it and the look-ahead check cannot see it.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from thunes.strategy.api import Bar, Param, Signal, UserStrategy


class {class_name}(UserStrategy):
    api_version = {api_version}  # the strategy API this file is written for: THUNES refuses one it cannot honour
    name = "{name}"  # names the strategy in reports, orders and the audit trail
    version = "1.0"  # of your logic: bump it when the logic changes (it is part of the parameter hash)

    # Each parameter: its default (which sets its type), the bounds a user may set it within, and what
    # `thunes optimize` searches (low..high by step). Set them with --param NAME=VALUE or [strategy.params].
    params = {{
        "entry_window": Param(20, low=5, high=100, step=5, help="Bars whose highest high a close must beat."),
        "exit_window": Param(10, low=2, high=50, help="Bars whose lowest low a close must break to exit."),
    }}

    def validate(self) -> None:
        """Refuse combinations of parameters (each value is already within its bounds)."""
        if self.p.exit_window > self.p.entry_window:
            raise ValueError("exit_window must not exceed entry_window")

    @property
    def warmup(self) -> int:
        """Bars of history before the first signal: backtests and optimisation start trading after it."""
        return self.p.entry_window + 1

    def reset(self) -> None:
        """Start afresh (THUNES calls it before every run): all state lives in attributes set here."""
        self.highs: deque[Decimal] = deque(maxlen=self.p.entry_window)
        self.lows: deque[Decimal] = deque(maxlen=self.p.exit_window)
        self.long = False  # what this strategy asked for; the risk gate may still have refused it

    def on_bar(self, bar: Bar) -> Signal:
        """One closed bar in (Decimal prices at the instrument's tick), one signal out."""
        signal = Signal.HOLD
        if len(self.highs) == self.highs.maxlen:  # enough history: decide against the previous bars
            if not self.long and bar.close > max(self.highs):
                signal, self.long = Signal.ENTER_LONG, True
            elif self.long and bar.close < min(self.lows):
                signal, self.long = Signal.EXIT_LONG, False
        self.highs.append(bar.high)
        self.lows.append(bar.low)
        return signal
'''


def strategy_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new strategy (a file and a class are made from it), or None."""
    if not _NAME.fullmatch(name):
        return f"{name[:60]!r} must be a lower-case Python name: a letter, then letters, digits or '_' (at most 55)"
    if keyword.iskeyword(name) or keyword.iskeyword(class_name(name)):
        return f"{name!r} makes a Python keyword ({class_name(name)}): choose another name"
    return None


def class_name(name: str) -> str:
    """``my_breakout`` -> ``MyBreakout``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Strategy"


def render_template(name: str, path: str) -> str:
    """The template for strategy ``name`` (a valid :func:`strategy_name_problem`), saved at ``path``."""
    problem = strategy_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    shown = path.replace("\\", "\\\\").replace('"', '\\"')  # inside the file's docstring
    return _TEMPLATE.format(name=name, class_name=class_name(name), path=shown, api_version=STRATEGY_API_VERSION)
