"""Bad candle files x every command that reads one: one ``error:`` line, exit 2, no traceback, nothing changed.

Each bad file is a valid hourly file with one defect, placed after good rows so that a check which only
looks at the head of a file misses it. The commands run in-process through the real CLI app (the same
``build_app`` the ``thunes`` script runs) from an empty working directory, with a populated store beside
it; afterwards every file under that directory must be byte-for-byte and mtime-for-mtime unchanged
(``trade --paper`` included: it reads its candles before it prepares its data directory).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.adapters.datastore.store import ParquetStore
from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.app.cli.main import build_app
from thunes.domain.market import Timeframe

runner = CliRunner()
HEADER = "timestamp,open,high,low,close,volume"
T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR_MS = 3_600_000
GOOD_ROWS = 40
BAD_AT = 25  # 0-based data row that carries the defect


def _row(i: int, o: float = 100.0, h: float = 101.0, lo: float = 99.0, c: float = 100.5, v: float = 10.0) -> str:
    return f"{T0_MS + i * HOUR_MS},{o},{h},{lo},{c},{v}"


def _with(**values: float) -> Callable[[], str]:
    """A file whose row BAD_AT has the given field values."""

    def body() -> str:
        rows = [_row(i) for i in range(GOOD_ROWS)]
        rows[BAD_AT] = _row(BAD_AT, **values)
        return "\n".join([HEADER, *rows]) + "\n"

    return body


def _rows(order: list[int]) -> Callable[[], str]:
    return lambda: "\n".join([HEADER, *(_row(i) for i in order)]) + "\n"


def _text(text: str) -> Callable[[], str]:
    return lambda: text


_ORDER = list(range(GOOD_ROWS))
# (id, file body, timeframe the command is told, fragments the error line must hold)
CASES: list[tuple[str, Callable[[], str], str, tuple[str, ...]]] = [
    ("zero-price", _with(o=0.0), "1h", ("row 26", "open price 0.0 is not positive")),
    ("negative-price", _with(o=-5.0, lo=-6.0), "1h", ("row 26", "not positive")),
    ("high-below-low", _with(h=98.0), "1h", ("row 26", "high 98.0 is below low 99.0")),
    ("open-above-high", _with(o=105.0), "1h", ("row 26", "open 105.0 is outside")),
    ("close-below-low", _with(c=90.0), "1h", ("row 26", "close 90.0 is outside")),
    ("negative-volume", _with(v=-1.0), "1h", ("row 26", "volume -1.0 is negative")),
    ("nan", _with(c=math.nan), "1h", ("row 26", "NaN", "'close'")),
    ("inf", _with(h=math.inf), "1h", ("row 26", "infinite", "'high'")),
    ("non-numeric", _text(_with()().replace(",100.5,", ",abc,", 1)), "1h", ("row 1", "'abc'")),
    ("empty-file", _text(""), "1h", ("file is empty",)),
    ("header-only", _text(HEADER + "\n"), "1h", ("no candles",)),
    ("wrong-columns", _text("time,price,qty\n1,2,3\n"), "1h", ("missing column 'open'",)),
    ("timeframe-mismatch", _rows(_ORDER), "5m", ("1h apart", "timeframe is 5m")),
    ("off-grid", _text(HEADER + f"\n{T0_MS + 60_000},1,2,0.5,1.5,3\n"), "1h", ("not on the 1h grid",)),
    (
        "unsorted",
        _rows([*_ORDER[:BAD_AT], BAD_AT + 1, BAD_AT, *_ORDER[BAD_AT + 2 :]]),
        "1h",
        ("row 27", "back in time"),
    ),
    ("duplicate", _rows([*_ORDER[: BAD_AT + 1], BAD_AT, *_ORDER[BAD_AT + 1 :]]), "1h", ("row 27", "duplicates")),
    ("binary", _text("\x00\x01\x02" * 100), "1h", ("binary",)),
]

_DATA_ARGS = ["--symbol", "BTCUSDT", "--timeframe", "{tf}", "--data", "{file}"]
COMMANDS: dict[str, list[str]] = {
    "backtest": ["backtest", *_DATA_ARGS],
    "optimize": ["optimize", *_DATA_ARGS],
    "walk-forward": ["walk-forward", *_DATA_ARGS],
    "lookahead": ["lookahead", *_DATA_ARGS],
    "report-backtest": ["report", "backtest", *_DATA_ARGS],
    "venue-serve": ["venue", "serve", "--port", "0", *_DATA_ARGS],
    "data-import": ["data", "import", "--timeframe", "{tf}", "--store", "{store}", "{file}"],
    # These two take the candle file from the configuration only
    "parity": ["parity", "--config", "{config}"],
    "trade-paper": ["trade", "--paper", "--config", "{config}", "--data-dir", "{tmp}/session"],
}


def _snapshot(root: Path) -> dict[str, tuple[int, bytes] | None]:
    """Every file (mtime, bytes) and directory (None) under ``root``."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) if p.is_file() else None
        for p in root.rglob("*")
    }


@pytest.fixture(scope="module")
def app() -> object:
    return build_app()


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("case", "body", "timeframe", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_command_when_bad_candle_file_then_one_error_line_exit_2_nothing_changed(
    app: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    case: str,
    body: Callable[[], str],
    timeframe: str,
    fragments: tuple[str, ...],
) -> None:
    # Arrange: an empty working directory, a store holding BTCUSDT 1h candles, the bad file
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("THUNES_CONFIG", raising=False)
    store = tmp_path / "store"
    ParquetStore(store).write("binance", generate_ohlcv("BTCUSDT", Timeframe.H1, 60, seed=1))
    path = tmp_path / f"BTC_USDT-{timeframe}.csv"
    path.write_bytes(body().encode("latin-1"))
    config = tmp_path / "thunes.toml"
    config.write_text(f'[backtest]\nsymbol = "BTCUSDT"\ntimeframe = "{timeframe}"\ndata_path = "{path}"\n')
    before = _snapshot(tmp_path)
    args = [a.format(tf=timeframe, file=path, store=store, config=config, tmp=tmp_path) for a in COMMANDS[command]]

    # Act
    result = runner.invoke(app, args)  # type: ignore[arg-type]

    # Assert
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _snapshot(tmp_path) == before
