"""The risk engine as a whole: rules in order, reservations, kill-switch, halt, fills and losses."""

from __future__ import annotations

from decimal import Decimal

import pytest

from thunes.domain import ClientOrderId, DenialReason, OrderDenied, Position, Symbol
from thunes.risk import AUTOMATIC_ACTORS, FailureKind, InMemoryRiskStore, RiskLimits, TradingState

from . import (
    VENUE,
    btc_instrument,
    buy,
    close_position,
    fill,
    intent,
    make_engine,
    open_position,
    sell,
    symbol_name,
)


def test_check_when_within_limits_then_approved_and_slot_reserved() -> None:
    engine, _, store = make_engine()

    decision = engine.check(intent(buy()))

    assert decision.approved
    assert decision.reason is None and decision.reason_code is None
    assert engine.open_symbols() == {Symbol("BTCUSDT")}
    snapshot = store.load()
    assert snapshot is not None and [r.client_order_id for r in snapshot.reservations] == ["b1"]


def test_check_when_kill_switch_on_then_buy_denied_and_sell_allowed() -> None:
    engine, _, _ = make_engine()
    open_position(engine, "BTCUSDT", "b1")
    engine.activate_kill_switch(by="alice", reason="manual test")

    denied = engine.check(intent(buy("ETHUSDT", "b2")))
    allowed = engine.check(intent(sell("BTCUSDT", "s1")))

    assert engine.trading_state is TradingState.REDUCING
    assert denied.reason is DenialReason.KILL_SWITCH
    assert allowed.approved


def test_check_when_kill_switch_on_then_sell_larger_than_held_denied() -> None:
    engine, _, _ = make_engine()
    open_position(engine, "BTCUSDT", "b1")
    engine.activate_kill_switch(by="alice", reason="manual test")

    decision = engine.check(intent(sell("BTCUSDT", "s1", quantity="0.0003")))

    assert decision.reason is DenialReason.KILL_SWITCH


def test_check_when_halted_then_even_exits_denied_and_resume_restores_previous_state() -> None:
    engine, _, _ = make_engine()
    open_position(engine, "BTCUSDT", "b1")
    engine.activate_kill_switch(by="alice", reason="first")
    engine.halt(by="bob", reason="exchange incident")

    exit_decision = engine.check(intent(sell()))
    engine.resume(by="bob")

    assert exit_decision.reason is DenialReason.TRADING_HALTED
    assert engine.trading_state is TradingState.REDUCING
    assert engine.check(intent(sell("BTCUSDT", "s2"))).approved


def test_check_when_sell_without_position_then_insufficient_balance() -> None:
    engine, _, _ = make_engine()

    decision = engine.check(intent(sell()))

    assert decision.reason is DenialReason.INSUFFICIENT_BALANCE


def test_check_when_order_too_large_then_order_notional_and_nothing_reserved() -> None:
    engine, _, _ = make_engine()

    decision = engine.check(intent(buy(quantity="0.001")))  # 50 USDT > 15

    assert decision.reason is DenialReason.ORDER_NOTIONAL
    assert engine.open_symbols() == frozenset()


def test_check_when_market_buy_without_reference_price_then_denied() -> None:
    engine, _, _ = make_engine()

    decision = engine.check(intent(buy(price=None), reference_price=None))

    assert decision.reason is DenialReason.ORDER_NOTIONAL
    assert "reference price" in decision.detail


def test_check_when_symbol_reserved_then_duplicate_position() -> None:
    engine, _, _ = make_engine()
    engine.check(intent(buy("BTCUSDT", "b1")))

    decision = engine.check(intent(buy("BTCUSDT", "b2")))

    assert decision.reason is DenialReason.DUPLICATE_POSITION


