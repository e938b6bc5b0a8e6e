"""Builders for the RL adapter's tests: a real kernel (risk engine, order manager, in-memory journal and
ledger) over the real matching core, two symbols owned by a policy, and a reference price cache fed
with the venue's own quotes. Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.domain.enums import OrderType, Side
from thunes.domain.identifiers import VenueId
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import ManualClock
from thunes.engine.kernel import Kernel, KernelSpec, build_kernel
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.execution.journal_memory import InMemoryJournal
from thunes.risk import FailureKind, RiskLimits
from thunes.risk.store import InMemoryRiskStore
from thunes.rl import (
    AdapterSettings,
    Decision,
    Mode,
    Outcome,
    PolicySettings,
    PolicySource,
    QtyMode,
    ReferencePriceCache,
    RLAction,
    RLAdapter,
)
from thunes.simvenue import SimVenue

D = Decimal
VENUE = VenueId("sim")
T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC
MS = 1_000_000
POLICY = "ppo-btc"
PRICES = {"BTCUSDT": D("60000.00"), "ETHUSDT": D("3000.00")}
ACCOUNT = "me"
CASH = D(10_000)


@dataclass
class Rig:
    """One account's engine with the adapter on it; ``decisions`` collects what the bus carried."""

    adapter: RLAdapter
    kernel: Kernel
    core: SimVenue
    clock: ManualClock
    quotes: ReferencePriceCache
    journal: InMemoryJournal
    published: list[Decision] = field(default_factory=list)

    def action(self, **overrides: Any) -> RLAction:
        """A MARKET BUY of 50 USDT of BTC, confident, made now; ``overrides`` change any field."""
        data: dict[str, Any] = {"ts_ns": self.clock.now_ns(), "policy_id": POLICY, "model_version": "v1",
                                "symbol": "BTCUSDT", "side": Side.BUY, "order_type": OrderType.MARKET,
                                "qty_mode": QtyMode.QUOTE, "qty_value": D(50), "confidence": 0.9}  # fmt: skip
        data.update(overrides)
        return RLAction(**data)

    def act(self, action: RLAction) -> Outcome:
        return asyncio.run(self.adapter.act(action))

    def requote(self, ts_ns: int | None = None) -> None:
        """Every symbol quoted again at its price (now, or at ``ts_ns``)."""
        for symbol, price in PRICES.items():
            self.quotes.on_book_ticker(symbol, price, price, ts_ns)

    def advance_ms(self, ms: int, *, requote: bool = True) -> None:
        self.clock.advance(ms * MS)
        if requote:
            self.requote()

    def venue_orders(self) -> int:
        return sum(len(self.core.all_orders(ACCOUNT, s)) for s in PRICES)

    def open_breaker(self) -> None:
        breaker = self.kernel.risk.breaker(VENUE)
        for _ in range(breaker.config.failure_threshold):
            breaker.record_failure(FailureKind.SERVER_ERROR)


def rig(mode: Mode = Mode.PAPER, *, limits: RiskLimits | None = None, cash: Decimal = CASH,
        policies: dict[str, PolicySettings] | None = None, equity: Decimal | None = None,
        settings: dict[str, Any] | None = None) -> Rig:  # fmt: skip
    info = builtin_exchange_info()
    clock = ManualClock(T0)
    core = SimVenue(info.instruments, clock.now_ns, user_stream=False)
    core.deposit(ACCOUNT, "USDT", cash)
    for symbol, price in PRICES.items():
        core.on_quote(symbol, price, D(1000), price, D(1000))
        core.on_trade(symbol, price, D(1))
    pairs = [(PolicySource(POLICY), info.get(s)) for s in PRICES]
    limits = limits or RiskLimits(max_order_notional=D(100), max_daily_loss=D(20), max_open_positions=2)
    journal = InMemoryJournal()
    kernel = build_kernel(KernelSpec(VENUE, limits, D("0.001")), clock.now_ns, InProcessVenue(core, ACCOUNT, info),
                          pairs, risk_store=InMemoryRiskStore(), journal=journal, ledger=InMemoryLedger())  # fmt: skip
    quotes = ReferencePriceCache(clock.now_ns, max_age_ms=2000)
    chosen = AdapterSettings(mode=mode, venue=str(VENUE),
                             policies=policies if policies is not None else {POLICY: PolicySettings()},
                             **(settings or {}))  # fmt: skip
    adapter = RLAdapter.on_kernel(chosen, kernel, journal, quotes, clock.now_ns, equity=lambda: equity)
    out = Rig(adapter, kernel, core, clock, quotes, journal)
    bus: InMemoryBus = kernel.bus
    bus.subscribe(Decision, out.published.append)
    out.requote()
    return out
