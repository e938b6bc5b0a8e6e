"""The rodage report (SPEC §6): every gate criterion measured from what a session left behind, and
GO only when each one passes. A criterion without evidence is NOT MEASURED, and that is a NO-GO.

A gate is a list of :class:`Criterion` (data, see :data:`GATES`); each names a metric, measured once
from the :class:`Evidence` (audit trail, ledger fills, daily summary days, session marks).

Clocks: the window is the last ``days`` days of the session's own **market clock**, ending at its
newest timestamp (session mark, fill, audit record, daily summary at 23:00). An accelerated paper
session replays days of market in minutes of wall time, so wall time would measure the replay
speed, not the session; live, the two clocks agree to within a bar. Audit records are taken by
chain position, from the first one inside the window to the newest: kill-switch records carry the
switch's own time and PARAMETER_UPDATED the operator's, either possibly another clock, so they
are counted where the chain puts them and never set the window.

Where each figure comes from:
- uptime, crashes, peak RSS, WebSocket recovery: session marks (``session.jsonl``): START when a
  session starts, BEAT after every bar, STOP on a graceful stop. A START or BEAT vouches the session
  was up for one ``cadence_ns`` after it; uptime is the covered share of the window, so gaps
  between beats, time before the first mark and a crash to restart all count as down (at bar
  resolution, erring towards down). A run (one ``run_id``) that ends without STOP and is followed
  by another run is a crash. Uptime passes at ≥ 99 %, SPEC's "at most 100.8 min down in 7 days".
- -1013 count, venue rejection rate (ORDER_REJECTED / ORDER_SUBMITTED), desyncs
  (RECONCILIATION_MISMATCH), kill-switch exercised (an ACTIVATED then a DEACTIVATED): audit trail.
- Sharpe: daily realised PnL of the ledger fills over the last ``days`` UTC days the session ran
  (:mod:`thunes.governance.params`: sqrt(365) annualisation, undefined below 2 days).
- audit trail verifies (beyond SPEC's list, in both gates): evidence that fails ``thunes audit
  verify`` cannot support a GO.

A report over fewer days than its gate is defined on (``--days 7`` for gate 2) is never GO.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from thunes.domain.orders import Fill
from thunes.domain.position import PositionError
from thunes.governance.audit_schema import AuditEvent, AuditRecord
from thunes.governance.params import daily_results, sharpe, window
from thunes.risk.state import utc_day

__all__ = [
    "GATES",
    "SESSION_MARKS_FILE",
    "Criterion",
    "CriterionResult",
    "Evidence",
    "Gate",
    "MarkKind",
    "Measured",
    "Op",
    "RodageReport",
    "SessionMark",
    "Unit",
    "Verdict",
    "evaluate",
]

SESSION_MARKS_FILE = "session.jsonl"
GIB = 1024**3
NS_PER_MINUTE = 60 * 1_000_000_000
NS_PER_DAY = 1_440 * NS_PER_MINUTE
SUMMARY_AT_NS = 23 * 60 * NS_PER_MINUTE  # the daily summary is written at 23:00 UTC (market clock)
# Records an operator's command may stamp with its own (wall) clock: counted, never framing the window.
_OPERATOR = frozenset({
    AuditEvent.KILL_SWITCH_ACTIVATED, AuditEvent.KILL_SWITCH_DEACTIVATED, AuditEvent.TRADING_HALTED,
    AuditEvent.TRADING_RESUMED, AuditEvent.PARAMETER_UPDATED,
})  # fmt: skip


class MarkKind(StrEnum):
    START = "START"
    BEAT = "BEAT"
    STOP = "STOP"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionMark:
    """One line of ``session.jsonl``: the session was alive at ``ts_ns`` (market clock, Unix ns).

    Counters are cumulative within a run; ``rss_peak_bytes`` is the process's peak resident set.
    """

    kind: MarkKind
    ts_ns: int
    run_id: str
    cadence_ns: int
    wall_ns: int | None = None
    rss_peak_bytes: int | None = None
    ws_reconnects: int | None = None
    missed_candles: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", MarkKind(self.kind))
        for name in ("ts_ns", "cadence_ns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if not self.run_id:
            raise ValueError("run_id must not be empty")

    def to_json(self) -> str:
        """The line to append (without its newline)."""
        return json.dumps({**asdict(self), "kind": self.kind.value}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> SessionMark:
        """Parse one line; ``ValueError`` (or ``TypeError``) when it is not a mark."""
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the session left behind. ``records`` is the readable audit trail in chain order;
    ``chain_ok`` is ``thunes audit verify``'s answer (None: no trail); ``problems`` lists unreadable inputs."""

    records: Sequence[AuditRecord] = ()
    audit_present: bool = False
    chain_ok: bool | None = None
    chain_detail: str = ""
    fills: Sequence[Fill] = ()
    summary_days: Sequence[date] = ()
    marks: Sequence[SessionMark] = ()
    quote_asset: str = "USDT"
    problems: Sequence[str] = ()


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    NOT_MEASURED = "NOT MEASURED"


