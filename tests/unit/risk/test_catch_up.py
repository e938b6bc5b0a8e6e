"""The risk state is a cache of the fill ledger: a state that missed fills (a crash between the
ledger's booking and ``on_fill``, a risk.json restored from an older copy) books them from the
ledger at the next start, and ends where it would have been had it missed nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thunes.domain import Fill
from thunes.risk import SAFETY_ACTOR, InMemoryRiskStore, RiskEngine, RiskLimits, RiskSnapshot, TradingState, utc_day

from . import HOUR, T0, FakeClock, buy, fill, sell, ts

LIMITS = RiskLimits(max_daily_loss=Decimal(2), cool_down_s=600)


class Recording(InMemoryRiskStore):
    """Keeps every snapshot saved: the older copies a person could restore."""

    def __init__(self, snapshot: RiskSnapshot | None = None) -> None:
        super().__init__(snapshot)
        self.history: list[RiskSnapshot] = []

    def save(self, snapshot: RiskSnapshot) -> None:
        super().save(snapshot)
        self.history.append(snapshot)


def _rounds(prices: list[tuple[int, int]], start_ns: int = T0) -> list[Fill]:
    """A BUY then a SELL of 0.0002 BTC per (buy, sell) price pair, a minute apart."""
    fills = []
    for i, (bought, sold) in enumerate(prices):
        at = start_ns + i * 120 * 10**9
        fills.append(fill(buy("BTCUSDT", f"b{i}", price=None), str(bought), trade_id=f"tb{i}", ts_ns=at))
        fills.append(fill(sell("BTCUSDT", f"s{i}"), str(sold), trade_id=f"ts{i}", ts_ns=at + 60 * 10**9))
    return fills


def _state(engine: RiskEngine) -> tuple[object, ...]:
    snap = engine.snapshot()
    return (snap.realized_pnl_today, snap.kill_switch.active, snap.positions, snap.cool_down_until_ns,
            snap.fills_booked)  # fmt: skip


PRICES = st.lists(st.tuples(st.integers(40_000, 60_000), st.integers(40_000, 60_000)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(prices=PRICES, data=st.data())
def test_catch_up_when_restored_from_any_older_copy_then_same_state_as_never_lost(
    prices: list[tuple[int, int]], data: st.DataObject
) -> None:
    fills = _rounds(prices)
    clock = FakeClock(T0 + HOUR)
    store = Recording()
    booked = RiskEngine(LIMITS, clock, store)
    booked.catch_up([])  # a session's start over an empty ledger: the count starts
    copies = [store.load()]
    for f in fills:
        booked.on_fill(f, order_complete=True)
        copies.append(store.load())
    older = data.draw(st.sampled_from(copies))  # risk.json as it was after some of the fills
    assert older is not None

    restored = RiskEngine(LIMITS, clock, InMemoryRiskStore(older))
    missed = restored.catch_up(fills)

    assert len(missed) == len(fills) - (older.fills_booked or 0)
    assert _state(restored) == _state(booked)  # the day's loss, the kill-switch, the cool-down, the book


def test_catch_up_when_a_losing_close_missed_then_loss_counted_and_kill_switch_on() -> None:
    fills = _rounds([(50_000, 39_000)])  # -2.2: beyond the daily limit of 2
    clock = FakeClock(T0 + HOUR)
    engine = RiskEngine(LIMITS, clock, InMemoryRiskStore())
    engine.catch_up([])
    engine.on_fill(fills[0], order_complete=True)  # the BUY reached risk.json; the SELL only the ledger

    missed = engine.catch_up(fills)

    assert missed == (fills[1],)
    assert engine.realized_pnl_today == Decimal("-2.2")
    assert engine.trading_state is TradingState.REDUCING
    assert engine.snapshot().fills_booked == 2
    assert engine.catch_up(fills) == ()  # idempotent: a second start books nothing twice
    assert engine.realized_pnl_today == Decimal("-2.2")


def test_catch_up_when_venue_clock_ahead_of_ours_then_loss_counted_and_before_our_day_not() -> None:
    clock = FakeClock(ts("2024-08-09T12:00:00"))
    engine = RiskEngine(LIMITS, clock, InMemoryRiskStore())
    engine.catch_up([])
    yesterday = _rounds([(50_000, 49_000)], start_ns=ts("2024-08-08T10:00:00"))  # -0.2, a day before ours
    ahead = _rounds([(50_000, 49_000)], start_ns=ts("2024-08-20T10:00:00"))  # the venue runs 11 days ahead

    engine.catch_up(yesterday + ahead)

    assert engine.realized_pnl_today == Decimal("-0.2")  # only the close on or after our day counts
    assert engine.snapshot().fills_booked == 4


def test_catch_up_when_count_unknown_then_adopts_the_ledger_and_books_nothing() -> None:
    engine = RiskEngine(LIMITS, FakeClock(T0 + HOUR), InMemoryRiskStore(RiskSnapshot(day=utc_day(T0))))

    missed = engine.catch_up(_rounds([(50_000, 39_000)]))

    assert missed == ()
    assert engine.realized_pnl_today == 0
    assert engine.snapshot().fills_booked == 2
    assert engine.trading_state is TradingState.ACTIVE


def test_catch_up_when_state_booked_more_than_the_ledger_holds_then_kill_switch_on() -> None:
    older = RiskSnapshot(day=utc_day(T0), fills_booked=5)
    engine = RiskEngine(LIMITS, FakeClock(T0 + HOUR), InMemoryRiskStore(older))

    engine.catch_up(_rounds([(50_000, 50_000)]))

    assert engine.trading_state is TradingState.REDUCING
    assert engine.kill_switch.by == SAFETY_ACTOR
    assert "booked 5 fills, the ledger holds 2" in engine.kill_switch.reason


def test_on_fill_when_refused_then_still_counted_so_a_restart_never_books_the_wrong_fill() -> None:
    engine = RiskEngine(LIMITS, FakeClock(T0 + HOUR), InMemoryRiskStore())
    engine.catch_up([])
    bnb_fee = fill(buy("BTCUSDT", "b0", price=None), "50000", commission="0.001", commission_asset="BNB")
    with pytest.raises(ValueError, match="fee in BNB"):
        engine.on_fill(bnb_fee)

    assert engine.snapshot().fills_booked == 1
