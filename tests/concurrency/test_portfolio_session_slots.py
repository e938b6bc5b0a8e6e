"""The shared position limit in a real portfolio session (issue 16 acceptance): four symbols signal an
entry on the same candle, each candle arriving on its own kline stream of the venue server, and the
risk engine admits exactly ``max_open_positions`` of them, the first in portfolio order; a slot freed
later goes to exactly one of the symbols then asking. The paper session's orders, fills and denials
are also the backtest's (``thunes parity``), so the admission does not depend on which stream's
candle came first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thunes.app.config import Settings, load_settings
from thunes.app.sources import load_exchange_info_source, load_portfolio_bars
from thunes.backtest.parity import ParityReport, run_parity
from thunes.domain.market import Timeframe

pytestmark = pytest.mark.slow

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
SKIP, BARS, WARMUP = 2_000, 60, 10
ENTER, LEAVE, AGAIN = 20, 26, 32  # rows of the slice: all enter; the first leaves; the two refused ask again
SLOTS = 2

SCRIPTED = '''
"""Signals at the candle open times it is given (a decision source whose decisions a test chooses)."""

from thunes.strategy.api import Bar, Param, Signal, UserStrategy


class Scripted(UserStrategy):
    api_version = 1
    name = "scripted"
    version = "1"
    params = {
        "enter_at": Param("", help="Open times (ns), comma-separated, of the candles to enter on."),
        "leave_at": Param("", help="Open times (ns), comma-separated, of the candles to leave on."),
    }

    @property
    def warmup(self) -> int:
        return 0

    def reset(self) -> None:
        self.enter = {int(t) for t in self.p.enter_at.split(",") if t}
        self.leave = {int(t) for t in self.p.leave_at.split(",") if t}

    def on_bar(self, bar: Bar) -> Signal:
        if bar.open_time_ns in self.enter:
            return Signal.ENTER_LONG
        return Signal.EXIT_LONG if bar.open_time_ns in self.leave else Signal.HOLD
'''


def _settings(spec: str, order: tuple[str, ...], times: list[int]) -> Settings:
    """Four pairs of the scripted strategy in ``order``: all enter at ``ENTER``; the first leaves at
    ``LEAVE``; the third and fourth (refused at ``ENTER``) enter again at ``AGAIN``."""
    at = {row: str(times[row]) for row in (ENTER, LEAVE, AGAIN)}
    scripts = [{"enter_at": at[ENTER], "leave_at": at[LEAVE]}, {"enter_at": at[ENTER]},
               {"enter_at": f"{at[ENTER]},{at[AGAIN]}"}, {"enter_at": f"{at[ENTER]},{at[AGAIN]}"}]  # fmt: skip
    portfolio: list[dict[str, Any]] = [{"symbol": s, "params": p} for s, p in zip(order, scripts, strict=True)]
    return load_settings(overrides={
        "strategy": {"name": spec},
        "risk": {"max_open_positions": SLOTS, "cool_down_minutes": 0},
        "backtest": {"warmup_bars": WARMUP, "timeframe": "1h"},
        "portfolio": portfolio,
    })  # fmt: skip


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> str:
    """The scripted strategy as a user's file, away from any ./thunes.toml."""
    (tmp_path / "scripted.py").write_text(SCRIPTED)
    monkeypatch.chdir(tmp_path)
    for name in ("THUNES_CONFIG", "THUNES_STRATEGY__NAME", "THUNES_STRATEGY__PARAMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    return f"{tmp_path / 'scripted.py'}:Scripted"


def _times() -> list[int]:
    """The open times of the slice every symbol is replayed over (in their common range)."""
    settings = load_settings()
    info, _ = load_exchange_info_source(settings.rules, settings.data)
    bars = load_portfolio_bars([info.get(s) for s in SYMBOLS], Timeframe.H1, settings.data).bars[0]
    return [int(t) for t in bars.open_time_ns[SKIP : SKIP + BARS]]


def _booked(report: ParityReport, side: str) -> list[tuple[str, int]]:
    """The paper session's fills of one side, (symbol, time), in the order they were booked."""
    return [(row[0], row[7]) for row in report.paper_fills if row[2] == side]


@pytest.mark.parametrize("order", [SYMBOLS, tuple(reversed(SYMBOLS))], ids=["BTC first", "SOL first"])
def test_portfolio_session_when_four_symbols_enter_on_one_candle_then_exactly_max_open_positions_admitted(
    spec: str, tmp_path: Path, order: tuple[str, ...]
) -> None:
    # Arrange
    times = _times()
    settings = _settings(spec, order, times)
    hour = 3_600_000_000_000

    # Act: a lockstep paper session on the venue server (and the backtest beside it)
    report = run_parity(settings, tmp_path / "paper", bars_limit=BARS, skip=SKIP)

    # Assert: two slots, taken by the first two in portfolio order at the close of the shared candle
    first, second, third, fourth = order
    assert _booked(report, "BUY") == [(first, times[ENTER] + hour), (second, times[ENTER] + hour),
                                      (third, times[AGAIN] + hour)]  # fmt: skip
    assert _booked(report, "SELL") == [(first, times[LEAVE] + hour)]  # the freed slot: one of two asking took it
    denied = {side.symbol: side.paper_denied for side in report.symbols}
    assert denied == {first: {}, second: {}, third: {"POSITION_LIMIT": 1}, fourth: {"POSITION_LIMIT": 2}}
    assert report.differences == []  # the same admissions as the backtest's, order for order