class Op(StrEnum):
    LT = "<"
    LE = "≤"
    GT = ">"
    GE = "≥"
    EQ = "="


_COMPARE: dict[Op, Callable[[Any, Any], bool]] = {
    Op.LT: operator.lt, Op.LE: operator.le, Op.GT: operator.gt, Op.GE: operator.ge, Op.EQ: operator.eq,
}  # fmt: skip


class Unit(StrEnum):
    UPTIME = "uptime"  # a fraction of the window, shown with its downtime budget in minutes
    RATE = "rate"  # a fraction
    COUNT = "count"
    YES = "yes/no"
    SHARPE = "sharpe"
    BYTES = "bytes"


Value = Decimal | int | bool


@dataclass(frozen=True, slots=True)
class Measured:
    """A metric's value (None: not measured), how to show it, and the evidence behind it."""

    value: Value | None
    shown: str
    detail: str


def _not_measured(detail: str) -> Measured:
    return Measured(None, "not measured", detail)


def _pct(value: Decimal, places: int = 3) -> str:
    return f"{value * 100:.{places}f} %"


@dataclass(frozen=True, slots=True)
class Criterion:
    """One line of a gate: ``metric`` (a key of the metrics table) compared with ``threshold``."""

    metric: str
    label: str  # may contain {days}
    op: Op
    threshold: Value
    unit: Unit

    def describe(self, days: int) -> str:
        """The threshold as people read it, e.g. ``≥ 99 % (≤ 100.8 min down in 7 d)``."""
        t = self.threshold
        if self.unit is Unit.UPTIME:
            assert isinstance(t, Decimal)
            budget = (1 - t) * days * 1_440
            return f"{self.op} {_pct(t, 1)} (≤ {budget.normalize():f} min down in {days} d)"
        if self.unit is Unit.RATE:
            assert isinstance(t, Decimal)
            return f"{self.op} {_pct(t, 1)}"
        if self.unit is Unit.BYTES:
            return f"{self.op} {int(t) / GIB:g} GiB"
        if self.unit is Unit.YES:
            return "yes" if t else "no"
        return f"{self.op} {t}"

    def judge(self, measured: Measured) -> Verdict:
        if measured.value is None:
            return Verdict.NOT_MEASURED
        return Verdict.PASS if _COMPARE[self.op](measured.value, self.threshold) else Verdict.FAIL


@dataclass(frozen=True, slots=True)
class Gate:
    number: int
    title: str
    days: int  # the period the gate is defined over
    criteria: tuple[Criterion, ...]


