"""Would-be fills on the shadow account (:mod:`thunes.rl.outcomes`): an accepted shadow decision fills on
the shadow account's matching core at its symbol's next book, the trader books it, and the account then
behaves as if it had been placed (a SELL of it passes gate 8; a second BUY meanwhile does not). Real
kernel and matching core (tests/unit/rl/kit.py), nothing mocked."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.unit.rl.kit import PRICES, Rig, rig
from thunes.domain.enums import OrderType, Side
from thunes.domain.identifiers import Symbol
from thunes.rl import DecisionStatus, Gate, Mode, QtyMode
from thunes.rl.outcomes import WouldBeFill, WouldBeFills, slippage_bps

D = Decimal
BTC = Symbol("BTCUSDT")


def _shadow() -> tuple[Rig, WouldBeFills, list[WouldBeFill]]:
    got: list[WouldBeFill] = []
    shadow = rig(Mode.SHADOW, settings={"shadow_fills": True})
    fills = WouldBeFills(shadow.kernel, shadow.clock.now_ns, got.append)
    fills.attach(shadow.kernel.bus)
    return shadow, fills, got


def _book(shadow: Rig, fills: WouldBeFills, bid: Decimal, ask: Decimal) -> list[WouldBeFill]:
    shadow.core.on_quote("BTCUSDT", bid, D(1000), ask, D(1000))
    shadow.quotes.on_book_ticker("BTCUSDT", bid, ask)
    return asyncio.run(fills.on_book("BTCUSDT"))


def test_slippage_when_buy_pays_more_or_sell_gets_less_then_positive() -> None:
    assert slippage_bps(Side.BUY, D(101), D(100)) == D(100)
    assert slippage_bps(Side.SELL, D(99), D(100)) == D(100)
    assert slippage_bps(Side.SELL, D(101), D(100)) == D(-100)


def test_accepted_when_the_next_book_comes_then_filled_there_with_its_slippage() -> None:
    shadow, fills, got = _shadow()
    decision = shadow.adapter.decide(shadow.action())
    assert decision.status is DecisionStatus.ACCEPTED
    assert fills.waiting == 1 and shadow.kernel.risk.held(BTC) == 0  # nothing fills before the next book

    out = _book(shadow, fills, D("60059.00"), D("60060.00"))

    assert [f.status for f in out] == ["FILLED"] and got == out
    fill = out[0]
    assert fill.reference_price == PRICES["BTCUSDT"]
    assert fill.fill_price is not None and fill.fill_price >= D("60060.00")  # the ask, and the core's impact
    assert fill.slippage_bps == (fill.fill_price / PRICES["BTCUSDT"] - 1) * 10_000
    assert fill.slippage_bps >= 10  # at least the 60 USDT the ask moved above the reference
    assert shadow.kernel.risk.held(BTC) > 0 and fills.waiting == 0
    assert fill.record()["record"] == "fill" and fill.record()["fill_price"] == str(fill.fill_price)


def test_held_when_filled_then_a_sell_of_it_passes_the_risk_gate() -> None:
    shadow, fills, _ = _shadow()
    refused = shadow.adapter.decide(shadow.action(side=Side.SELL, qty_mode=QtyMode.BASE, qty_value=D("0.0005")))
    assert (refused.gate, refused.reason) == (Gate.RISK, "INSUFFICIENT_BALANCE")
    shadow.adapter.decide(shadow.action())
    _book(shadow, fills, PRICES["BTCUSDT"], PRICES["BTCUSDT"])
    held = shadow.kernel.risk.held(BTC)

    sold = shadow.adapter.decide(shadow.action(side=Side.SELL, qty_mode=QtyMode.BASE, qty_value=held))
    assert sold.status is DecisionStatus.ACCEPTED
    out = _book(shadow, fills, PRICES["BTCUSDT"], PRICES["BTCUSDT"])
    assert [f.status for f in out] == ["FILLED"] and shadow.kernel.risk.held(BTC) == 0


def test_buy_in_flight_when_another_buy_comes_then_its_slot_counts() -> None:
    shadow, fills, _ = _shadow()
    assert shadow.adapter.decide(shadow.action()).status is DecisionStatus.ACCEPTED
    second = shadow.adapter.decide(shadow.action(qty_value=D(60)))  # another action on the same symbol
    assert second.status is DecisionStatus.REJECTED and second.gate is Gate.RISK
    assert fills.waiting == 1


def test_limit_when_the_next_book_does_not_reach_it_then_unfilled_and_its_slot_freed() -> None:
    shadow, fills, _ = _shadow()
    limit = shadow.action(order_type=OrderType.LIMIT, limit_price=D("59900.00"))
    assert shadow.adapter.decide(limit).status is DecisionStatus.ACCEPTED
    out = _book(shadow, fills, D("59990.00"), D("60000.00"))
    assert [f.status for f in out] == ["UNFILLED"] and out[0].fill_price is None
    assert shadow.kernel.risk.held(BTC) == 0
    assert shadow.adapter.decide(shadow.action(qty_value=D(60))).status is DecisionStatus.ACCEPTED
