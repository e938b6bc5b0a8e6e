"""``thunes capital``: weekly deposits, equity, realised profit and withdrawable amount from the
session's ledger fills, its daily summaries and the recorded deposits and withdrawals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from thunes.adapters.storage.sql_store import SqlStore
from thunes.app.cli.capital import (
    CAPITAL_FILE,
    Movement,
    MovementKind,
    WeekRow,
    capital_app,
    read_movements,
    weekly_capital,
)
from thunes.domain.enums import Liquidity, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import Fill

D = Decimal
DAY_NS = 86_400 * 1_000_000_000


def at(day: str, hour: int = 12) -> int:
    return int(datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def fill(side: Side, price: str, day: str, coid: str, trade_id: str) -> Fill:
    notional = D(price) * D("0.0002")
    return Fill(ClientOrderId(coid), trade_id, Symbol("BTCUSDT"), side, D(price), D("0.0002"), notional / 1000,
                "USDT", Liquidity.TAKER, at(day))  # fmt: skip


# 2026-11-23 is the Monday of ISO week 2026-W48.
ROUND_TRIP = [fill(Side.BUY, "40000", "2026-11-24", "b1", "1"), fill(Side.SELL, "45000", "2026-12-08", "s1", "2")]
DEPOSIT = Movement(at("2026-11-23"), MovementKind.DEPOSIT, D(10))
WITHDRAWAL = Movement(at("2026-12-16"), MovementKind.WITHDRAWAL, D("0.5"))


def test_weekly_capital_when_deposit_round_trip_and_withdrawal_then_each_week_balanced() -> None:
    rows = weekly_capital(ROUND_TRIP, [WITHDRAWAL, DEPOSIT], ["2026-11-23", "2026-11-24", "2026-11-25", "2026-12-08"])

    # bought 8 USDT + 0.008 fee; sold 9 USDT - 0.009 fee: realised 0.983
    assert rows == [
        WeekRow("2026-W48", D(10), D(0), D(0), D("0.008"), D(10), D(0), 3),  # profit 0: nothing to take out
        WeekRow("2026-W49", D(0), D(0), D(0), D(0), D(10), D(0), 0),  # a quiet week carries the balances
        WeekRow("2026-W50", D(0), D(0), D("0.983"), D("0.009"), D("10.983"), D("0.983"), 1),
        WeekRow("2026-W51", D(0), D("0.5"), D(0), D(0), D("10.483"), D("0.483"), 0),
    ]


def test_weekly_capital_when_profit_but_cash_in_an_open_position_then_withdrawable_limited_by_cash() -> None:
    trips = [*ROUND_TRIP, fill(Side.BUY, "52000", "2026-12-09", "b2", "3")]  # 10.4 + 0.0104 fee, of 10.983

    rows = weekly_capital(trips, [DEPOSIT], [])

    assert rows[-1].week == "2026-W50"
    assert rows[-1].equity == D("10.983")  # the position at cost
    assert rows[-1].withdrawable == D("0.5726")  # 0.983 profit, but only 10.983 - 10.4104 in cash


def test_weekly_capital_when_loss_then_nothing_withdrawable_and_equity_below_deposits() -> None:
    losing = [fill(Side.BUY, "45000", "2026-11-24", "b1", "1"), fill(Side.SELL, "40000", "2026-11-25", "s1", "2")]

    rows = weekly_capital(losing, [DEPOSIT], [])

    assert len(rows) == 1
    assert rows[0].realised < 0
    assert rows[0].equity == D(10) + rows[0].realised
    assert rows[0].withdrawable == 0


def test_weekly_capital_when_across_the_year_end_then_iso_weeks_continuous() -> None:
    moves = [Movement(at("2026-12-20"), MovementKind.DEPOSIT, D(10)),
             Movement(at("2027-01-06"), MovementKind.DEPOSIT, D(5))]  # fmt: skip

    rows = weekly_capital([], moves, [])

    assert [r.week for r in rows] == ["2026-W51", "2026-W52", "2026-W53", "2027-W01"]
    assert rows[-1].equity == D(15)


def test_weekly_capital_when_nothing_recorded_then_no_rows() -> None:
    assert weekly_capital([], [], []) == []


def session(tmp_path: Path) -> Path:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    store = SqlStore(f"sqlite:///{data_dir / 'ledger.db'}")
    for f in ROUND_TRIP:
        store.record_fill(f)
    store.close()
    summaries = [{"day": "2026-11-24", "fills": 1}, {"day": "2026-12-08", "fills": 2}]
    (data_dir / "daily_summaries.jsonl").write_text("".join(json.dumps(s) + "\n" for s in summaries))
    return data_dir


def test_capital_cli_when_deposit_recorded_then_show_reports_weeks_from_ledger_and_summaries(tmp_path: Path) -> None:
    data_dir = session(tmp_path)
    runner = CliRunner()

    recorded = runner.invoke(capital_app, ["deposit", "10", "--data-dir", str(data_dir), "--on", "2026-11-23",
                                           "--note", "micro-live start"])  # fmt: skip
    shown = runner.invoke(capital_app, ["show", "--data-dir", str(data_dir), "--json"])
    table = runner.invoke(capital_app, ["show", "--data-dir", str(data_dir), "--weeks", "1"])

    assert recorded.exit_code == shown.exit_code == table.exit_code == 0
    assert read_movements(data_dir) == [Movement(at("2026-11-23", 0), MovementKind.DEPOSIT, D(10), "micro-live start")]
    rows = [json.loads(line) for line in shown.output.splitlines()]
    assert [r["week"] for r in rows] == ["2026-W48", "2026-W49", "2026-W50"]
    assert rows[-1] == {"week": "2026-W50", "deposits": "0", "withdrawals": "0", "realised": "0.983",
                        "fees": "0.009", "equity": "10.983", "withdrawable": "0.983", "days_traded": 1}  # fmt: skip
    assert "2026-W50" in table.output
    assert "2026-W48" not in table.output  # --weeks 1: the latest only
    assert "10.98" in table.output


def test_capital_cli_when_amount_bad_then_refused_and_nothing_recorded(tmp_path: Path) -> None:
    runner = CliRunner()

    results = [runner.invoke(capital_app, ["withdraw", amount, "--data-dir", str(tmp_path)])
               for amount in ("ten", "-5", "0", "NaN")]  # fmt: skip
    bad_day = runner.invoke(capital_app, ["deposit", "5", "--data-dir", str(tmp_path), "--on", "yesterday"])

    assert all(r.exit_code == 2 for r in [*results, bad_day])
    assert not (tmp_path / CAPITAL_FILE).exists()


def test_capital_cli_when_empty_session_then_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(capital_app, ["show", "--data-dir", str(tmp_path)])

    assert result.exit_code == 0
    assert "nothing recorded" in result.output


def test_capital_cli_when_capital_file_damaged_then_one_line_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / CAPITAL_FILE).write_text('{"ts_ns": 1, "kind": "DEPOSIT", "amount": "10"}\n{"kind": "GIFT"}\n')

    result = CliRunner().invoke(capital_app, ["show", "--data-dir", str(tmp_path)])

    assert result.exit_code == 2
    assert f"{CAPITAL_FILE}:2: unreadable line" in result.output