_UPTIME = "uptime"
GATES: dict[int, Gate] = {
    1: Gate(1, "Gate 1: paper rodage", 7, (
        Criterion(_UPTIME, "uptime", Op.GE, Decimal("0.99"), Unit.UPTIME),
        Criterion("venue_1013", "-1013 rejections (INVALID_MESSAGE)", Op.EQ, 0, Unit.COUNT),
        Criterion("kill_switch_both_ways", "kill-switch exercised both ways", Op.EQ, True, Unit.YES),
        Criterion("ws_recovered", "WebSocket recovered, no missed candle", Op.EQ, True, Unit.YES),
        Criterion("sharpe", "Sharpe ({days} d)", Op.GT, Decimal("0.8"), Unit.SHARPE),
        Criterion("desyncs", "desyncs (reconciliation mismatches)", Op.EQ, 0, Unit.COUNT),
        Criterion("crashes", "crashes", Op.EQ, 0, Unit.COUNT),
        Criterion("rejection_rate", "venue rejection rate", Op.LT, Decimal("0.01"), Unit.RATE),
        Criterion("peak_rss", "peak RSS", Op.LT, GIB, Unit.BYTES),
        Criterion("audit_chain", "audit trail verifies", Op.EQ, True, Unit.YES),
    )),
    2: Gate(2, "Gate 2: live", 30, (
        Criterion(_UPTIME, "uptime", Op.GE, Decimal("0.999"), Unit.UPTIME),
        Criterion("sharpe", "Sharpe ({days} d)", Op.GT, Decimal("1.0"), Unit.SHARPE),
        Criterion("desyncs", "desyncs (reconciliation mismatches)", Op.EQ, 0, Unit.COUNT),
        Criterion("crashes", "crashes", Op.EQ, 0, Unit.COUNT),
        Criterion("kill_switch_activations", "kill-switch activations", Op.EQ, 0, Unit.COUNT),
        Criterion("audit_chain", "audit trail verifies", Op.EQ, True, Unit.YES),
    )),
}  # fmt: skip


# --- the window ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Window:
    evidence: Evidence
    start_ns: int
    end_ns: int
    days: int
    records: Sequence[AuditRecord]  # by chain position: the first record inside the window onwards
    marks: Sequence[SessionMark]  # inside the window

    def count(self, event: AuditEvent) -> int:
        return sum(1 for r in self.records if r.event is event)


def _end_ns(evidence: Evidence) -> int | None:
    """The newest market-clock time in the evidence (operator records excluded: see module doc)."""
    times = [m.ts_ns for m in evidence.marks] + [f.ts_ns for f in evidence.fills]
    times += [r.ts_ns for r in evidence.records if r.event not in _OPERATOR]
    times += [(d - date(1970, 1, 1)).days * NS_PER_DAY + SUMMARY_AT_NS for d in evidence.summary_days]
    return max(times, default=None)


def _window(evidence: Evidence, end_ns: int, days: int) -> _Window:
    start = end_ns - days * NS_PER_DAY
    first = next((i for i, r in enumerate(evidence.records) if r.ts_ns >= start and r.event not in _OPERATOR),
                 len(evidence.records))  # fmt: skip
    marks = [m for m in evidence.marks if start <= m.ts_ns <= end_ns]
    return _Window(evidence, start, end_ns, days, evidence.records[first:], marks)


# --- metrics ------------------------------------------------------------------------------------
_NO_MARKS = f"the session wrote no marks ({SESSION_MARKS_FILE}: START, a BEAT per bar, STOP)"
_NO_AUDIT = "no audit trail (audit/audit-*.jsonl)"


def _uptime(w: _Window) -> Measured:
    if not w.evidence.marks:
        return _not_measured(_NO_MARKS)
    spans = sorted((max(m.ts_ns, w.start_ns), min(m.ts_ns + m.cadence_ns, w.end_ns))
                   for m in w.evidence.marks if m.kind is not MarkKind.STOP)  # fmt: skip
    covered, reach = 0, w.start_ns
    for begin, end in spans:
        if end > reach:
            covered += end - max(begin, reach)
            reach = end
    total = w.end_ns - w.start_ns
    down_min = Decimal(total - covered) / NS_PER_MINUTE
    value = Decimal(covered) / Decimal(total)
    return Measured(value, f"{_pct(value)} ({down_min:.1f} min down)",
                    f"{len(w.marks)} session marks in the window, bar-resolution coverage")  # fmt: skip


def _runs(marks: Sequence[SessionMark]) -> list[list[SessionMark]]:
    runs: list[list[SessionMark]] = []
    for mark in marks:
        if runs and runs[-1][-1].run_id == mark.run_id:
            runs[-1].append(mark)
        else:
            runs.append([mark])
    return runs