def test_check_when_slots_full_then_position_limit_until_an_order_closes() -> None:
    engine, _, _ = make_engine()
    for i in range(3):
        assert engine.check(intent(buy(symbol_name(i), f"b{i}"))).approved

    denied = engine.check(intent(buy(symbol_name(3), "b3")))
    engine.on_order_closed(ClientOrderId("b0"))  # canceled without fill: slot freed
    approved = engine.check(intent(buy(symbol_name(4), "b4")))

    assert denied.reason is DenialReason.POSITION_LIMIT
    assert approved.approved


def test_on_fill_when_buy_completes_then_position_holds_slot_after_reservation_released() -> None:
    engine, _, _ = make_engine(RiskLimits(max_open_positions=1))
    request = buy()
    engine.check(intent(request))

    engine.on_fill(fill(request, "50000"), order_complete=True)

    assert engine.snapshot().reservations == ()
    assert engine.check(intent(buy("ETHUSDT", "b2"))).reason is DenialReason.POSITION_LIMIT


def test_check_when_instrument_given_then_order_normalised_and_filters_checked() -> None:
    engine, _, _ = make_engine()
    instrument = btc_instrument()

    decision = engine.check(intent(buy(quantity="0.000234", price="50000.019"), instrument=instrument))
    too_small = engine.check(intent(buy("BTCUSDT", "b2", quantity="0.00005"), instrument=instrument))

    assert decision.approved
    assert decision.order.quantity == Decimal("0.00023")
    assert decision.order.price == Decimal("50000.01")
    assert too_small.reason is DenialReason.FILTERS
    assert too_small.reason_code == "FILTERS_NOTIONAL"


def test_check_when_entry_would_leave_dust_then_exit_infeasible() -> None:
    engine, _, _ = make_engine()
    # 0.0001 BTC at 50,000 = 5 USDT: passes NOTIONAL, but after the fee and a 5 % dip the exit is < 5.
    decision = engine.check(intent(buy(quantity="0.0001"), instrument=btc_instrument()))

    assert decision.reason is DenialReason.EXIT_INFEASIBLE


def test_denied_event_carries_reason_and_detail() -> None:
    engine, _, _ = make_engine()

    decision = engine.check(intent(buy(quantity="0.001")))
    event = decision.denied_event()

    assert isinstance(event, OrderDenied)
    assert (event.reason, event.client_order_id, event.venue) == (DenialReason.ORDER_NOTIONAL, "b1", VENUE)
    assert "limit 15" in event.detail


def test_on_fill_when_close_breaches_daily_loss_then_kill_switch_on_before_return() -> None:
    engine, _, store = make_engine(RiskLimits(max_daily_loss=Decimal(2)))
    open_position(engine, "BTCUSDT", "b1", price="50000")

    effect = engine.on_fill(fill(sell(), "39000"), order_complete=True)  # 7.8 - 10 = -2.2

    assert effect.closed and effect.realized_pnl == Decimal("-2.2000")
    assert engine.kill_switch.active and engine.kill_switch.by == "risk-engine"
    snapshot = store.load()
    assert snapshot is not None and snapshot.kill_switch.active


def test_check_when_daily_loss_reached_and_kill_switch_cleared_then_buys_still_denied() -> None:
    engine, _, _ = make_engine(RiskLimits(max_daily_loss=Decimal(2), cool_down_s=0))
    open_position(engine, "BTCUSDT", "b1", price="50000")
    close_position(engine, "BTCUSDT", "s1", price="39000")
    engine.deactivate(by="alice")

    decision = engine.check(intent(buy("ETHUSDT", "b2")))

    assert decision.reason is DenialReason.DAILY_LOSS


def test_check_when_daily_loss_breached_then_sell_of_held_position_allowed() -> None:
    engine, _, _ = make_engine(RiskLimits(max_daily_loss=Decimal(2)))
    open_position(engine, "BTCUSDT", "b1", price="50000")
    open_position(engine, "ETHUSDT", "b2", price="50000")
    close_position(engine, "BTCUSDT", "s1", price="39000")

    decision = engine.check(intent(sell("ETHUSDT", "s2")))

    assert decision.approved


