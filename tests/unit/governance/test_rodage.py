"""The rodage gates over session directories written by the real writers: the audit trail through
the ``AuditRecorder`` on a bus (as a session writes it), the ledger through ``SqlStore``, session
marks through ``SessionMark.to_json``; read back by the report's own loader."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tests.unit.governance import CONTEXT, NS, ts
from tests.unit.risk import VENUE, FakeClock, buy, fill, make_engine, sell
from thunes.adapters.storage.audit_jsonl import AuditLog, audit_files
from thunes.adapters.storage.params_sql import SqlParamStore
from thunes.adapters.storage.sql_store import SqlStore
from thunes.app.cli.report import load_evidence
from thunes.domain import ClientOrderId, DenialReason, OrderDenied, OrderRejected, OrderSubmitted
from thunes.engine.bus import InMemoryBus
from thunes.execution.reconciliation import Mismatch, MismatchKind
from thunes.governance import AuditRecorder
from thunes.governance.params import ParamVersion, record_version
from thunes.governance.rodage import (
    GATES,
    SESSION_MARKS_FILE,
    MarkKind,
    RodageReport,
    SessionMark,
    Verdict,
    evaluate,
)

D = Decimal
HOUR = 3_600 * NS
DAY = 24 * HOUR
MINUTE = 60 * NS
MIB = 1024**2
T0 = ts("2026-11-23T10:00:00")
PROFITS = tuple(D(p) for p in ("1", "2", "3", "1", "2", "3", "2"))  # per day, on 0.1 BTC bought at 100


@dataclass(frozen=True)
class Plan:
    """A session of ``days`` market days from T0, hourly bars; every default passes gate 1."""

    days: int = 7
    marks: bool = True
    missing_beats: tuple[int, ...] = ()  # hours without a mark
    cadence_at: dict[int, int] = field(default_factory=dict)  # hour -> cadence_ns of its mark
    crash_after: int | None = None  # hour after which run 1 dies (no STOP) and run 2 starts
    ws_counters: bool = True
    reconnects: int = 1  # from hour 50
    missed_candles: int = 0  # from hour 60
    rss: int | None = 300 * MIB
    submitted: int = 200
    rejections: tuple[int, ...] = (-2010,)  # venue codes of the first orders' rejections
    mismatch_hours: tuple[int, ...] = ()
    kill_switch: tuple[tuple[int, bool], ...] = ((100, True), (110, False))  # (hour, on?)
    profits: tuple[Decimal, ...] = PROFITS  # one round trip a day

    @property
    def hours(self) -> int:
        return self.days * 24


def _marks(plan: Plan) -> list[SessionMark]:
    marks = []
    for h in range(plan.hours + 1):
        if h in plan.missing_beats:
            continue
        second_run = plan.crash_after is not None and h > plan.crash_after
        kind = MarkKind.BEAT
        if h == 0 or (second_run and h == plan.crash_after + 1):  # type: ignore[operator]
            kind = MarkKind.START
        if h == plan.hours:
            kind = MarkKind.STOP
        counters = {}
        if plan.ws_counters:
            counters = {"ws_reconnects": plan.reconnects if h >= 50 and not second_run else 0,
                        "missed_candles": plan.missed_candles if h >= 60 and not second_run else 0}  # fmt: skip
        marks.append(SessionMark(kind=kind, ts_ns=T0 + h * HOUR, run_id="r2" if second_run else "r1",
                                 cadence_ns=plan.cadence_at.get(h, HOUR), wall_ns=1_700_000_000 * NS + h * NS,
                                 rss_peak_bytes=plan.rss, **counters))  # fmt: skip
    return marks


class Trail:
    """An audit trail written as a session writes it: a recorder on a bus over a real risk engine."""

    def __init__(self, directory: Path) -> None:
        self.clock = FakeClock(T0)
        self.risk, _, _ = make_engine(clock=self.clock)
        self.log = AuditLog(directory)
        self.bus = InMemoryBus()
        AuditRecorder(self.log, CONTEXT, self.risk.snapshot, self.clock).attach(self.bus)

    def at(self, ts_ns: int) -> None:
        self.clock.set(ts_ns)

    def order(self, ts_ns: int, cid: str, reject: int | None) -> None:
        self.at(ts_ns)
        request = buy("BTCUSDT", cid, "0.0002", "50000")
        self.bus.publish(OrderSubmitted(ts_ns, VENUE, request.client_order_id, request))
        if reject is not None:
            self.bus.publish(OrderRejected(ts_ns + 1, VENUE, request.client_order_id, reject, "rejected by the venue"))

    def switch(self, ts_ns: int, on: bool, reveal_ns: int | None = None) -> None:
        self.at(ts_ns)
        if on:
            self.risk.activate_kill_switch("operator", "rodage drill")
        else:
            self.risk.deactivate("operator")
        # the recorder sees a switch change when the next event arrives: a denial, as in a session
        reveal = ts_ns if reveal_ns is None else reveal_ns
        self.bus.publish(OrderDenied(reveal, VENUE, ClientOrderId(f"k{ts_ns}"), DenialReason.KILL_SWITCH, "drill"))

    def mismatch(self, ts_ns: int) -> None:
        self.at(ts_ns)
        self.bus.publish(Mismatch(MismatchKind.BALANCE, "BTC", D("0.1"), D("0.2"), "REDUCING"))


def _audit(directory: Path, plan: Plan) -> Trail:
    trail = Trail(directory)
    actions: list[tuple[int, Callable[[], None]]] = []
    span = plan.hours * HOUR
    for i in range(plan.submitted):
        at = T0 + (i + 1) * span // (plan.submitted + 1)
        code = plan.rejections[i] if i < len(plan.rejections) else None
        actions.append((at, partial(trail.order, at, f"o{i}", code)))
    for hour, on in plan.kill_switch:
        actions.append((T0 + hour * HOUR, partial(trail.switch, T0 + hour * HOUR, on)))
    for hour in plan.mismatch_hours:
        actions.append((T0 + hour * HOUR, partial(trail.mismatch, T0 + hour * HOUR)))
    for _, act in sorted(actions, key=lambda a: a[0]):  # a session writes in time order
        act()
    trail.log.flush()
    return trail


def _fills(ledger: Path, plan: Plan) -> None:
    store = SqlStore(f"sqlite:///{ledger}")
    for day, profit in enumerate(plan.profits):
        opened = T0 + day * DAY + HOUR
        entry, exit_ = buy("BTCUSDT", f"b{day}", "0.1", "100"), sell("BTCUSDT", f"s{day}", "0.1")
        store.record_fill(fill(entry, "100", trade_id=f"tb{day}", ts_ns=opened))
        store.record_fill(fill(exit_, str(100 + profit), trade_id=f"ts{day}", ts_ns=opened + HOUR))
    store.close()


def write_session(data_dir: Path, plan: Plan | None = None) -> Trail:
    """A session directory as a paper session leaves it; the trail is left open for more events."""
    plan = plan or Plan()
    data_dir.mkdir(parents=True, exist_ok=True)
    if plan.marks:
        lines = [m.to_json() + "\n" for m in _marks(plan)]
        (data_dir / SESSION_MARKS_FILE).write_text("".join(lines), encoding="utf-8")
    _fills(data_dir / "ledger.db", plan)
    return _audit(data_dir / "audit", plan)


def report_for(data_dir: Path, plan: Plan | None = None, gate: int = 1, days: int | None = None) -> RodageReport:
    write_session(data_dir, plan).log.close()
    return evaluate(load_evidence(data_dir), GATES[gate], days)


def verdicts(report: RodageReport) -> dict[str, Verdict]:
    return {r.key: r.verdict for r in report.results}


def result(report: RodageReport, key: str):  # type: ignore[no-untyped-def]
    return next(r for r in report.results if r.key == key)


def _sharpe(values: list[float]) -> float:
    array = np.array(values)
    return float(array.mean() / array.std(ddof=1) * math.sqrt(365))


# --- GO -----------------------------------------------------------------------------------------
def test_rodage_when_every_criterion_holds_then_go_with_each_value_measured(tmp_path: Path) -> None:
    report = report_for(tmp_path)

    assert verdicts(report) == {c.metric: Verdict.PASS for c in GATES[1].criteria}
    assert report.go
    assert report.end_ns == T0 + 7 * DAY
    assert report.start_ns == T0
    assert result(report, "uptime").value == 1
    assert result(report, "rejection_rate").value == D("0.005")  # 1 of 200
    assert result(report, "venue_1013").value == 0
    assert result(report, "peak_rss").value == 300 * MIB
    # the last 7 UTC days: 24th..30th; day 7 ran (marks) without a trade
    expected = _sharpe([0.2, 0.3, 0.1, 0.2, 0.3, 0.2, 0.0])
    assert float(result(report, "sharpe").value) == pytest.approx(expected, abs=1e-6)
    assert "7 days, 6 closed trades" in result(report, "sharpe").detail


def test_rodage_gate_2_when_30_clean_days_then_go_and_thresholds_are_gate_2s(tmp_path: Path) -> None:
    plan = Plan(days=30, kill_switch=(), profits=(PROFITS * 5)[:30])

    report = report_for(tmp_path, plan, gate=2)

    assert report.go, [(r.key, r.verdict, r.detail) for r in report.results]
    assert report.days == 30
    assert result(report, "uptime").threshold == "≥ 99.9 % (≤ 43.2 min down in 30 d)"
    assert result(report, "sharpe").criterion == "Sharpe (30 d)"
    assert result(report, "sharpe").threshold == "> 1.0"


# --- each criterion failing on its own ----------------------------------------------------------
ALONE = [
    ("uptime", Plan(missing_beats=(10, 11))),  # [10h, 12h] uncovered: 120 min > 100.8
    ("venue_1013", Plan(rejections=(-1013,))),
    ("kill_switch_both_ways", Plan(kill_switch=((100, True),))),
    ("ws_recovered", Plan(reconnects=0)),
    ("ws_recovered", Plan(missed_candles=1)),
    ("sharpe", Plan(profits=tuple(D(p) for p in ("-1", "2", "-3", "1", "-2", "0.5", "-1")))),
    ("desyncs", Plan(mismatch_hours=(40,))),
    ("crashes", Plan(crash_after=100)),
    ("rejection_rate", Plan(rejections=(-2010, -2010))),  # 2 of 200 = 1 %, not below it
    ("peak_rss", Plan(rss=1024 * MIB)),
]


@pytest.mark.parametrize(("key", "plan"), ALONE, ids=[f"{k}-{i}" for i, (k, _) in enumerate(ALONE)])
def test_rodage_when_one_criterion_fails_then_only_it_fails_and_no_go(tmp_path: Path, key: str, plan: Plan) -> None:
    report = report_for(tmp_path, plan)

    failed = {k for k, v in verdicts(report).items() if v is not Verdict.PASS}
    assert failed == {key}, [(r.key, r.measured, r.detail) for r in report.results if r.key in failed | {key}]
    assert result(report, key).verdict is Verdict.FAIL
    assert not report.go


def test_rodage_when_audit_line_edited_then_only_the_chain_criterion_fails(tmp_path: Path) -> None:
    write_session(tmp_path).log.close()
    path = audit_files(tmp_path / "audit")[0]
    content = path.read_text().splitlines(keepends=True)
    victim = next(i for i, line in enumerate(content) if '"client_order_id":"o5"' in line)
    content[victim] = content[victim].replace('"rejected by', '"edited by').replace('"o5"', '"o6"')
    path.write_text("".join(content))

    report = evaluate(load_evidence(tmp_path), GATES[1])

    assert {k for k, v in verdicts(report).items() if v is not Verdict.PASS} == {"audit_chain"}
    assert "HASH_MISMATCH" in result(report, "audit_chain").detail


def test_rodage_gate_2_when_kill_switch_was_used_then_activations_fail(tmp_path: Path) -> None:
    report = report_for(tmp_path, Plan(days=30, profits=(PROFITS * 5)[:30]), gate=2)

    assert {k for k, v in verdicts(report).items() if v is not Verdict.PASS} == {"kill_switch_activations"}
    assert result(report, "kill_switch_activations").value == 1


# --- boundaries ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("extra_ns", "verdict"), [(0, Verdict.PASS), (-1, Verdict.FAIL)])
def test_uptime_when_exactly_100_8_minutes_down_then_passes_and_one_ns_more_fails(
    tmp_path: Path, extra_ns: int, verdict: Verdict
) -> None:
    # beats at 11h and 12h missing; the 10h beat vouches for 79.2 min: [11h19.2m, 13h) = 100.8 min down
    cadence = HOUR + 1_152 * NS + extra_ns
    report = report_for(tmp_path, Plan(missing_beats=(11, 12), cadence_at={10: cadence}))

    assert result(report, "uptime").verdict is verdict
    assert result(report, "uptime").threshold == "≥ 99.0 % (≤ 100.8 min down in 7 d)"


def test_window_when_session_ran_longer_then_only_the_last_days_count(tmp_path: Path) -> None:
    # ten days; a crash, a desync and the kill-switch drill all in the first three
    plan = Plan(days=10, crash_after=20, mismatch_hours=(30,), kill_switch=((40, True), (45, False)),
                profits=PROFITS + PROFITS[:3])  # fmt: skip

    report = report_for(tmp_path, plan, days=7)

    assert report.start_ns == T0 + 3 * DAY
    assert result(report, "crashes").value == 0
    assert result(report, "desyncs").value == 0
    assert result(report, "kill_switch_both_ways").verdict is Verdict.FAIL
    assert result(report, "ws_recovered").verdict is Verdict.FAIL  # the reconnect was on day 2 too
    assert result(report, "uptime").value == 1


def test_window_when_operator_records_carry_another_clock_then_counted_by_chain_position(tmp_path: Path) -> None:
    trail = write_session(tmp_path, Plan(kill_switch=()))
    wall = ts("2030-01-01T00:00:00")  # an operator's wall clock, years after the replayed market
    end = T0 + 7 * DAY
    trail.switch(wall, True, reveal_ns=end)  # the session's next event carries market time
    trail.switch(wall + HOUR, False, reveal_ns=end)
    with SqlParamStore(f"sqlite:///{tmp_path / 'params.db'}") as store:  # `thunes params record` afterwards
        proposal = ParamVersion.propose("sma_cross", {"sma_fast": 5}, git_sha="c0ffee", created_ns=wall + 2 * HOUR,
                                        author="alice", reason="next session")  # fmt: skip
        assert record_version(store, trail.log, CONTEXT, proposal).created
    trail.log.close()

    report = evaluate(load_evidence(tmp_path), GATES[1])

    assert report.end_ns == T0 + 7 * DAY  # the window did not follow the foreign clock
    assert result(report, "kill_switch_both_ways").verdict is Verdict.PASS


# --- not measured -------------------------------------------------------------------------------
def test_rodage_when_session_wrote_no_marks_then_those_criteria_not_measured_and_no_go(tmp_path: Path) -> None:
    report = report_for(tmp_path, Plan(marks=False))

    unmeasured = {k for k, v in verdicts(report).items() if v is Verdict.NOT_MEASURED}
    assert unmeasured == {"uptime", "crashes", "ws_recovered", "peak_rss"}
    assert {k for k, v in verdicts(report).items() if v is Verdict.FAIL} == set()
    assert all(r.measured == "not measured" and "session.jsonl" in r.detail for r in report.results
               if r.key in unmeasured)  # fmt: skip
    assert not report.go


def test_rodage_when_marks_lack_counters_then_ws_and_rss_not_measured(tmp_path: Path) -> None:
    report = report_for(tmp_path, Plan(ws_counters=False, rss=None))

    assert result(report, "ws_recovered").verdict is Verdict.NOT_MEASURED
    assert result(report, "peak_rss").verdict is Verdict.NOT_MEASURED
    assert result(report, "uptime").verdict is Verdict.PASS


def test_rodage_when_no_order_was_sent_then_rate_not_measured_rather_than_zero(tmp_path: Path) -> None:
    report = report_for(tmp_path, Plan(submitted=0, rejections=()))

    assert result(report, "rejection_rate").verdict is Verdict.NOT_MEASURED
    assert result(report, "venue_1013").verdict is Verdict.PASS
    assert not report.go


def test_rodage_when_directory_is_empty_then_every_criterion_not_measured(tmp_path: Path) -> None:
    report = evaluate(load_evidence(tmp_path), GATES[1])

    assert set(verdicts(report).values()) == {Verdict.NOT_MEASURED}
    assert report.end_ns is None
    assert not report.go


def test_session_mark_when_round_tripped_then_equal_and_bad_lines_refused() -> None:
    mark = SessionMark(kind=MarkKind.BEAT, ts_ns=T0, run_id="r", cadence_ns=HOUR, rss_peak_bytes=1)

    assert SessionMark.from_json(mark.to_json()) == mark
    assert SessionMark.from_json(mark.to_json().replace('"BEAT"', '"STOP"')) == replace(mark, kind=MarkKind.STOP)
    with pytest.raises(ValueError, match="ts_ns"):
        SessionMark.from_json(mark.to_json().replace(str(T0), "-1"))
    with pytest.raises(ValueError, match="KILL"):
        SessionMark.from_json(mark.to_json().replace('"BEAT"', '"KILL"'))