def _crashes(w: _Window) -> Measured:
    if not w.evidence.marks:
        return _not_measured(_NO_MARKS)
    runs = _runs(w.evidence.marks)
    crashed = [r for r in runs[:-1] if r[-1].kind is not MarkKind.STOP and r[-1].ts_ns >= w.start_ns]
    running = runs[-1][-1].kind is not MarkKind.STOP
    detail = f"{len(runs)} run(s); a run that ends without STOP and is followed by another is a crash"
    return Measured(len(crashed), str(len(crashed)), detail + ("; the last run has not stopped" if running else ""))


def _increase(w: _Window, name: str) -> int | None:
    """How much a per-run cumulative counter grew inside the window (None: never recorded)."""
    total, seen = 0, False
    for run in _runs(w.evidence.marks):
        before = [getattr(m, name) for m in run if m.ts_ns < w.start_ns and getattr(m, name) is not None]
        inside = [getattr(m, name) for m in run if w.start_ns <= m.ts_ns <= w.end_ns and getattr(m, name) is not None]
        if inside:
            seen = True
            total += max(inside) - (before[-1] if before else 0)
    return total if seen else None


def _ws_recovered(w: _Window) -> Measured:
    if not w.evidence.marks:
        return _not_measured(_NO_MARKS)
    reconnects, missed = _increase(w, "ws_reconnects"), _increase(w, "missed_candles")
    if reconnects is None or missed is None:
        return _not_measured("session marks carry no ws_reconnects / missed_candles counters")
    ok = reconnects > 0 and missed == 0
    detail = f"{reconnects} reconnects, {missed} missed candles"
    if reconnects == 0:
        detail += ": no reconnect recorded, the forced-kill drill was not run"
    return Measured(ok, "yes" if ok else "no", detail)


def _peak_rss(w: _Window) -> Measured:
    samples = [m.rss_peak_bytes for m in w.marks if m.rss_peak_bytes is not None]
    if not samples:
        return _not_measured(_NO_MARKS if not w.evidence.marks else "session marks carry no rss_peak_bytes")
    peak = max(samples)
    return Measured(peak, f"{peak / 1024**2:,.1f} MiB", f"max of {len(samples)} samples")


def _audited(w: _Window, count: Callable[[_Window], int], what: str) -> Measured:
    if not w.evidence.audit_present:
        return _not_measured(_NO_AUDIT)
    n = count(w)
    return Measured(n, str(n), f"{what}, {len(w.records)} audit records in the window")


def _is_1013(record: AuditRecord) -> bool:
    """A venue rejection -1013 INVALID_MESSAGE (errors.md: filter failures and other placement failures)."""
    if record.event is not AuditEvent.ORDER_REJECTED:
        return False
    return record.metadata.get("code") == -1013 or record.reason == "VENUE_-1013"


def _venue_1013(w: _Window) -> Measured:
    return _audited(w, lambda x: sum(1 for r in x.records if _is_1013(r)), "ORDER_REJECTED with code -1013")


def _desyncs(w: _Window) -> Measured:
    return _audited(w, lambda x: x.count(AuditEvent.RECONCILIATION_MISMATCH), "RECONCILIATION_MISMATCH records")


def _activations(w: _Window) -> Measured:
    return _audited(w, lambda x: x.count(AuditEvent.KILL_SWITCH_ACTIVATED), "KILL_SWITCH_ACTIVATED records")


def _both_ways(w: _Window) -> Measured:
    if not w.evidence.audit_present:
        return _not_measured(_NO_AUDIT)
    events = [r.event for r in w.records]
    on = AuditEvent.KILL_SWITCH_ACTIVATED
    first_on = events.index(on) if on in events else None
    off_after = first_on is not None and AuditEvent.KILL_SWITCH_DEACTIVATED in events[first_on:]
    detail = f"{events.count(on)} ACTIVATED, {events.count(AuditEvent.KILL_SWITCH_DEACTIVATED)} DEACTIVATED"
    return Measured(off_after, "yes" if off_after else "no", detail + " (a DEACTIVATED must follow an ACTIVATED)")


