"""The nine gates, one by one and in order: each refuses exactly what it should and lets the rest
through, and when several would refuse, the first in the roadmap's order is the one reported."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.rl.kit import MS, POLICY, Rig, rig
from thunes.domain.enums import OrderType, Side
from thunes.risk import RiskLimits
from thunes.rl import DecisionStatus, Gate, Mode, PolicySettings, QtyMode

D = Decimal
ACCEPTED, REJECTED = DecisionStatus.ACCEPTED, DecisionStatus.REJECTED


def _accepted(r: Rig, **overrides: Any) -> None:
    outcome = r.act(r.action(**overrides))
    assert outcome.decision.status is ACCEPTED, outcome.decision


# --- gate 1: policy whitelist ------------------------------------------------------------------------
def test_policy_when_not_whitelisted_then_rejected_at_gate_1_and_no_order() -> None:
    r = rig()

    decision = r.act(r.action(policy_id="rogue-policy")).decision

    assert (decision.status, decision.gate, decision.reason) == (REJECTED, Gate.POLICY, "UNKNOWN_POLICY")
    assert r.venue_orders() == 0


def test_policy_when_versions_are_listed_then_only_those_versions_pass() -> None:
    r = rig(policies={POLICY: PolicySettings(model_versions=("v2",))})

    old = r.act(r.action(model_version="v1")).decision
    listed = r.act(r.action(model_version="v2")).decision

    assert (old.gate, old.reason) == (Gate.POLICY, "UNKNOWN_MODEL_VERSION")
    assert listed.status is ACCEPTED


# --- gate 2: TTL -------------------------------------------------------------------------------------
def test_ttl_when_older_than_its_ttl_then_rejected_and_exactly_ttl_old_passes() -> None:
    r = rig()
    now = r.clock.now_ns()

    stale = r.act(r.action(ts_ns=now - 1500 * MS - 1, ttl_ms=1500)).decision
    edge = r.act(r.action(ts_ns=now - 1500 * MS, ttl_ms=1500)).decision

    assert (stale.gate, stale.reason) == (Gate.TTL, "TTL_EXPIRED")
    assert edge.status is ACCEPTED


def test_ttl_when_dated_beyond_its_ttl_in_the_future_then_rejected() -> None:
    r = rig()

    decision = r.act(r.action(ts_ns=r.clock.now_ns() + 1501 * MS, ttl_ms=1500)).decision

    assert (decision.gate, decision.reason) == (Gate.TTL, "FUTURE_TIMESTAMP")


# --- gate 3: confidence ------------------------------------------------------------------------------
def test_confidence_below_the_policy_floor_is_rejected_and_at_the_floor_passes() -> None:
    r = rig(policies={POLICY: PolicySettings(min_confidence=0.6)})

    low = r.act(r.action(confidence=0.59)).decision
    floor = r.act(r.action(confidence=0.6)).decision

    assert (low.gate, low.reason) == (Gate.CONFIDENCE, "LOW_CONFIDENCE")
    assert floor.status is ACCEPTED


# --- gate 4: kill-switch -----------------------------------------------------------------------------
def test_kill_switch_on_then_buy_rejected_reducing_sell_accepted_and_oversized_sell_rejected() -> None:
    r = rig()
    _accepted(r)
    held = r.kernel.risk.held(r.action().symbol)
    r.kernel.risk.activate_kill_switch("test", "operator drill")

    buy = r.act(r.action(qty_value=D(20))).decision
    oversized = r.act(r.action(side=Side.SELL, qty_mode=QtyMode.BASE, qty_value=held * 2)).decision
    reducing = r.act(r.action(side=Side.SELL, qty_mode=QtyMode.BASE, qty_value=held)).decision

    assert (buy.gate, buy.reason) == (Gate.KILL_SWITCH, "KILL_SWITCH")
    assert (oversized.gate, oversized.reason) == (Gate.KILL_SWITCH, "KILL_SWITCH")
    assert reducing.status is ACCEPTED and reducing.placed
    assert r.kernel.risk.held(r.action().symbol) < held


def test_halted_then_even_a_reducing_sell_is_rejected_at_gate_4() -> None:
    r = rig()
    _accepted(r)
    r.kernel.risk.halt("test", "emergency stop")

    sell = r.act(r.action(side=Side.SELL, qty_mode=QtyMode.BASE, qty_value=r.kernel.risk.held(r.action().symbol)))

    assert (sell.decision.gate, sell.decision.reason) == (Gate.KILL_SWITCH, "TRADING_HALTED")


# --- gate 5: circuit breaker -------------------------------------------------------------------------
def test_breaker_open_then_every_action_rejected_and_after_its_open_time_one_probe_passes() -> None:
    r = rig()
    r.open_breaker()

    while_open = r.act(r.action()).decision
    r.advance_ms(61_000)
    probe = r.act(r.action()).decision

    assert (while_open.gate, while_open.reason) == (Gate.CIRCUIT_BREAKER, "CIRCUIT_OPEN")
    assert probe.status is ACCEPTED and probe.placed
    assert r.venue_orders() == 1


# --- gate 6: reference price and price band ----------------------------------------------------------
def test_band_limit_beyond_the_side_band_rejected_and_on_its_edge_passes() -> None:
    r = rig(settings={"bands": {"bid_up_bps": D(100), "bid_down_bps": D(50)}})
    mid = D("60000.00")

    above = r.act(r.action(order_type=OrderType.LIMIT, limit_price=mid * D("1.0101"))).decision
    edge_up = r.act(r.action(order_type=OrderType.LIMIT, limit_price=mid * D("1.01"), qty_value=D(20))).decision
    below = r.act(r.action(order_type=OrderType.LIMIT, limit_price=mid * D("0.9949"), qty_value=D(21))).decision

    assert (above.gate, above.reason) == (Gate.PRICE_BAND, "PRICE_BAND")
    assert edge_up.status is ACCEPTED
    assert (below.gate, below.reason) == (Gate.PRICE_BAND, "PRICE_BAND")  # 51 bps below: the down band is 50


def test_band_an_actions_own_band_only_narrows_the_adapters() -> None:
    r = rig()
    limit = D("60000.00") * D("1.003")  # 30 bps above the mid, inside the adapter's 100

    narrow = r.act(r.action(order_type=OrderType.LIMIT, limit_price=limit, constraints={"price_band_bps": 20}))
    wide = r.act(r.action(order_type=OrderType.LIMIT, limit_price=D("60000.00") * D("1.02"),
                          constraints={"price_band_bps": 500}))  # fmt: skip

    assert (narrow.decision.gate, narrow.decision.reason) == (Gate.PRICE_BAND, "PRICE_BAND")
    assert (wide.decision.gate, wide.decision.reason) == (Gate.PRICE_BAND, "PRICE_BAND")


def test_reference_stale_then_stale_reference_and_a_fresh_quote_passes() -> None:
    r = rig()
    r.advance_ms(2001, requote=False)

    stale = r.act(r.action()).decision
    r.requote()
    fresh = r.act(r.action()).decision

    assert (stale.gate, stale.reason) == (Gate.PRICE_BAND, "STALE_REFERENCE")
    assert fresh.status is ACCEPTED and fresh.reference_age_ms == 0


def test_reference_market_orders_are_checked_against_the_live_side_price() -> None:
    r = rig()
    r.quotes.on_book_ticker("BTCUSDT", D("59990.00"), D("60010.00"))

    buy = r.act(r.action()).decision

    assert buy.reference_price == D("60010.00")  # the ask a MARKET BUY lifts, not a bar close
    assert buy.normalized_order is not None and buy.normalized_order.notional == buy.normalized_order.quantity * D(
        "60010.00"
    )


# --- gate 7: exchange filters after sizing -----------------------------------------------------------
def test_filters_quantity_below_the_step_rejected_with_the_filter_named() -> None:
    r = rig()

    tiny = r.act(r.action(qty_mode=QtyMode.BASE, qty_value=D("0.000001"))).decision
    small = r.act(r.action(qty_value=D(3))).decision

    assert (tiny.gate, tiny.reason) == (Gate.FILTERS, "FILTERS_LOT_SIZE")
    assert (small.gate, small.reason) == (Gate.FILTERS, "FILTERS_NOTIONAL")
    assert r.venue_orders() == 0


def test_filters_the_normaliser_rounds_so_the_venue_never_has_to() -> None:
    r = rig()

    decision = r.act(r.action(order_type=OrderType.LIMIT, limit_price=D("60010.019"), qty_mode=QtyMode.BASE,
                              qty_value=D("0.000839"))).decision  # fmt: skip

    assert decision.status is ACCEPTED
    order = decision.normalized_order
    assert order is not None and (order.price, order.quantity) == (D("60010.01"), D("0.00083"))  # BUY: tick down


def test_filters_risk_sizing_needs_the_equity_and_uses_the_stop_distance() -> None:
    unknown = rig()
    known = rig(equity=D(1000))

    no_equity = unknown.act(unknown.action(qty_mode=QtyMode.RISK, qty_value=D("0.001"))).decision
    sized = known.act(known.action(qty_mode=QtyMode.RISK, qty_value=D("0.001"))).decision

    assert (no_equity.gate, no_equity.reason) == (Gate.FILTERS, "SIZING_NO_EQUITY")
    assert sized.status is ACCEPTED and sized.normalized_order is not None
    # 1000 x 0.001 / (0.02 x 60000) = 0.000833.. base, floored to the 0.00001 step
    assert sized.normalized_order.quantity == D("0.00083")


# --- gate 8: risk ------------------------------------------------------------------------------------
def test_risk_order_notional_and_position_limits_are_the_risk_engines() -> None:
    r = rig(limits=RiskLimits(max_order_notional=D(100), max_open_positions=1))

    big = r.act(r.action(qty_value=D(150))).decision
    _accepted(r)
    second_symbol = r.act(r.action(symbol="ETHUSDT")).decision
    same_symbol = r.act(r.action(qty_value=D(40))).decision

    assert (big.gate, big.reason) == (Gate.RISK, "ORDER_NOTIONAL")
    assert (second_symbol.gate, second_symbol.reason) == (Gate.RISK, "POSITION_LIMIT")
    assert (same_symbol.gate, same_symbol.reason) == (Gate.RISK, "DUPLICATE_POSITION")


def test_risk_cool_down_after_a_losing_close_blocks_entries_not_exits() -> None:
    r = rig()
    _accepted(r)
    held = r.kernel.risk.held(r.action().symbol)
    _accepted(r, side=Side.SELL, qty_mode=QtyMode.BASE, qty_value=held)  # fees and slippage: a losing trip

    again = r.act(r.action(qty_value=D(30))).decision

    assert (again.gate, again.reason) == (Gate.RISK, "COOL_DOWN")


# --- gate 9: idempotent submission -------------------------------------------------------------------
def test_submission_a_replayed_action_is_never_a_second_order() -> None:
    r = rig()
    action = r.action()

    first = r.act(action).decision
    replays = [r.act(action).decision for _ in range(5)]

    assert first.status is ACCEPTED and first.placed
    assert {(d.status, d.gate, d.reason) for d in replays} == {(DecisionStatus.NOOP, Gate.SUBMISSION,
                                                                "DUPLICATE_ACTION")}  # fmt: skip
    assert {d.client_order_id for d in replays} == {first.client_order_id}
    assert r.venue_orders() == 1


def test_submission_a_venue_rejection_is_reported_at_gate_9_and_frees_the_slot() -> None:
    r = rig(cash=D(10))  # the venue refuses a 50 USDT BUY: insufficient balance

    refused = r.act(r.action()).decision

    assert refused.status is REJECTED and refused.gate is Gate.SUBMISSION and refused.reason is not None
    assert refused.reason.startswith("VENUE_")
    assert r.kernel.risk.open_symbols() == frozenset()  # the reservation was released


def test_shadow_mode_accepts_without_placing_and_holds_no_slot() -> None:
    r = rig(Mode.SHADOW)

    decision = r.act(r.action()).decision
    replay = r.act(r.action()).decision

    assert decision.status is ACCEPTED and not decision.placed and decision.mode is Mode.SHADOW
    assert replay.status is DecisionStatus.NOOP
    assert r.venue_orders() == 0 and r.kernel.risk.open_symbols() == frozenset()


# --- the order: the first failing gate is the one reported ---------------------------------------------
def _break_risk(r: Rig) -> dict[str, Any]:
    _accepted(r, symbol="ETHUSDT")  # with one position slot, ETH holds it: a BTC entry meets POSITION_LIMIT
    return {}


def _break_filters(r: Rig) -> dict[str, Any]:
    return {"qty_mode": QtyMode.BASE, "qty_value": D("0.000001")}


def _break_reference(r: Rig) -> dict[str, Any]:
    r.advance_ms(2500, requote=False)
    return {"ts_ns": r.clock.now_ns()}


def _break_breaker(r: Rig) -> dict[str, Any]:
    r.open_breaker()
    return {}


def _break_kill_switch(r: Rig) -> dict[str, Any]:
    r.kernel.risk.activate_kill_switch("test", "drill")
    return {}


BREAKERS: list[tuple[Gate, Callable[[Rig], dict[str, Any]]]] = [
    (Gate.POLICY, lambda r: {"policy_id": "rogue"}),
    (Gate.TTL, lambda r: {"ts_ns": r.clock.now_ns() - 10_000 * MS}),
    (Gate.CONFIDENCE, lambda r: {"confidence": 0.1}),
    (Gate.KILL_SWITCH, _break_kill_switch),
    (Gate.CIRCUIT_BREAKER, _break_breaker),
    (Gate.PRICE_BAND, _break_reference),
    (Gate.FILTERS, _break_filters),
    (Gate.RISK, _break_risk),
]


@pytest.mark.parametrize("first", range(len(BREAKERS)), ids=[g.value for g, _ in BREAKERS])
def test_order_when_this_gate_and_every_later_one_would_refuse_then_this_gate_is_reported(first: int) -> None:
    r = rig(limits=RiskLimits(max_order_notional=D(100), max_open_positions=1))
    overrides: dict[str, Any] = {}
    for _, breaker in reversed(BREAKERS[first:]):  # the last gate's first (the risk breaker trades)
        overrides = {**overrides, **breaker(r)}  # an earlier gate's field wins (TTL's ts_ns over the quote's)
    if "ts_ns" not in overrides:
        overrides["ts_ns"] = r.clock.now_ns()

    decision = r.act(r.action(**overrides)).decision

    assert decision.status is REJECTED
    assert decision.gate is BREAKERS[first][0]
    assert decision.gate.number == first + 1
