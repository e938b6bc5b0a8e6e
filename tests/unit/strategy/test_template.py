"""The ``thunes new-strategy`` template: a valid strategy on the current API that trades as written."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import iter_bars
from thunes.strategy.api import STRATEGY_API_VERSION, Signal
from thunes.strategy.loader import build_user_strategy, load_strategy_class
from thunes.strategy.template import class_name, render_template, strategy_name_problem

TICK = Decimal("0.01")


@pytest.mark.parametrize(("name", "expected"), [("my_breakout", "MyBreakout"), ("x", "X"), ("ema2_cross", "Ema2Cross")])
def test_class_name_when_snake_case_then_camel_case(name: str, expected: str) -> None:
    assert class_name(name) == expected


@pytest.mark.parametrize("name", ["", "1abc", "my-strategy", "../x", "MyStrategy", "class", "none", "a" * 56, "é"])
def test_name_problem_when_not_a_lower_case_identifier_or_keyword_then_said(name: str) -> None:
    assert strategy_name_problem(name) is not None
    with pytest.raises(ValueError, match=r"."):
        render_template(name, "x.py")


def test_template_when_written_then_loads_on_current_api_and_faces_agree(tmp_path: Path) -> None:
    path = tmp_path / 'odd "dir"' / "my_breakout.py"  # a quote in the path must not break the docstring
    path.parent.mkdir()
    path.write_text(render_template("my_breakout", str(path)))
    bars = generate_ohlcv("BTCUSDT", Timeframe.H1, 2000, seed=1)

    cls = load_strategy_class(f"{path}:MyBreakout")
    strategy = build_user_strategy(cls, {}, TICK)
    incremental = np.array([strategy.on_bar(bar) for bar in iter_bars(bars, TICK)], dtype=np.int8)

    assert (cls.name, cls.api_version) == ("my_breakout", STRATEGY_API_VERSION)
    assert np.array_equal(strategy.signals(bars), incremental)
    assert (incremental == Signal.ENTER_LONG).sum() >= 10
    assert (incremental[: strategy.warmup - 1] == Signal.HOLD).all()
    assert cls.search_warmup() == 101  # entry_window at its high, 100
    assert f"--strategy {path}:MyBreakout" in (sys.modules[cls.__module__].__doc__ or "")  # the commands to try
