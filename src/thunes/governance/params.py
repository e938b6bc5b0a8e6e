"""Parameter versions and Sharpe decay (SPEC §5): which parameters traded, and whether they still work.

A **version** is one change of a strategy's parameters: the canonical JSON of the parameters, its
``param_hash`` (the same hash the audit trail stamps on every record, see :func:`param_hash`), the
git sha, the backtest and walk-forward Sharpe that justified it, when, who and why. Versions are
numbered per strategy. Recording the hash that is already current is a no-op (idempotent); going
back to an older hash is a change like any other and gets a new number. Every new version is
audited (PARAMETER_UPDATED) through the :class:`~thunes.governance.audit_ports.AuditWriter` port.

**Snapshots** hold, per UTC day, ``sharpe_7d`` and ``sharpe_30d`` of the daily PnL and the closed
trades of the 7-day window. Daily PnL is the realised PnL (net of fees, quote currency) of the
ledger's fills, bucketed by the fill's UTC day on the session's market clock; the days counted are
those the session was running (a daily summary, a fill or a session mark that day), so a day down
is skipped rather than counted as a flat day. Open positions are not marked to market: sessions do
not persist a daily equity yet. Sharpe = mean / sample std (ddof 1) × sqrt(365): crypto trades
every day of the year, risk-free rate 0; on a constant capital base this equals the Sharpe of daily
returns, so no capital figure is needed. It is undefined (None) below 2 days or with no variance.

**Decay** (SPEC §5), as interpreted here: CRITICAL when sharpe_7d < 0.5 on each of the last 3 daily
snapshots, WARNING when < 1.0 on each of them (the "last 3 daily snapshots" qualifier applies to
both thresholds: one bad day is noise, three are a trend); INSUFFICIENT_DATA, never CRITICAL, when
the newest snapshot counts fewer than 5 closed trades in its 7-day window, when fewer than 3
snapshots exist, or when one of the 3 has no defined Sharpe; else OK. The last 3 snapshots are the
3 newest days recorded, whether or not the days are consecutive.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, Protocol

from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol
from thunes.domain.orders import Fill
from thunes.domain.position import Position
from thunes.governance.audit_ports import AuditWriter
from thunes.governance.audit_schema import AuditContext, AuditEvent
from thunes.risk.state import utc_day

__all__ = [
    "ABSENT",
    "ANNUALISATION",
    "DailyResult",
    "DecayAssessment",
    "DecayMonitor",
    "DecayPolicy",
    "DecayState",
    "DecayStateChanged",
    "ParamChange",
    "ParamStore",
    "ParamStoreError",
    "ParamVersion",
    "RecordOutcome",
    "SharpeSnapshot",
    "assess_decay",
    "canonical_parameters",
    "daily_results",
    "diff_parameters",
    "param_hash",
    "record_version",
    "sharpe",
    "snapshot_on",
    "window",
]

ANNUALISATION = math.sqrt(365)  # daily returns, markets open every day
HASH_LENGTH = 16  # hex digits kept, as the audit trail stamps them
DEFAULT_DUST_NOTIONAL = Decimal(5)  # RiskLimits.dust_notional: a remainder below it closes the trade
ZERO = Decimal(0)


class ParamStoreError(RuntimeError):
    """The parameter history cannot be written consistently: retry, or look at the database."""


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # as pydantic's model_dump(mode="json") writes it
    raise TypeError(f"{type(value).__name__} is not JSON data")


def canonical_parameters(parameters: Mapping[str, Any]) -> str:
    """Sorted keys, no spaces: exactly the text ``app.audit_setup`` hashes for the audit trail."""
    return json.dumps(dict(parameters), sort_keys=True, separators=(",", ":"), default=_json_default,
                      allow_nan=False)  # fmt: skip


def param_hash(parameters: Mapping[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of :func:`canonical_parameters` (the audit ``param_hash``)."""
    return hashlib.sha256(canonical_parameters(parameters).encode()).hexdigest()[:HASH_LENGTH]