def _rejection_rate(w: _Window) -> Measured:
    if not w.evidence.audit_present:
        return _not_measured(_NO_AUDIT)
    submitted, rejected = w.count(AuditEvent.ORDER_SUBMITTED), w.count(AuditEvent.ORDER_REJECTED)
    if submitted == 0:
        return _not_measured("no order submitted in the window: a rate needs orders")
    value = Decimal(rejected) / Decimal(submitted)
    return Measured(value, _pct(value), f"{rejected} ORDER_REJECTED / {submitted} ORDER_SUBMITTED")


def _sharpe(w: _Window) -> Measured:
    ev = w.evidence
    active = {*ev.summary_days, *(utc_day(m.ts_ns) for m in ev.marks)}
    try:
        results = window(daily_results(ev.fills, active, quote_asset=ev.quote_asset), utc_day(w.end_ns), w.days)
    except PositionError as e:
        return _not_measured(f"the ledger cannot be valued: {e}")
    value = sharpe([r.pnl for r in results])
    trades, pnl = sum(r.closed_trades for r in results), sum((r.pnl for r in results), Decimal(0))
    detail = f"{len(results)} days, {trades} closed trades, realised PnL {pnl:.4f} {ev.quote_asset}"
    if value is None:
        return _not_measured(f"undefined (fewer than 2 days or no variance): {detail}")
    return Measured(Decimal(f"{value:.6f}"), f"{value:.2f}", detail)


def _audit_chain(w: _Window) -> Measured:
    ok = w.evidence.chain_ok
    if ok is None:
        return _not_measured(_NO_AUDIT)
    return Measured(ok, "yes" if ok else "no", w.evidence.chain_detail)


METRICS: dict[str, Callable[[_Window], Measured]] = {
    _UPTIME: _uptime, "venue_1013": _venue_1013, "kill_switch_both_ways": _both_ways,
    "kill_switch_activations": _activations, "ws_recovered": _ws_recovered, "sharpe": _sharpe,
    "desyncs": _desyncs, "crashes": _crashes, "rejection_rate": _rejection_rate, "peak_rss": _peak_rss,
    "audit_chain": _audit_chain,
}  # fmt: skip


# --- the report ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CriterionResult:
    key: str
    criterion: str
    threshold: str
    measured: str
    verdict: Verdict
    detail: str
    value: Value | None


@dataclass(frozen=True, slots=True)
class RodageReport:
    gate: Gate
    days: int
    start_ns: int | None
    end_ns: int | None
    results: tuple[CriterionResult, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def go(self) -> bool:
        """Every criterion passed, over at least the days the gate is defined on."""
        return self.days >= self.gate.days and all(r.verdict is Verdict.PASS for r in self.results)

    @property
    def end_day(self) -> date | None:
        return None if self.end_ns is None else utc_day(self.end_ns)


def evaluate(evidence: Evidence, gate: Gate, days: int | None = None) -> RodageReport:
    """Measure each of ``gate``'s criteria over the last ``days`` (default: the gate's) market days."""
    days = days or gate.days
    notes = [f"window: the last {days} days of the session's market clock, ending at its newest record"]
    if days < gate.days:
        notes.append(f"{gate.title} is defined over {gate.days} days; a {days}-day report cannot give GO")
    notes += [f"unreadable input: {p}" for p in evidence.problems]
    end = _end_ns(evidence)
    if end is None:
        missing = _not_measured("no session data: no audit record, fill, daily summary or session mark")
        results = tuple(_result(c, days, missing) for c in gate.criteria)
        return RodageReport(gate, days, None, None, results, tuple(notes))
    w = _window(evidence, end, days)
    measured: dict[str, Measured] = {}
    for c in gate.criteria:
        if c.metric not in measured:
            measured[c.metric] = METRICS[c.metric](w)
    results = tuple(_result(c, days, measured[c.metric]) for c in gate.criteria)
    return RodageReport(gate, days, w.start_ns, end, results, tuple(notes))


def _result(criterion: Criterion, days: int, measured: Measured) -> CriterionResult:
    return CriterionResult(criterion.metric, criterion.label.format(days=days), criterion.describe(days),
                           measured.shown, criterion.judge(measured), measured.detail, measured.value)  # fmt: skip
