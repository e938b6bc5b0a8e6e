"""1,000 trade intents through the real engine path: Trader → RiskEngine → OrderManager → in-process
SimVenue, every step on a real InMemoryBus, audited to real files. Each risk decision must leave
exactly one record (TRADE_APPROVED or TRADE_REJECTED, with its reason), and the chain must verify."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.governance import CONTEXT
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.storage.audit_jsonl import AuditLog, read_records
from thunes.adapters.storage.audit_verify import verify
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.domain import StrategyId, VenueId
from thunes.domain.market import Bar, Timeframe
from thunes.domain.orders import Fill
from thunes.domain.venue import OrderReport
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import ManualClock
from thunes.engine.trader import Trader, TraderConfig
from thunes.execution.journal_memory import InMemoryJournal
from thunes.execution.order_manager import OrderManager
from thunes.features import OHLCV
from thunes.governance import AuditEvent, AuditRecord, AuditRecorder
from thunes.risk import RiskDecision, RiskEngine, RiskIntent, RiskLimits
from thunes.simvenue import SimVenue
from thunes.strategy.base import Signal, SignalArray, Strategy

D = Decimal
VENUE = VenueId("sim")
MINUTE = 60 * 1_000_000_000
START = 1_764_000_000 * 1_000_000_000  # 2025-11-24T16:00:00Z
INTENTS = 1_000


class _Scripted(Strategy):
    """Signals drawn from a seeded generator: enters and exits at random, like a noisy strategy."""

    name = "scripted"
    version = "1"

    def __init__(self, rng: random.Random, tick_size: Decimal) -> None:
        self._rng = rng
        super().__init__(StrategyId("scripted-audit"), tick_size)

    @property
    def parameters(self) -> Mapping[str, Any]:
        return {"seed": "fixed"}

    @property
    def warmup(self) -> int:
        return 0

    def on_bar(self, bar: Bar) -> Signal:
        return self._rng.choice((Signal.ENTER_LONG, Signal.EXIT_LONG))

    def signals(self, bars: OHLCV) -> SignalArray:
        return np.zeros(len(bars), dtype=np.int8)

    def reset(self) -> None:
        pass


class _CountingRisk(RiskEngine):
    """The real risk engine; keeps every decision so the test knows the truth independently."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decisions: list[RiskDecision] = []

    def check(self, intent: RiskIntent) -> RiskDecision:
        decision = super().check(intent)
        self.decisions.append(decision)
        return decision


class _Ledger:
    """The trader's fill ledger, in memory (the SQL one is tested in integration)."""

    def __init__(self) -> None:
        self.fills: dict[tuple[str, str], Fill] = {}

    def record_fill(self, fill: Fill) -> bool:
        key = (str(fill.symbol), fill.trade_id)
        if key in self.fills:
            return False
        self.fills[key] = fill
        return True

    def record_report(self, report: OrderReport) -> None:
        pass


Session = tuple[_CountingRisk, Trader, AuditRecorder, Path]


def _run(directory: Path) -> tuple[_CountingRisk, Trader, AuditRecorder]:
    rng = random.Random(20261123)
    info = builtin_exchange_info()
    btc = info.get("BTCUSDT")
    clock = ManualClock(START)
    core = SimVenue(info.instruments, clock.now_ns)
    core.deposit("me", "USDT", D(100_000))
    bus = InMemoryBus()
    risk = _CountingRisk(RiskLimits(cool_down_s=600), clock.now_ns)
    orders = OrderManager(InProcessVenue(core, "me", info), InMemoryJournal(), bus, clock.now_ns, VENUE)
    trader = Trader(_Scripted(rng, btc.tick_size), btc, risk, orders, _Ledger(), bus, TraderConfig(VENUE))
    log = AuditLog(directory)
    recorder = AuditRecorder(log, CONTEXT, risk.snapshot, clock.now_ns)
    recorder.attach(bus)
    price = D(50_000)

    async def session() -> None:
        nonlocal price
        minute = 0
        while len(risk.decisions) < INTENTS:
            minute += 1
            assert minute < 20 * INTENTS, "the script stopped producing intents"
            clock.set(START + minute * MINUTE)
            price = max(D(1000), price + D(rng.randint(-150, 150)))
            core.on_trade("BTCUSDT", price, D(1))
            core.on_quote("BTCUSDT", price - D("0.01"), D(5), price + D("0.01"), D(5))
            _operate(risk, rng)
            bar = Bar(btc.symbol, Timeframe.M1, clock.now_ns() - MINUTE, price, price, price, price, D(1))
            await trader.on_bar(bar)

    asyncio.run(session())
    log.close()
    return risk, trader, recorder