def _finite(value: float | None, name: str) -> None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number or None, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamVersion:
    """One parameter change. ``version`` is 0 until recorded; times are Unix ns (UTC)."""

    strategy_id: str
    parameters_json: str
    param_hash: str
    git_sha: str
    created_ns: int
    author: str
    reason: str
    backtest_sharpe: float | None = None
    wf_sharpe: float | None = None
    version: int = 0

    def __post_init__(self) -> None:
        parameters = json.loads(self.parameters_json)
        if canonical_parameters(parameters) != self.parameters_json:
            raise ValueError("parameters_json is not canonical JSON")
        if param_hash(parameters) != self.param_hash:
            raise ValueError(f"param_hash {self.param_hash} does not match the parameters")
        _finite(self.backtest_sharpe, "backtest_sharpe")
        _finite(self.wf_sharpe, "wf_sharpe")

    @classmethod
    def propose(cls, strategy_id: str, parameters: Mapping[str, Any], *, git_sha: str, created_ns: int,
                author: str, reason: str, backtest_sharpe: float | None = None,
                wf_sharpe: float | None = None) -> ParamVersion:  # fmt: skip
        """A version not yet recorded, its JSON and hash derived from ``parameters``."""
        return cls(strategy_id=strategy_id, parameters_json=canonical_parameters(parameters),
                   param_hash=param_hash(parameters), git_sha=git_sha, created_ns=created_ns, author=author,
                   reason=reason, backtest_sharpe=backtest_sharpe, wf_sharpe=wf_sharpe)  # fmt: skip

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(json.loads(self.parameters_json))


@dataclass(frozen=True, slots=True)
class SharpeSnapshot:
    """A strategy version's performance as of the end of ``day`` (UTC, market clock).

    ``closed_trades`` counts the round trips closed in the 7-day window ``sharpe_7d`` rests on.
    """

    strategy_id: str
    param_hash: str
    day: date
    sharpe_7d: float | None
    sharpe_30d: float | None
    closed_trades: int
    created_ns: int

    def __post_init__(self) -> None:
        _finite(self.sharpe_7d, "sharpe_7d")
        _finite(self.sharpe_30d, "sharpe_30d")
        if self.closed_trades < 0:
            raise ValueError("closed_trades must be >= 0")


class ParamStore(Protocol):
    """Where versions and snapshots live (``adapters.storage.params_sql``)."""

    def latest(self, strategy_id: str) -> ParamVersion | None: ...

    def insert(self, version: ParamVersion) -> bool:
        """Store ``version``; False when its (strategy, version number) is already taken."""
        ...

    def delete(self, strategy_id: str, version: int) -> None: ...

    def history(self, strategy_id: str | None = None) -> list[ParamVersion]: ...

    def put_snapshot(self, snapshot: SharpeSnapshot) -> None:
        """Insert, or replace the snapshot of the same (strategy, param hash, day)."""
        ...

    def snapshots(self, strategy_id: str, param_hash: str | None = None) -> list[SharpeSnapshot]:
        """Oldest day first."""
        ...


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    version: ParamVersion
    created: bool  # False: this hash was already the strategy's current version


def _sharpe_text(value: float | None) -> str | None:
    return None if value is None else repr(value)  # audit records hold no floats


def record_version(store: ParamStore, audit: AuditWriter, context: AuditContext, proposal: ParamVersion,
                   *, attempts: int = 3) -> RecordOutcome:  # fmt: skip
    """Record ``proposal`` as the strategy's next version and audit it, unless its hash is current.

    The next number is claimed by a unique (strategy, version) key, so two writers racing cannot
    both record; the loser looks again and finds the hash current. If the audit write fails the
    version is removed again: there is never a version without its PARAMETER_UPDATED record.
    """
    for _ in range(attempts):
        latest = store.latest(proposal.strategy_id)
        if latest is not None and latest.param_hash == proposal.param_hash:
            return RecordOutcome(latest, created=False)
        candidate = replace(proposal, version=1 if latest is None else latest.version + 1)
        if not store.insert(candidate):
            continue
        meta = {
            "version": candidate.version, "parameters": candidate.parameters_json, "by": candidate.author,
            "previous_param_hash": None if latest is None else latest.param_hash,
            "backtest_sharpe": _sharpe_text(candidate.backtest_sharpe), "wf_sharpe": _sharpe_text(candidate.wf_sharpe),
        }  # fmt: skip
        actor = replace(context, strategy_id=candidate.strategy_id, param_hash=candidate.param_hash,
                        git_sha=candidate.git_sha)  # fmt: skip
        try:
            audit.append_many([actor.record(AuditEvent.PARAMETER_UPDATED, candidate.created_ns,
                                            reason=candidate.reason, metadata=meta)])  # fmt: skip
        except BaseException:
            store.delete(candidate.strategy_id, candidate.version)
            raise
        return RecordOutcome(candidate, created=True)
    raise ParamStoreError(f"{proposal.strategy_id}: could not claim a version number in {attempts} attempts")


