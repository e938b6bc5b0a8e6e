"""The session log (issue 16 item 9): every line from the configured level as JSON in the data directory,
rotated with a bounded count, secrets masked; the console keeps warnings only."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from thunes.adapters.storage.session_dir import SessionKind, foreign_entries, prepare_session_dir
from thunes.app.cli.trade import _StatusLines
from thunes.app.config import MASK, LoggingSettings
from thunes.app.display import at_precision, at_step
from thunes.app.logging import configure_logging, session_log
from thunes.control.status import PaperStatus

SECRET = "s3cr3t-value-" + "x" * 20


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(LoggingSettings(file_max_bytes=4096, file_backups=2), stream=stream, console_level="WARNING")
    yield stream
    structlog.reset_defaults()


def test_session_log_when_lines_logged_then_file_has_all_console_only_warnings(
    console: io.StringIO, tmp_path: Path
) -> None:
    log = structlog.get_logger()
    with session_log(tmp_path) as path:
        log.debug("too_low")
        log.info("daily_summary", day="2024-09-14", realized_pnl=Decimal("1.2345678901234567890123456"))
        log.warning("reconciliation_mismatch", api_key=SECRET, url=f"https://x/api?signature={SECRET}")
    log.info("after_the_session")

    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["daily_summary", "reconciliation_mismatch"]
    assert records[0]["level"] == "info" and records[0]["timestamp"].endswith("Z")
    assert records[1]["api_key"] == MASK and SECRET not in path.read_text()
    assert "daily_summary" not in console.getvalue() and "after_the_session" not in console.getvalue()
    assert "reconciliation_mismatch" in console.getvalue() and SECRET not in console.getvalue()


def test_session_log_when_much_logged_then_rotated_with_bounded_count_and_dir_stays_known(
    console: io.StringIO, tmp_path: Path
) -> None:
    with session_log(tmp_path) as path:
        for i in range(2_000):
            structlog.get_logger().info("bar_done", i=i, padding="p" * 40)

    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["thunes.jsonl", "thunes.jsonl.1", "thunes.jsonl.2"]
    assert all(p.stat().st_size <= 4096 for p in path.parent.iterdir())
    last = [json.loads(line) for line in path.read_text().splitlines()]
    assert last[-1]["i"] == 1_999  # the newest lines are in the live file
    assert foreign_entries(tmp_path) == []


def test_fresh_session_when_previous_left_logs_then_discarded_but_a_foreign_file_there_refuses(tmp_path: Path) -> None:
    data = tmp_path / "s"
    prepare_session_dir(data, SessionKind.PAPER, fresh=True)
    (data / "logs").mkdir()
    (data / "logs" / "thunes.jsonl").write_text("{}\n")
    (data / "logs" / "thunes.jsonl.3").write_text("{}\n")

    prepare_session_dir(data, SessionKind.PAPER, fresh=True)
    assert not (data / "logs").exists()

    (data / "logs").mkdir()
    (data / "logs" / "notes.txt").write_text("mine")
    assert foreign_entries(data) == ["logs/notes.txt"]
    with pytest.raises(ValueError, match=r"logs/notes\.txt"):
        prepare_session_dir(data, SessionKind.PAPER, fresh=True)
    assert (data / "logs" / "notes.txt").read_text() == "mine"


_amounts = st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=30)


@given(_amounts, st.integers(min_value=0, max_value=12))
def test_at_precision_when_any_amount_then_exactly_the_digits_rounded_half_even(value: Decimal, digits: int) -> None:
    text = at_precision(value, digits)

    decimals = text.partition(".")[2]
    assert len(decimals) == digits
    assert abs(Decimal(text.replace(",", "")) - value) <= Decimal(1).scaleb(-digits) / 2


@given(_amounts, st.sampled_from(["0.01", "0.00001", "0.5", "5", "1", "0.00000001", "0.10000000"]))
def test_at_step_when_any_price_then_a_multiple_of_the_step_within_half_a_step(value: Decimal, step: str) -> None:
    text = at_step(value, Decimal(step), grouped=False)

    shown = Decimal(text)
    assert shown % Decimal(step) == 0
    assert abs(shown - value) <= Decimal(step) / 2
    assert len(text.partition(".")[2]) == max(0, -Decimal(step).normalize().as_tuple().exponent)  # type: ignore[operator]


def test_status_line_when_pnl_has_26_digits_then_shown_at_the_instruments_precision() -> None:
    out = io.StringIO()
    status = PaperStatus(bars=3, last_close=Decimal("63709.2200000"), position=Decimal("0.001230000"),
                         realized_pnl=Decimal("-1.234567890123456789012345"), tick_size=Decimal("0.01000000"),
                         step_size=Decimal("0.00001000"), quote_precision=8)  # fmt: skip

    _StatusLines(Console(file=out, width=40), every_s=0.0)(status)

    assert out.getvalue() == "bars 3 close 63709.22 position 0.00123 orders 0 fills 0 pnl -1.23456789 kill-switch off\n"