def test_check_when_losing_close_then_cool_down_and_winning_close_clears_it() -> None:
    engine, clock, _ = make_engine(RiskLimits(max_daily_loss=Decimal(100)))
    open_position(engine, "BTCUSDT", "b1")
    open_position(engine, "ETHUSDT", "b2")
    close_position(engine, "BTCUSDT", "s1", price="49000")  # loss

    cooling = engine.check(intent(buy("XRPUSDT", "b3")))
    clock.advance(30 * 60)
    close_position(engine, "ETHUSDT", "s2", price="51000")  # win
    cleared = engine.check(intent(buy("XRPUSDT", "b4")))

    assert cooling.reason is DenialReason.COOL_DOWN
    assert cleared.approved


def test_check_when_cool_down_elapses_then_entries_resume() -> None:
    engine, clock, _ = make_engine()
    open_position(engine, "BTCUSDT", "b1")
    close_position(engine, "BTCUSDT", "s1", price="49000")

    clock.advance(59 * 60)
    still = engine.check(intent(buy("ETHUSDT", "b2")))
    clock.advance(60)
    resumed = engine.check(intent(buy("ETHUSDT", "b3")))

    assert still.reason is DenialReason.COOL_DOWN
    assert resumed.approved


def test_on_fill_when_sell_leaves_dust_then_position_closed() -> None:
    engine, _, _ = make_engine()
    open_position(engine, "BTCUSDT", "b1", quantity="0.0002")

    effect = engine.on_fill(fill(sell(quantity="0.00019"), "50000"))  # 0.00001 left = 0.5 USDT

    assert effect.closed
    assert engine.open_symbols() == frozenset()


def test_on_fill_when_partial_sell_then_position_stays_open() -> None:
    engine, _, _ = make_engine()
    open_position(engine, "BTCUSDT", "b1", quantity="0.0003")

    effect = engine.on_fill(fill(sell(quantity="0.0001"), "50000"))

    assert not effect.closed
    assert engine.open_symbols() == {Symbol("BTCUSDT")}


def test_on_fill_when_base_fee_then_position_booked_net_of_fee() -> None:
    engine, _, _ = make_engine()
    request = buy(quantity="0.0002")
    engine.check(intent(request, instrument=btc_instrument()))

    engine.on_fill(fill(request, "50000", commission="0.0000002", commission_asset="BTC"), order_complete=True)

    (position,) = engine.snapshot().positions
    assert position.quantity == Decimal("0.0001998")


def test_on_fill_when_third_asset_fee_without_value_then_error_and_nothing_booked() -> None:
    engine, _, _ = make_engine()
    request = buy()
    engine.check(intent(request))

    with pytest.raises(ValueError, match="fee_value_quote"):
        engine.on_fill(fill(request, "50000", commission="0.0001", commission_asset="BNB"))

    assert engine.snapshot().positions == ()


def test_on_fill_when_sell_of_unknown_position_then_drift_turns_kill_switch_on() -> None:
    engine, _, _ = make_engine()

    effect = engine.on_fill(fill(sell(), "50000"))

    assert effect.untracked
    assert engine.trading_state is TradingState.REDUCING
    assert "drift" in engine.kill_switch.reason


def test_deactivate_when_actor_empty_or_automatic_then_refused() -> None:
    engine, _, _ = make_engine()
    engine.activate_kill_switch(by="alice", reason="test")

    with pytest.raises(ValueError, match="person"):
        engine.deactivate(by="  ")
    for actor in AUTOMATIC_ACTORS:
        with pytest.raises(ValueError, match="automatic"):
            engine.deactivate(by=actor)

    assert engine.kill_switch.active
    assert engine.deactivate(by="alice")
    assert engine.trading_state is TradingState.ACTIVE
    assert engine.kill_switch.by == "alice"


