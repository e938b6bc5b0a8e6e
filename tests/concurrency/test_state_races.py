"""Kill-switch, halt, daily loss and fills racing with checks: switches act at once, PnL is exact."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.concurrency import SlowStore, Ticket, preemptive, race
from tests.unit.risk import FakeClock, buy, fill, intent, make_engine, open_position, sell, symbol_name, ts
from thunes.domain import DenialReason, OrderRequest, Position, Side, Symbol
from thunes.risk import RiskEngine, RiskLimits, TradingState

HELD = 4


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    with preemptive():
        yield


def _held_engine(limits: RiskLimits, held: int = HELD) -> tuple[RiskEngine, SlowStore]:
    store = SlowStore()
    engine, _, _ = make_engine(limits, store=store)
    for i in range(held):
        engine.sync_position(Position(Symbol(f"H{i}USDT"), f"H{i}", "USDT", Decimal("0.0002"), Decimal(10)))
    return engine, store


def test_kill_switch_activated_while_threads_check_then_no_buy_after_it_returns_and_exits_approved() -> None:
    engine, store = _held_engine(RiskLimits(max_open_positions=HELD + 2))
    ticket = Ticket()
    activated_at = [10**9]

    def work(i: int) -> list[tuple[int, Side, bool]]:
        if i == 12:  # the operator
            time.sleep(0.003)
            engine.activate_kill_switch(by="alice", reason="stop entries")
            activated_at[0] = ticket()
            assert store.load().kill_switch.active  # type: ignore[union-attr]  # persisted before return
            return []
        seen = []
        for n in range(40):
            request = (
                sell(f"H{i % HELD}USDT", f"s{i}-{n}", "0.00001")
                if n % 2
                else buy(symbol_name(i * 1000 + n), f"b{i}-{n}")
            )
            start = ticket()
            seen.append((start, request.side, engine.check(intent(request)).approved))
        return seen

    results = [r for rs in race(13, work) for r in rs]

    buys = [(start, ok) for start, side, ok in results if side is Side.BUY]
    assert not [start for start, ok in buys if ok and start > activated_at[0]]
    assert all(ok for _, side, ok in results if side is Side.SELL)
    approved_buys = sum(ok for _, ok in buys)
    assert approved_buys <= 2
    assert len(engine.snapshot().reservations) == approved_buys
    assert store.load() == engine.snapshot()


def test_concurrent_activations_then_exactly_one_wins_and_its_cause_is_stored() -> None:
    for _ in range(30):
        engine, store = _held_engine(RiskLimits(), held=0)

        wins = race(16, lambda i, e=engine: e.activate_kill_switch(by=f"op{i}", reason=f"cause {i}"))  # type: ignore[misc]

        assert wins.count(True) == 1
        winner = wins.index(True)
        stored = store.load()
        assert stored is not None and stored.kill_switch.reason == f"cause {winner}"
        assert engine.kill_switch.by == f"op{winner}"


def test_activate_and_deactivate_toggling_then_successes_alternate_and_store_matches() -> None:
    engine, store = _held_engine(RiskLimits(), held=0)

    def toggle(i: int) -> tuple[int, int]:
        rng = random.Random(i)
        on = off = 0
        for _ in range(80):
            if rng.random() < 0.5:
                on += engine.activate_kill_switch(by=f"op{i}", reason="toggle")
            else:
                off += engine.deactivate(by=f"op{i}")
        return on, off

    results = race(8, toggle)

    ons, offs = sum(r[0] for r in results), sum(r[1] for r in results)
    assert ons - offs == (1 if engine.kill_switch.active else 0)
    assert store.load() == engine.snapshot()


def test_exits_always_approved_while_operators_flip_the_kill_switch() -> None:
    engine, store = _held_engine(RiskLimits())

    def work(i: int) -> tuple[int, int, int]:
        if i < 3:  # three operators flipping the switch
            on = off = 0
            for _ in range(100):
                on += engine.activate_kill_switch(by=f"op{i}", reason="flip")
                off += engine.deactivate(by=f"op{i}")
            return on, off, 0
        denied = 0
        for n in range(15):
            denied += not engine.check(intent(sell(f"H{i % HELD}USDT", f"s{i}-{n}", "0.0001"))).approved
        return 0, 0, denied

    results = race(11, work)

    assert sum(r[2] for r in results) == 0
    ons, offs = sum(r[0] for r in results), sum(r[1] for r in results)
    assert ons == offs  # both ended with a deactivate: every success was matched exactly once
    assert engine.trading_state is TradingState.ACTIVE
    assert store.load() == engine.snapshot()


def test_daily_loss_breach_racing_with_new_buys_then_none_after_the_fill_returns() -> None:
    for _ in range(2):
        limits = RiskLimits(max_daily_loss=Decimal(2), cool_down_s=0, max_open_positions=HELD + 3)
        engine, store = _held_engine(limits)
        ticket = Ticket()
        breached_at = [10**9]

        def work(
            i: int, e: RiskEngine = engine, cell: list[int] = breached_at, tk: Ticket = ticket
        ) -> list[tuple[int, bool]]:
            if i == 10:
                time.sleep(0.002)
                effect = e.on_fill(fill(sell("H0USDT", "loss", "0.0002"), "35000"))  # 7 - 10 = -3
                cell[0] = tk()
                assert effect.closed and e.kill_switch.active
                return []
            out = []
            for n in range(25):
                start = tk()
                out.append((start, e.check(intent(buy(symbol_name(i * 100 + n), f"b{i}-{n}"))).approved))
            return out

        results = [r for rs in race(11, work) for r in rs]

        assert not [start for start, ok in results if ok and start > breached_at[0]]
        approved = sum(ok for _, ok in results)
        assert approved <= 4  # 3 free slots, plus the one the close freed
        assert len(engine.snapshot().reservations) == approved
        stored = store.load()
        assert stored is not None and stored.kill_switch.active and stored.kill_switch.by == "risk-engine"


def test_concurrent_losing_closes_then_daily_pnl_exact_and_switch_tripped_at_the_limit() -> None:
    for _ in range(5):
        engine, store = _held_engine(RiskLimits(max_daily_loss=Decimal(2), max_open_positions=10), held=10)

        race(10, lambda i, e=engine: e.on_fill(fill(sell(f"H{i}USDT", f"s{i}", "0.0002"), "48500")))  # type: ignore[misc]

        assert engine.realized_pnl_today == Decimal("-3.0")  # 10 x (9.7 - 10)
        assert engine.kill_switch.reason == "daily realised loss 2.1000 reached limit 2"  # the 7th close
        assert engine.open_symbols() == frozenset()
        assert store.load() == engine.snapshot()


def test_partial_fills_of_one_order_from_many_threads_then_position_exact() -> None:
    for _ in range(3):
        engine, _ = _held_engine(RiskLimits(), held=0)
        request = buy("BTCUSDT", "big", "0.016", "50000")

        def deliver(i: int, e: RiskEngine = engine, order: OrderRequest = request) -> None:
            for n in range(8):
                e.on_fill(fill(order, "50000", "0.0001", trade_id=f"t{i}-{n}"))

        race(8, deliver)

        (position,) = engine.snapshot().positions
        assert position.quantity == Decimal("0.0064")
        assert position.cost_basis == Decimal("320.0000")


def test_daily_reset_from_many_threads_at_midnight_then_day_rolls_once() -> None:
    for _ in range(20):
        clock = FakeClock(ts("2024-08-08T23:00:00"))
        engine, _, _ = make_engine(RiskLimits(max_daily_loss=Decimal(100)), clock, SlowStore())
        open_position(engine, "BTCUSDT", "b1")
        engine.on_fill(fill(sell(), "49000"))
        clock.set(ts("2024-08-09T00:00:00"))

        rolled = race(12, lambda _i, e=engine: e.daily_reset())  # type: ignore[misc]

        assert rolled.count(True) == 1
        assert engine.realized_pnl_today == 0


def test_concurrent_halts_then_one_wins_and_no_order_approved_after_it_returns() -> None:
    for _ in range(12):
        engine, _ = _held_engine(RiskLimits(max_open_positions=HELD + 2))
        ticket = Ticket()
        halted_at: list[int] = []

        def work(
            i: int, e: RiskEngine = engine, tk: Ticket = ticket, cell: list[int] = halted_at
        ) -> list[tuple[int, bool]]:
            if i >= 6:  # six operators halt at once, while six traders check
                won = e.halt(by=f"op{i}", reason="incident")
                cell.append(tk())
                return [(-1, won)]
            out = []
            for n in range(6):
                request = (
                    sell(f"H{i % HELD}USDT", f"s{i}-{n}", "0.00001")
                    if n % 2
                    else buy(symbol_name(i * 100 + n), f"b{i}-{n}")
                )
                start = tk()
                out.append((start, e.check(intent(request)).approved))
            return out

        results = [r for rs in race(12, work) for r in rs]

        assert [ok for start, ok in results if start == -1].count(True) == 1
        assert not [start for start, ok in results if start >= 0 and ok and start > min(halted_at)]
        assert engine.check(intent(sell("H0USDT", "late", "0.00001"))).reason is DenialReason.TRADING_HALTED
