"""``thunes audit verify|show`` through typer's CliRunner, on real trails written by ``AuditLog``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.governance import NS, T0, lines, record, rewrite, ts
from thunes.adapters.storage.audit_jsonl import AuditLog
from thunes.app.cli.audit import audit_app
from thunes.domain import Side
from thunes.governance import AuditEvent

runner = CliRunner()
FILE = "audit-2026-W48.jsonl"


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """Six records: fills and rejections on two symbols, one minute apart."""
    with AuditLog(tmp_path) as log:
        for i in range(6):
            event = AuditEvent.ORDER_FILLED if i % 2 == 0 else AuditEvent.TRADE_REJECTED
            symbol = "BTCUSDT" if i < 3 else "ETHUSDT"
            log.append(record(T0 + i * 60 * NS, event, symbol=symbol, side=Side.BUY, client_order_id=f"c{i}",
                              reason=None if i % 2 == 0 else "COOL_DOWN"))  # fmt: skip
    return tmp_path


def test_verify_when_trail_intact_then_exit_0_and_one_ok_line_with_counts(trail: Path) -> None:
    result = runner.invoke(audit_app, ["verify", "--dir", str(trail)])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "audit OK: 1 files, 6 records, chain from genesis; head at record 6"


def test_verify_when_a_line_was_edited_then_exit_1_naming_file_and_line(trail: Path) -> None:
    path = trail / FILE
    content = lines(path)
    content[2] = content[2].replace(b'"COOL_DOWN"', b'"KILL_SWITCH"').replace(b'"ORDER_FILLED"', b'"ORDER_CANCELED"')
    rewrite(path, content)

    result = runner.invoke(audit_app, ["verify", "--dir", str(trail)])

    assert result.exit_code == 1
    assert f"{FILE}:3" in result.output
    assert "HASH_MISMATCH" in result.output


def test_verify_when_a_line_was_deleted_then_exit_1_naming_file_and_line(trail: Path) -> None:
    path = trail / FILE
    rewrite(path, [line for i, line in enumerate(lines(path)) if i != 1])

    result = runner.invoke(audit_app, ["verify", "--dir", str(trail)])

    assert result.exit_code == 1
    assert f"{FILE}:2: CHAIN_BREAK" in result.output


def test_verify_when_directory_missing_then_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(audit_app, ["verify", "--dir", str(tmp_path / "nope")])

    assert result.exit_code == 2
    assert "no audit directory" in result.output


def _shown(trail: Path, *args: str) -> list[dict[str, object]]:
    result = runner.invoke(audit_app, ["show", "--dir", str(trail), "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_show_json_when_no_filter_then_every_record_in_chain_order(trail: Path) -> None:
    shown = _shown(trail)

    assert [r["client_order_id"] for r in shown] == [f"c{i}" for i in range(6)]


def test_show_when_filtered_by_event_and_symbol_then_only_matches(trail: Path) -> None:
    assert [r["client_order_id"] for r in _shown(trail, "--event", "trade_rejected")] == ["c1", "c3", "c5"]
    assert [r["client_order_id"] for r in _shown(trail, "--symbol", "ethusdt")] == ["c3", "c4", "c5"]
    assert [r["client_order_id"] for r in _shown(trail, "--event", "ORDER_FILLED", "--symbol", "BTCUSDT")] == [
        "c0", "c2"]  # fmt: skip


def test_show_when_time_window_then_since_inclusive_until_exclusive(trail: Path) -> None:
    shown = _shown(trail, "--since", "2026-11-23T10:01:00", "--until", "2026-11-23T10:04:00")

    assert [r["client_order_id"] for r in shown] == ["c1", "c2", "c3"]


def test_show_when_since_has_an_offset_then_it_is_honoured(trail: Path) -> None:
    shown = _shown(trail, "--since", "2026-11-23T11:03:00+01:00")

    assert [r["ts_ns"] for r in shown] == [ts("2026-11-23T10:03:00") + i * 60 * NS for i in range(3)]


def test_show_when_limited_then_the_newest_records(trail: Path) -> None:
    assert [r["client_order_id"] for r in _shown(trail, "--limit", "2")] == ["c4", "c5"]


def test_show_table_when_records_match_then_rows_and_caption(trail: Path) -> None:
    result = runner.invoke(audit_app, ["show", "--dir", str(trail), "--event", "TRADE_REJECTED", "--limit", "2"],
                           env={"COLUMNS": "200"})  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "2 of 3 matching records" in result.output
    assert "COOL_DOWN" in result.output
    assert "2026-11-23 10:05:00.000" in result.output
    assert "ORDER_FILLED" not in result.output


def test_show_when_a_line_is_unreadable_then_warns_and_shows_the_rest(trail: Path) -> None:
    path = trail / FILE
    content = lines(path)
    content[0] = b"garbage\n"
    rewrite(path, content)

    result = runner.invoke(audit_app, ["show", "--dir", str(trail), "--json"])

    assert result.exit_code == 0
    assert "1 unreadable lines skipped" in result.output
    assert sum(line.startswith("{") for line in result.output.splitlines()) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--event", "NOT_AN_EVENT"], "unknown event"),
        (["--since", "yesterday"], "--since"),
        (["--until", "2026-13-01"], "--until"),
    ],
)
def test_show_when_a_filter_is_invalid_then_usage_error(trail: Path, args: list[str], message: str) -> None:
    result = runner.invoke(audit_app, ["show", "--dir", str(trail), *args])

    assert result.exit_code == 2
    assert message in result.output