def test_activate_when_already_on_then_first_cause_kept() -> None:
    engine, _, _ = make_engine()

    first = engine.activate_kill_switch(by="alice", reason="first")
    second = engine.on_reconciliation_drift("BTC off by 0.1")

    assert (first, second) == (True, False)
    assert engine.kill_switch.reason == "first"


def test_on_reconciliation_drift_and_model_drift_turn_kill_switch_on() -> None:
    engine, _, _ = make_engine()
    engine.on_reconciliation_drift("BTC balance off by 0.1")
    assert engine.kill_switch.by == "reconciliation"
    engine.deactivate(by="alice")

    engine.on_model_drift("PSI 0.4")

    assert engine.kill_switch.by == "model-drift"


def test_check_when_breaker_open_then_circuit_open_for_entries_and_exits() -> None:
    engine, clock, _ = make_engine()
    open_position(engine, "BTCUSDT", "b1")
    breaker = engine.breaker(VENUE)
    for _ in range(5):
        breaker.record_failure(FailureKind.SERVER_ERROR)

    entry = engine.check(intent(buy("ETHUSDT", "b2")))
    exit_ = engine.check(intent(sell()))
    clock.advance(60)
    probe = engine.check(intent(sell("BTCUSDT", "s2")))

    assert entry.reason is DenialReason.CIRCUIT_OPEN and exit_.reason is DenialReason.CIRCUIT_OPEN
    assert "retry in 60 s" in exit_.detail
    assert probe.approved  # the half-open probe


def test_percent_of_equity_limits_tighten_when_equity_known() -> None:
    limits = RiskLimits(max_order_notional_equity_fraction=Decimal("0.05"))
    engine, _, _ = make_engine(limits)

    before = engine.check(intent(buy("BTCUSDT", "b1")))  # 10 USDT, equity unknown: absolute 15
    engine.update_equity(Decimal(100))  # 5 % of 100 = 5 USDT
    after = engine.check(intent(buy("ETHUSDT", "b2")))

    assert before.approved
    assert after.reason is DenialReason.ORDER_NOTIONAL


def test_sync_position_adopts_venue_view() -> None:
    engine, _, _ = make_engine()

    engine.sync_position(Position(Symbol("BTCUSDT"), "BTC", "USDT", Decimal("0.001"), Decimal(50)))
    exit_ok = engine.check(intent(sell(quantity="0.001")))
    engine.sync_position(Position(Symbol("BTCUSDT"), "BTC", "USDT"))

    assert exit_ok.approved
    assert engine.open_symbols() == frozenset()


def test_every_state_change_is_saved_before_return_and_denials_save_nothing() -> None:
    store = InMemoryRiskStore()
    engine, _, _ = make_engine(store=store)
    saves = store.saves

    engine.check(intent(buy()))
    after_reserve = store.saves
    engine.check(intent(buy("BTCUSDT", "b2")))  # denied: no change, no save
    after_denial = store.saves
    engine.activate_kill_switch(by="alice", reason="x")

    assert (after_reserve, after_denial, store.saves) == (saves + 1, saves + 1, saves + 2)
    stored = store.load()
    assert stored is not None
    current = engine.snapshot()
    assert (stored.kill_switch, stored.reservations) == (current.kill_switch, current.reservations)


def test_held_when_a_position_opens_and_closes_then_follows_the_ledger() -> None:
    engine, _, _ = make_engine()
    assert engine.held(Symbol("BTCUSDT")) == 0

    open_position(engine, "BTCUSDT", "b1", quantity="0.0003")
    assert engine.held(Symbol("BTCUSDT")) == Decimal("0.0003")
    assert engine.held(Symbol("ETHUSDT")) == 0

    close_position(engine, "BTCUSDT", "s1", "51000", quantity="0.0003")
    assert engine.held(Symbol("BTCUSDT")) == 0
