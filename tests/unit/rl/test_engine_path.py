"""The adapter is one more decision source on the kernel, never a second path: its orders go through the
kernel's order manager and journal, its fills are booked by the symbol's trader (position, fill ledger,
risk book), and the bus carries them as it does any strategy's, with the venue's fills back as ExecFill."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.rl.kit import CASH, VENUE, rig
from thunes.domain.enums import OrderType
from thunes.domain.identifiers import Symbol
from thunes.domain.messages import OrderFilled, OrderSubmitted
from thunes.execution.ports import JournalState
from thunes.rl import (
    AdapterSettings,
    DecisionStatus,
    ExecEvent,
    ExecFill,
    Mode,
    PolicySettings,
    ReferencePriceCache,
    RLAdapter,
)

D = Decimal
BTC = Symbol("BTCUSDT")


def test_an_accepted_action_is_journaled_sent_once_and_booked_by_the_symbols_trader() -> None:
    r = rig()
    seen: list[object] = []
    r.kernel.bus.subscribe(OrderSubmitted, seen.append)
    r.kernel.bus.subscribe(OrderFilled, seen.append)
    fills: list[ExecFill] = []
    r.kernel.bus.subscribe(ExecFill, fills.append)

    outcome = r.act(r.action())

    decision = outcome.decision
    assert decision.status is DecisionStatus.ACCEPTED and decision.placed
    cid = decision.client_order_id
    entry = r.journal.get(cid)  # type: ignore[arg-type]
    assert entry is not None and entry.state is JournalState.DONE
    trader = r.kernel.portfolio.trader(BTC)
    # net of the fee taken in BTC: what the account holds, in every book
    net = sum((f.qty_base - (f.commission if f.commission_asset == "BTC" else 0) for f in outcome.fills), D(0))
    assert net > 0
    assert trader.position.quantity == net == r.core.balances("me")["BTC"].free
    assert r.kernel.risk.held(BTC) == net  # the one risk book agrees with the one position
    assert r.kernel.risk.open_symbols() == frozenset({BTC})
    assert [type(m) for m in seen] == [OrderSubmitted, OrderFilled]
    assert outcome.fills == tuple(fills) and outcome.fills[-1].event is ExecEvent.FILLED
    assert r.core.balances("me")["USDT"].free < CASH


def test_a_portfolio_without_a_policy_source_has_nothing_for_the_adapter_to_trade() -> None:
    r = rig()
    for trader in r.kernel.portfolio:
        trader.strategy = type("Other", (), {"strategy_id": trader.strategy.strategy_id})()  # type: ignore[assignment]

    with pytest.raises(ValueError, match="PolicySource"):
        RLAdapter.on_kernel(AdapterSettings(), r.kernel, r.journal, r.quotes, r.clock.now_ns)


def test_paper_mode_without_an_order_manager_is_refused_at_construction() -> None:
    r = rig()
    quotes = ReferencePriceCache(r.clock.now_ns)
    settings = AdapterSettings(mode=Mode.PAPER, venue=str(VENUE), policies={"p": PolicySettings()})
    instruments = {"BTCUSDT": r.kernel.portfolio.trader(BTC).instrument}

    with pytest.raises(ValueError, match="places orders"):
        RLAdapter(settings, risk=r.kernel.risk, instruments=instruments, quotes=quotes, clock_ns=r.clock.now_ns)


def test_a_resting_limit_is_reported_new_and_keeps_its_slot_until_it_ends() -> None:
    r = rig()

    outcome = r.act(r.action(order_type=OrderType.LIMIT, limit_price=D("59900.00")))  # below the ask: rests

    assert outcome.decision.status is DecisionStatus.ACCEPTED and outcome.decision.placed
    assert [(f.event, f.qty_base) for f in outcome.fills] == [(ExecEvent.NEW, D(0))]
    assert r.kernel.risk.open_symbols() == frozenset({BTC})  # the working entry holds its slot
    assert r.kernel.risk.held(BTC) == 0
    assert len(r.core.open_orders("me", "BTCUSDT")) == 1
