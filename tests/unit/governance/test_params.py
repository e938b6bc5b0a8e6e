"""Parameter versions (recorded once per change, audited), daily Sharpe and the SPEC §5 decay states."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tests.unit.governance import CONTEXT, NS, T0
from tests.unit.risk import buy, fill, sell
from thunes.adapters.storage.audit_jsonl import AuditLog, AuditLogError, read_records
from thunes.adapters.storage.params_sql import SqlParamStore
from thunes.app.audit_setup import audit_context
from thunes.app.config import load_settings
from thunes.domain import PositionError
from thunes.engine.bus import InMemoryBus
from thunes.governance import AuditEvent, AuditRecord
from thunes.governance.params import (
    ABSENT,
    DailyResult,
    DecayMonitor,
    DecayState,
    DecayStateChanged,
    ParamChange,
    ParamVersion,
    SharpeSnapshot,
    assess_decay,
    daily_results,
    diff_parameters,
    param_hash,
    record_version,
    sharpe,
    snapshot_on,
)

D = Decimal
DAY0 = date(2026, 11, 23)
PARAMS = {"name": "sma_cross", "sma_fast": 20, "sma_slow": 50, "rsi_oversold": 30.0, "rsi_stop_loss": "0.03"}


def _proposal(parameters: dict[str, object] | None = None, at: int = T0, backtest_sharpe: float | None = None,
              wf_sharpe: float | None = None) -> ParamVersion:  # fmt: skip
    return ParamVersion.propose("sma_cross", parameters or PARAMS, git_sha="c0ffee", created_ns=at, author="alice",
                                reason="tuning", backtest_sharpe=backtest_sharpe, wf_sharpe=wf_sharpe)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlParamStore]:
    s = SqlParamStore(f"sqlite:///{tmp_path / 'params.db'}")
    yield s
    s.close()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    with AuditLog(tmp_path / "audit") as trail:
        yield trail


def _records(log: AuditLog) -> list[AuditRecord]:
    out = []
    for _, _, item in read_records(log.directory):
        assert isinstance(item, AuditRecord), item
        out.append(item)
    return out


# --- hashing ------------------------------------------------------------------------------------
def test_param_hash_when_settings_hashed_then_equals_the_audit_trails_param_hash() -> None:
    for overrides in ({}, {"strategy": {"name": "rsi_reversion", "rsi_period": 7, "rsi_stop_loss": "0.05"}}):
        settings = load_settings(env={}, overrides=overrides)

        ours = param_hash(settings.strategy.model_dump(mode="json"))

        assert ours == audit_context(settings).param_hash


def test_param_hash_when_keys_reordered_or_decimal_given_then_same_hash_and_canonical_text() -> None:
    reordered = dict(reversed(list(PARAMS.items())))
    with_decimal = {**PARAMS, "rsi_stop_loss": D("0.03")}

    version = _proposal(reordered)

    assert param_hash(reordered) == param_hash(PARAMS) == param_hash(with_decimal)
    assert len(param_hash(PARAMS)) == 16
    assert version.parameters_json == json.dumps(PARAMS, sort_keys=True, separators=(",", ":"))
    assert param_hash({**PARAMS, "sma_fast": 21}) != param_hash(PARAMS)


def test_version_when_hash_or_json_does_not_match_then_refused() -> None:
    good = _proposal()

    with pytest.raises(ValueError, match="does not match"):
        replace(good, param_hash="0" * 16)
    with pytest.raises(ValueError, match="canonical"):
        replace(good, parameters_json=json.dumps(PARAMS))
    with pytest.raises(ValueError, match="finite"):
        _proposal(backtest_sharpe=math.nan)


# --- recording ----------------------------------------------------------------------------------
def test_record_when_first_change_then_version_1_stored_and_audited_once(store: SqlParamStore, log: AuditLog) -> None:
    outcome = record_version(store, log, CONTEXT, _proposal(backtest_sharpe=1.7, wf_sharpe=None))

    records = _records(log)
    assert outcome.created
    assert outcome.version.version == 1
    assert store.history() == [outcome.version]
    assert [r.event for r in records] == [AuditEvent.PARAMETER_UPDATED]
    audited = records[0]
    assert (audited.strategy_id, audited.param_hash, audited.git_sha) == ("sma_cross", param_hash(PARAMS), "c0ffee")
    assert audited.ts_ns == T0
    assert audited.reason == "tuning"
    assert json.loads(audited.metadata["parameters"]) == PARAMS
    assert audited.metadata["backtest_sharpe"] == "1.7"
    assert audited.metadata["wf_sharpe"] is None
    assert audited.metadata["previous_param_hash"] is None


def test_record_when_same_hash_again_then_nothing_new_and_no_audit(store: SqlParamStore, log: AuditLog) -> None:
    first = record_version(store, log, CONTEXT, _proposal())

    again = record_version(store, log, CONTEXT, _proposal(dict(reversed(list(PARAMS.items()))), at=T0 + NS))

    assert not again.created
    assert again.version == first.version
    assert len(store.history()) == 1
    assert len(_records(log)) == 1


def test_record_when_changed_then_reverted_then_three_versions_the_last_with_the_first_hash(
    store: SqlParamStore, log: AuditLog
) -> None:
    record_version(store, log, CONTEXT, _proposal())
    record_version(store, log, CONTEXT, _proposal({**PARAMS, "sma_fast": 10}, at=T0 + NS))

    reverted = record_version(store, log, CONTEXT, _proposal(at=T0 + 2 * NS))

    assert reverted.created
    assert [v.version for v in store.history("sma_cross")] == [1, 2, 3]
    assert reverted.version.param_hash == param_hash(PARAMS)
    assert _records(log)[-1].metadata["previous_param_hash"] == param_hash({**PARAMS, "sma_fast": 10})


def test_record_when_audit_write_fails_then_no_version_is_left_behind(store: SqlParamStore, tmp_path: Path) -> None:
    closed = AuditLog(tmp_path / "closed")
    closed.close()

    with pytest.raises(AuditLogError):
        record_version(store, closed, CONTEXT, _proposal())

    assert store.history() == []


class _RacingStore(SqlParamStore):
    """Another writer records the same parameters between our look and our insert."""

    def __init__(self, url: str, rival: SqlParamStore, log: AuditLog) -> None:
        super().__init__(url)
        self.rival, self.log, self.raced = rival, log, False

    def latest(self, strategy_id: str) -> ParamVersion | None:
        seen = super().latest(strategy_id)
        if not self.raced:
            self.raced = True
            record_version(self.rival, self.log, CONTEXT, _proposal())
        return seen


def test_record_when_another_writer_wins_the_race_then_one_version_and_one_audit_record(
    tmp_path: Path, log: AuditLog
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    rival = SqlParamStore(url)
    racing = _RacingStore(url, rival, log)

    outcome = record_version(racing, log, CONTEXT, _proposal())

    assert not outcome.created  # our insert of v1 lost; the second look found the hash current
    assert [v.version for v in racing.history()] == [1]
    assert len(_records(log)) == 1
    racing.close()
    rival.close()


# --- diff ---------------------------------------------------------------------------------------
def test_diff_when_parameters_change_appear_and_vanish_then_every_name_listed_once() -> None:
    before = {"name": "sma_cross", "sma_fast": 20, "nested": {"a": 1}}
    after = {"name": "sma_cross", "sma_fast": 10, "sma_slow": 50, "nested": {"a": 2}}

    changes = diff_parameters(before, after)

    assert changes == [
        ParamChange("name", "sma_cross", "sma_cross"),
        ParamChange("nested.a", 1, 2),
        ParamChange("sma_fast", 20, 10),
        ParamChange("sma_slow", ABSENT, 50),
    ]
    assert [c.changed for c in changes] == [False, True, True, True]
    assert ParamChange("x", 1, 1.0).changed  # 1 and 1.0 hash differently: a change


# --- daily results and Sharpe -------------------------------------------------------------------
def _round_trip(day: int, profit: str, fee: str = "0") -> list:  # type: ignore[type-arg]
    opened = T0 + day * 86_400 * NS
    entry, exit_ = buy("BTCUSDT", f"b{day}", "0.1", "100"), sell("BTCUSDT", f"s{day}", "0.1")
    return [fill(entry, "100", trade_id=f"tb{day}", commission=fee, ts_ns=opened),
            fill(exit_, str(100 + D(profit)), trade_id=f"ts{day}", commission=fee, ts_ns=opened + 3_600 * NS)]  # fmt: skip


def test_daily_results_when_trades_and_idle_days_then_pnl_net_of_fees_per_utc_day() -> None:
    fills = _round_trip(0, "2", fee="0.01") + _round_trip(2, "-1")
    idle = DAY0 + timedelta(days=1)

    results = daily_results(fills, [idle, DAY0 + timedelta(days=3)])

    assert results == [
        DailyResult(DAY0, D("0.18"), 1),  # 0.1 × 2 minus two 0.01 USDT fees
        DailyResult(idle, D(0), 0),
        DailyResult(DAY0 + timedelta(days=2), D("-0.1"), 1),
        DailyResult(DAY0 + timedelta(days=3), D(0), 0),
    ]


def test_daily_results_when_a_sell_leaves_only_dust_then_the_trade_is_closed() -> None:
    entry, part, rest = buy("BTCUSDT", "b", "0.1", "100"), sell("BTCUSDT", "s1", "0.05"), sell("BTCUSDT", "s2", "0.0499")  # fmt: skip
    fills = [fill(entry, "100", trade_id="1", ts_ns=T0), fill(part, "100", trade_id="2", ts_ns=T0 + 1),
             fill(rest, "100", trade_id="3", ts_ns=T0 + 2)]  # fmt: skip

    (result,) = daily_results(fills, [])

    assert result.closed_trades == 1  # 0.0001 BTC at 100 = 0.01 USDT left: dust


def test_daily_results_when_fee_in_a_third_asset_then_refused() -> None:
    entry = buy("BTCUSDT", "b", "0.1", "100")
    with pytest.raises(PositionError):
        daily_results([fill(entry, "100", commission="0.001", commission_asset="BNB")], [])


def test_sharpe_when_daily_pnls_then_mean_over_sample_std_times_sqrt_365() -> None:
    pnls = [D("0.2"), D("-0.1"), D("0.3"), D("0")]
    array = np.array([float(p) for p in pnls])

    assert sharpe(pnls) == pytest.approx(array.mean() / array.std(ddof=1) * math.sqrt(365), rel=1e-12)
    assert sharpe([D(1)]) is None
    assert sharpe([D(1), D(1), D(1)]) is None  # no variance: undefined, not infinite


def test_snapshot_when_taken_then_7_and_30_day_windows_and_trades_of_the_week() -> None:
    results = [DailyResult(DAY0 + timedelta(days=i), D(i % 3) - 1, 1) for i in range(40)]
    day = DAY0 + timedelta(days=35)

    snap = snapshot_on("s", "h", day, results, created_ns=T0)

    week = [float(r.pnl) for r in results[29:36]]
    month = [float(r.pnl) for r in results[6:36]]
    assert snap.sharpe_7d == pytest.approx(np.mean(week) / np.std(week, ddof=1) * math.sqrt(365))
    assert snap.sharpe_30d == pytest.approx(np.mean(month) / np.std(month, ddof=1) * math.sqrt(365))
    assert snap.closed_trades == 7


# --- decay --------------------------------------------------------------------------------------
def _snaps(values: Sequence[float | None], trades: int = 5) -> list[SharpeSnapshot]:
    return [SharpeSnapshot("s", "h", DAY0 + timedelta(days=i), v, None, trades, T0) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("values", "trades", "state"),
    [
        ([2.0, 0.9, 0.8, 0.7], 5, DecayState.WARNING),  # the last 3 below 1.0
        ([0.9, 0.4, 0.3, 0.2], 5, DecayState.CRITICAL),  # the last 3 below 0.5
        ([0.4, 0.3, 0.7], 5, DecayState.WARNING),  # below 0.5 on two only: a warning, not critical
        ([0.4, 1.0, 0.3], 5, DecayState.OK),  # 1.0 is not below 1.0
        ([0.2, 0.2, 0.2], 4, DecayState.INSUFFICIENT_DATA),  # fewer than 5 trades: never CRITICAL
        ([0.2, 0.2], 9, DecayState.INSUFFICIENT_DATA),  # fewer than 3 daily snapshots
        ([0.2, None, 0.2], 9, DecayState.INSUFFICIENT_DATA),  # an undefined Sharpe
        ([], 9, DecayState.INSUFFICIENT_DATA),
        ([1.5, 1.2, 1.1], 5, DecayState.OK),
    ],
)
def test_decay_state_per_spec(values: list[float | None], trades: int, state: DecayState) -> None:
    assert assess_decay(_snaps(values, trades)).state is state


def test_decay_when_snapshots_arrive_out_of_order_then_the_newest_days_decide() -> None:
    shuffled = list(reversed(_snaps([0.2, 0.2, 0.2, 1.5])))

    assert assess_decay(shuffled).state is DecayState.OK


def test_monitor_when_checked_repeatedly_then_one_event_per_state_change_on_the_bus() -> None:
    bus = InMemoryBus()
    events: list[DecayStateChanged] = []
    bus.subscribe(DecayStateChanged, events.append)
    monitor = DecayMonitor(bus.publish, initial={"s": DecayState.OK})
    series = [1.5, 1.5, 1.5, 0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 1.2]

    for n in range(3, len(series) + 1):
        for _ in range(3):  # several checks a day: still one alert per change
            monitor.check("s", "h", _snaps(series[:n]), ts_ns=T0 + n)

    assert [(e.previous, e.state) for e in events] == [
        (DecayState.OK, DecayState.WARNING),
        (DecayState.WARNING, DecayState.CRITICAL),
        (DecayState.CRITICAL, DecayState.OK),
    ]
    assert events[0].day == DAY0 + timedelta(days=5)
    assert events[0].sharpe_7d == 0.7
    assert events[0].ts_ns == T0 + 6


def test_monitor_when_fresh_then_starts_from_the_state_before_the_newest_snapshot() -> None:
    events: list[DecayStateChanged] = []

    DecayMonitor(events.append).check("s", "h", _snaps([0.9, 0.8, 0.7, 0.6]), ts_ns=T0)  # WARNING already
    DecayMonitor(events.append).check("t", "h", _snaps([1.5, 0.9, 0.8, 0.7]), ts_ns=T0)  # the newest day tips it

    assert [(e.strategy_id, e.previous, e.state) for e in events] == [("t", DecayState.OK, DecayState.WARNING)]