class Absent(Enum):
    """A parameter one side of a diff does not have."""

    ABSENT = "absent"


ABSENT = Absent.ABSENT


@dataclass(frozen=True, slots=True)
class ParamChange:
    name: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return self.before != self.after or type(self.before) is not type(self.after)


def _flatten(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def diff_parameters(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[ParamChange]:
    """Every parameter of either side (nested keys dotted), sorted by name, changed or not."""
    a, b = _flatten(before), _flatten(after)
    return [ParamChange(k, a.get(k, ABSENT), b.get(k, ABSENT)) for k in sorted(a.keys() | b.keys())]


# --- daily performance --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DailyResult:
    """One UTC day the session ran: realised PnL (quote, net of fees) and trades closed that day."""

    day: date
    pnl: Decimal
    closed_trades: int


def daily_results(fills: Iterable[Fill], active_days: Iterable[date], *, quote_asset: str = "USDT",
                  dust_notional: Decimal = DEFAULT_DUST_NOTIONAL) -> list[DailyResult]:  # fmt: skip
    """Realised PnL and closed round trips per UTC day, over the active days and every fill day.

    A trade closes on the SELL that leaves less than ``dust_notional`` held (valued at the fill
    price), the risk ledger's and the audit trail's rule. Raises ``PositionError`` for a fee paid in
    a third asset (its quote value is not in the ledger).
    """
    positions: dict[str, Position] = {}
    pnl: defaultdict[date, Decimal] = defaultdict(Decimal)
    closed: Counter[date] = Counter()
    for fill in sorted(fills, key=lambda f: f.ts_ns):
        symbol = str(fill.symbol)
        before = positions.get(symbol) or Position(Symbol(symbol), symbol.removesuffix(quote_asset), quote_asset)
        after = before.apply(fill)
        positions[symbol] = after
        day = utc_day(fill.ts_ns)
        pnl[day] += after.realized_pnl - before.realized_pnl
        if fill.side is Side.SELL and before.is_open and after.quantity * fill.price < dust_notional:
            closed[day] += 1
    days = sorted(set(active_days) | set(pnl))
    return [DailyResult(d, pnl.get(d, ZERO), closed.get(d, 0)) for d in days]


def window(results: Sequence[DailyResult], end_day: date, days: int) -> list[DailyResult]:
    """The results of the ``days`` calendar days ending with ``end_day`` (inclusive)."""
    first = end_day - timedelta(days=days - 1)
    return [r for r in results if first <= r.day <= end_day]


def sharpe(pnls: Sequence[Decimal]) -> float | None:
    """Annualised Sharpe (sqrt(365)) of daily PnLs; None below 2 values or when they never vary."""
    if len(pnls) < 2:
        return None
    deviation = statistics.stdev(pnls)
    if deviation == 0:
        return None
    return float(statistics.mean(pnls) / deviation) * ANNUALISATION


def snapshot_on(strategy_id: str, param_hash_: str, day: date, results: Sequence[DailyResult],
                created_ns: int) -> SharpeSnapshot:  # fmt: skip
    """The snapshot of ``day`` from daily results (later days are ignored)."""
    week, month = window(results, day, 7), window(results, day, 30)
    return SharpeSnapshot(strategy_id, param_hash_, day, sharpe([r.pnl for r in week]),
                          sharpe([r.pnl for r in month]), sum(r.closed_trades for r in week), created_ns)  # fmt: skip


# --- decay --------------------------------------------------------------------------------------
class DecayState(StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True, slots=True)
class DecayPolicy:
    """SPEC §5 defaults: Sharpe thresholds, how many daily snapshots, the fewest closed trades."""

    warning_below: float = 1.0
    critical_below: float = 0.5
    consecutive: int = 3
    min_trades: int = 5


@dataclass(frozen=True, slots=True)
class DecayAssessment:
    state: DecayState
    detail: str
    latest: SharpeSnapshot | None


def _insufficient(recent: Sequence[SharpeSnapshot], policy: DecayPolicy) -> str | None:
    """Why these snapshots cannot support a verdict, or None when they can."""
    if not recent:
        return "no daily snapshot yet"
    if recent[-1].closed_trades < policy.min_trades:
        return f"{recent[-1].closed_trades} closed trades in 7 d (fewer than {policy.min_trades})"
    if len(recent) < policy.consecutive:
        return f"{len(recent)} of {policy.consecutive} daily snapshots"
    if any(s.sharpe_7d is None for s in recent):
        return "sharpe_7d undefined on a day (fewer than 2 days or no variance)"
    return None


def assess_decay(snapshots: Sequence[SharpeSnapshot], policy: DecayPolicy | None = None) -> DecayAssessment:
    """The decay state of one strategy version from its daily snapshots (see the module doc)."""
    policy = policy or DecayPolicy()
    recent = sorted(snapshots, key=lambda s: s.day)[-policy.consecutive :]
    latest = recent[-1] if recent else None
    why = _insufficient(recent, policy)
    if why is not None:
        return DecayAssessment(DecayState.INSUFFICIENT_DATA, why, latest)
    values = [s.sharpe_7d for s in recent if s.sharpe_7d is not None]
    shown = "sharpe_7d " + ", ".join(f"{v:.2f}" for v in values)
    if all(v < policy.critical_below for v in values):
        return DecayAssessment(DecayState.CRITICAL, f"{shown} all below {policy.critical_below}", latest)
    if all(v < policy.warning_below for v in values):
        return DecayAssessment(DecayState.WARNING, f"{shown} all below {policy.warning_below}", latest)
    return DecayAssessment(DecayState.OK, shown, latest)


@dataclass(frozen=True, slots=True)
class DecayStateChanged:
    """Published once per change of a strategy's decay state (alerting subscribes to it)."""

    ts_ns: int
    strategy_id: str
    param_hash: str
    previous: DecayState
    state: DecayState
    detail: str
    day: date | None
    sharpe_7d: float | None
    closed_trades: int


class DecayMonitor:
    """Assesses each strategy on every check, and publishes an event only when its state changes.

    ``publish`` is e.g. ``InMemoryBus.publish``. A strategy the monitor has not seen starts from
    ``initial`` when given (a persisted state), else from its state before the newest snapshot, so
    re-checking unchanged data never repeats an alert and a restart alerts only for new data.
    """

    def __init__(self, publish: Callable[[DecayStateChanged], None], policy: DecayPolicy | None = None,
                 initial: Mapping[str, DecayState] | None = None) -> None:  # fmt: skip
        self._publish, self.policy = publish, policy or DecayPolicy()
        self._states: dict[str, DecayState] = dict(initial or {})

    def state(self, strategy_id: str) -> DecayState | None:
        return self._states.get(strategy_id)

    def check(self, strategy_id: str, param_hash_: str, snapshots: Sequence[SharpeSnapshot],
              ts_ns: int) -> DecayAssessment:  # fmt: skip
        ordered = sorted(snapshots, key=lambda s: s.day)
        now = assess_decay(ordered, self.policy)
        before = self._states.get(strategy_id) or assess_decay(ordered[:-1], self.policy).state
        self._states[strategy_id] = now.state
        if now.state != before:
            latest = now.latest
            self._publish(DecayStateChanged(
                ts_ns, strategy_id, param_hash_, before, now.state, now.detail,
                None if latest is None else latest.day, None if latest is None else latest.sharpe_7d,
                0 if latest is None else latest.closed_trades,
            ))  # fmt: skip
        return now
