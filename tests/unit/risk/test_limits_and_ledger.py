"""Limit validation and equity forms; the ledger's booking of fills and reservations."""

from __future__ import annotations

from decimal import Decimal

import pytest

from thunes.domain import ClientOrderId, Symbol
from thunes.risk import Reservation, RiskLimits
from thunes.risk.ledger import Ledger

from . import STRATEGY, T0, VENUE, buy, fill, sell


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_order_notional": Decimal(0)},
        {"max_daily_loss": Decimal(-1)},
        {"max_open_positions": 0},
        {"cool_down_s": -1},
        {"exit_buffer": Decimal(1)},
        {"max_daily_loss_equity_fraction": Decimal("1.5")},
        {"quote_asset": ""},
    ],
)
def test_limits_reject_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case names a different field
        RiskLimits(**kwargs)  # type: ignore[arg-type]


def test_limits_defaults_follow_spec() -> None:
    limits = RiskLimits()

    assert (limits.max_order_notional, limits.max_daily_loss, limits.max_open_positions) == (
        Decimal(15),
        Decimal(20),
        3,
    )
    assert limits.cool_down_s == 3600 and limits.one_position_per_symbol


def test_equity_fraction_only_tightens() -> None:
    limits = RiskLimits(max_order_notional_equity_fraction=Decimal("0.1"))

    assert limits.order_notional_cap(None) == 15
    assert limits.order_notional_cap(Decimal(100)) == 10
    assert limits.order_notional_cap(Decimal(1000)) == 15
    assert limits.daily_loss_cap(Decimal(10)) == 20


def ledger() -> Ledger:
    return Ledger("USDT", Decimal(5))


def test_ledger_union_of_positions_and_reservations_counts_each_symbol_once() -> None:
    book = ledger()
    request = buy("BTCUSDT", "b1")
    book.reserve(Reservation(ClientOrderId("b1"), Symbol("BTCUSDT"), STRATEGY, VENUE, T0))

    book.apply(fill(request, "50000", "0.0001"))

    assert book.open_symbols() == {Symbol("BTCUSDT")}
    assert book.held(Symbol("BTCUSDT")) == Decimal("0.0001")
    assert book.release(ClientOrderId("b1")) and not book.release(ClientOrderId("b1"))
    assert book.open_symbols() == {Symbol("BTCUSDT")}


def test_ledger_round_trip_pnl_net_of_fees() -> None:
    book = ledger()
    book.apply(fill(buy(), "50000", commission="0.01"))  # cost 10.01

    effect = book.apply(fill(sell(), "55000", commission="0.011"))  # proceeds 10.989

    assert effect.closed
    assert effect.trip_pnl == effect.realized_pnl == Decimal("0.9790")
    assert book.positions() == ()


def test_ledger_when_symbol_cannot_be_split_then_untracked() -> None:
    book = Ledger("USDT", Decimal(5))

    effect = book.apply(fill(buy("ETHBTC", "b1", "0.1", "0.05"), "0.05"))

    assert effect.untracked and "base/quote" in effect.detail


def test_ledger_when_selling_more_than_held_then_untracked_and_unchanged() -> None:
    book = ledger()
    book.apply(fill(buy(), "50000"))

    effect = book.apply(fill(sell(quantity="0.0003"), "50000"))

    assert effect.untracked
    assert book.held(Symbol("BTCUSDT")) == Decimal("0.0002")


def test_ledger_when_a_close_leaves_dust_then_the_next_entry_carries_it_and_the_trip_pnl_excludes_the_old_trip() -> (
    None
):
    book = Ledger("USDT", Decimal(5))
    first = buy(coid="b1", quantity="0.0001", price=None)
    book.apply(fill(first, "100000", trade_id="t1", commission="0.0000001", commission_asset="BTC"))
    closed = book.apply(fill(sell(coid="s1", quantity="0.00009"), "110000", trade_id="t2"))
    flat_held = book.held(Symbol("BTCUSDT"))
    book.apply(fill(buy(coid="b2", quantity="0.0001", price=None), "100000", trade_id="t3"))
    carried = book.held(Symbol("BTCUSDT"))
    second = book.apply(fill(sell(coid="s2", quantity="0.0001099"), "100000", trade_id="t4"))

    assert closed.closed is True  # 0.0000099 BTC left: worth ~1 USDT, below the 5 USDT dust line
    assert flat_held == 0  # closed for risk: no open position counted
    assert carried == Decimal("0.0001099")  # the new entry plus the dust of the last trip
    assert second.closed is True
    assert book.held(Symbol("BTCUSDT")) == 0
    assert second.trip_pnl is not None and second.trip_pnl < 0  # this trip only: dust bought at 100k sold at 100k
    assert closed.trip_pnl is not None and closed.trip_pnl > 0
