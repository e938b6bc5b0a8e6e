"""The shadow session's summary (:mod:`thunes.rl.summary`), its stub policy (:mod:`thunes.rl.stub`) and
its HTML report (:mod:`thunes.rl.report`): counted from records as the CLI, the notebook and the report
read them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.rl import QtyMode, Quote
from thunes.rl.report import render_html
from thunes.rl.stub import StubPolicy
from thunes.rl.summary import NS_PER_DAY, percentile, read_log, summarize

DAY0 = 20_000 * NS_PER_DAY


def _decision(status: str, latency: int, market_ns: int, gate: str | None = None, reason: str | None = None) -> dict:
    return {"record": "decision", "status": status, "gate": gate, "reason": reason, "latency_us": latency,
            "market_ns": market_ns, "placed": False}  # fmt: skip


def test_percentile_when_between_ranks_then_linear() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([], 0.5) is None


def test_summary_when_decisions_and_fills_then_rates_gates_latency_and_days() -> None:
    records = [
        _decision("ACCEPTED", 100, DAY0),
        _decision("REJECTED", 200, DAY0 + NS_PER_DAY // 2, "RISK", "COOL_DOWN"),
        _decision("REJECTED", 300, DAY0 + NS_PER_DAY, "PARSE", "INVALID_JSON"),
        _decision("NOOP", 400, DAY0 + 2 * NS_PER_DAY, "SUBMISSION", "DUPLICATE_ACTION"),
        {"record": "fill", "status": "FILLED", "slippage_bps": 2.5},
        {"record": "fill", "status": "UNFILLED", "slippage_bps": None},
    ]
    got = summarize(records, venue_orders=0)
    assert (got["decisions"], got["accepted"], got["rejected"], got["noop"]) == (4, 1, 2, 1)
    assert got["acceptance_rate"] == 0.25
    assert got["rejections_by_gate"] == {"RISK": 1, "PARSE": 1}  # a NOOP is not a rejection
    assert got["market_days"] == 2.0 and got["actions_per_day"] == 2.0
    assert got["actions_by_day"] == {"20000": 2, "20001": 1, "20002": 1}
    assert got["latency_us"]["p50"] == 250.0
    assert got["would_be_fills"] == {"FILLED": 1, "UNFILLED": 1} and got["slippage_bps"]["n"] == 1
    assert got["venue_orders"] == 0


def test_read_log_when_a_line_is_cut_then_it_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "shadow-log.jsonl"
    log.write_bytes(json.dumps(_decision("ACCEPTED", 1, DAY0)).encode() + b'\n{"record": "decis')
    assert [r["status"] for r in read_log(log)] == ["ACCEPTED"]


def _stub(seed: int) -> StubPolicy:
    info = builtin_exchange_info()
    return StubPolicy({s: info.get(s) for s in ("BTCUSDT", "ETHUSDT")}, seed=seed, every_s=60)


QUOTES = {"BTCUSDT": Quote(Decimal("60000.00"), Decimal("60000.02"), 0),
          "ETHUSDT": Quote(Decimal("3000.00"), Decimal("3000.02"), 0)}  # fmt: skip


def test_stub_when_same_seed_then_same_actions_and_another_seed_others() -> None:
    first = [_stub(7).action(QUOTES, 1) for _ in range(1)]
    a, b, c = _stub(7), _stub(7), _stub(8)
    run_a = [a.action(QUOTES, 1) for _ in range(50)]
    assert run_a == [b.action(QUOTES, 1) for _ in range(50)]
    assert run_a != [c.action(QUOTES, 1) for _ in range(50)]
    assert first[0] == run_a[0]


def test_stub_when_sized_then_between_two_and_four_minimum_notionals() -> None:
    stub = _stub(3)
    for _ in range(200):
        action = stub.action(QUOTES, 1)
        assert action is not None
        price = action.limit_price or QUOTES[action.symbol].mid
        if action.qty_mode is QtyMode.QUOTE:
            notional = action.qty_value
        elif action.qty_mode is QtyMode.BASE:
            notional = action.qty_value * price
        else:
            notional = Decimal(10_000) * action.qty_value / Decimal("0.02")
        assert Decimal(9) < notional <= Decimal(20) * Decimal("1.02")


def test_stub_when_market_clock_moves_then_one_action_per_interval() -> None:
    stub = _stub(0)
    assert stub.due(0) == 1  # the first call starts the schedule
    assert stub.due(30 * 10**9) == 0
    assert stub.due(60 * 10**9) == 1
    assert stub.due(300 * 10**9) == 4
    assert stub.due(100 * 10**9) == 0  # a clock that goes back makes none due


def test_report_when_rendered_then_every_view_and_labels_escaped() -> None:
    records = [_decision("REJECTED", 10, DAY0, "RISK", "<script>x</script>"), _decision("ACCEPTED", 20, DAY0)]
    page = render_html(summarize(records), records, title="t & t")
    assert page.count("<svg") == 4  # no fill: the slippage view says so instead of an empty chart
    assert "Slippage delta vs reference (bps, positive = cost): no data" in page
    assert "<script>" not in page and "&lt;script&gt;" in page and "t &amp; t" in page