def _operate(risk: RiskEngine, rng: random.Random) -> None:
    """An operator who now and then pulls the kill-switch or halts trading, and later undoes it."""
    roll = rng.random()
    if roll < 0.01:
        risk.activate_kill_switch("operator", "manual pause")
    elif roll < 0.06 and risk.kill_switch.active:
        risk.deactivate("operator")
    elif roll < 0.065:
        risk.halt("operator", "maintenance")
    elif roll < 0.165:
        risk.resume("operator")


def _records(directory: Path) -> list[AuditRecord]:
    out = []
    for _, _, item in read_records(directory):
        assert isinstance(item, AuditRecord), item
        out.append(item)
    return out


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """One 1,000-intent session shared by the tests below (read-only: they only inspect it)."""
    directory = tmp_path_factory.mktemp("audit")
    risk, trader, recorder = _run(directory)
    return risk, trader, recorder, directory


def test_thousand_intents_when_traded_then_exactly_one_audit_record_per_risk_decision(session: Session) -> None:
    risk, _, _, directory = session
    records = _records(directory)

    approved = [d for d in risk.decisions if d.approved]
    denied = [d for d in risk.decisions if not d.approved]
    assert len(risk.decisions) == INTENTS
    assert len(approved) > 100 and len(denied) > 100  # a real mix, not one kind
    assert len({d.reason for d in denied}) >= 3  # several reasons (kill-switch, halt, cool-down...)
    approvals = Counter(r.client_order_id for r in records if r.event is AuditEvent.TRADE_APPROVED)
    rejections = {r.client_order_id: r for r in records if r.event is AuditEvent.TRADE_REJECTED}
    assert approvals == Counter(str(d.order.client_order_id) for d in approved)
    assert sum(1 for r in records if r.event is AuditEvent.TRADE_REJECTED) == len(denied)
    assert {cid: r.reason for cid, r in rejections.items()} == {
        str(d.order.client_order_id): d.reason_code for d in denied
    }


def test_thousand_intents_when_traded_then_orders_fills_positions_and_chain_agree(session: Session) -> None:
    risk, trader, recorder, directory = session
    records = _records(directory)
    kinds = Counter(r.event for r in records)

    result = verify(directory)
    assert (result.ok, result.records) == (True, len(records))
    assert recorder.records == len(records)
    assert kinds[AuditEvent.ORDER_SUBMITTED] == trader.stats.submitted
    assert kinds[AuditEvent.ORDER_FILLED] == trader.stats.filled
    assert kinds[AuditEvent.POSITION_OPENED] > 50
    assert kinds[AuditEvent.POSITION_OPENED] - kinds[AuditEvent.POSITION_CLOSED] in (0, 1)
    held = bool(risk.snapshot().positions)
    assert kinds[AuditEvent.POSITION_OPENED] - kinds[AuditEvent.POSITION_CLOSED] == int(held)


def test_thousand_intents_when_switches_flip_then_every_kill_switch_denial_follows_an_activation(
    session: Session,
) -> None:
    records = _records(session[3])

    switch_on = False
    seen_denials = 0
    for r in records:
        if r.event is AuditEvent.KILL_SWITCH_ACTIVATED:
            switch_on = True
        elif r.event is AuditEvent.KILL_SWITCH_DEACTIVATED:
            switch_on = False
        elif r.event is AuditEvent.TRADE_REJECTED and r.reason == "KILL_SWITCH":
            seen_denials += 1
            assert switch_on, f"denied for KILL_SWITCH at {r.ts_ns} while the trail says the switch was off"
            assert r.risk_snapshot["kill_switch"]["active"] is True
    assert seen_denials > 10
