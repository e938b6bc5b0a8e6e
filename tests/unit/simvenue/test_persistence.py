"""Venue state survives a restart: balances, open orders (still resting), trades and id counters."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderStatus, OrderType, Side, TimeInForce
from thunes.simvenue import OrderParams, SimVenue, VenueError

D = Decimal


def _venue(now: list[int]) -> SimVenue:
    return SimVenue(builtin_exchange_info().instruments, lambda: now[0], seed=1)


def _trading_day(venue: SimVenue) -> tuple[int, int]:
    venue.deposit("a", "USDT", D(10_000))
    venue.deposit("a", "BTC", D(1))
    venue.on_trade("BTCUSDT", D(30_000), D(1))
    venue.on_quote("BTCUSDT", D("29999.99"), D(5), D(30_000), D(5))
    venue.place_order("a", OrderParams("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    resting = venue.place_order(
        "a", OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.02"), price=D(29_000),
                         time_in_force=TimeInForce.GTC, client_order_id="keep-me")
    )  # fmt: skip
    sell = venue.place_order(
        "a",
        OrderParams("BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.1"), price=D(31_000), time_in_force=TimeInForce.GTC),
    )
    venue.cancel_order("a", "BTCUSDT", sell.order_id)
    return resting.order_id, sell.order_id


def test_import_when_round_tripped_through_json_then_accounts_identical() -> None:
    now = [1_700_000_000_000_000_000]
    before = _venue(now)
    resting_id, _ = _trading_day(before)

    after = _venue(now)
    after.import_state(json.loads(json.dumps(before.export_state())))

    assert after.balances("a") == before.balances("a")
    assert after.open_orders("a") == before.open_orders("a")
    assert after.all_orders("a", "BTCUSDT") == before.all_orders("a", "BTCUSDT")
    assert after.my_trades("a", "BTCUSDT") == before.my_trades("a", "BTCUSDT")
    assert after.get_order("a", "BTCUSDT", client_id="keep-me").order_id == resting_id


def test_import_when_trading_resumes_then_resting_order_fills_and_ids_continue() -> None:
    now = [1_700_000_000_000_000_000]
    before = _venue(now)
    resting_id, last_id = _trading_day(before)
    after = _venue(now)
    after.import_state(before.export_state())

    after.on_trade("BTCUSDT", D(28_000), D(1))  # goes through the restored resting buy
    fresh = after.place_order("a", OrderParams("BTCUSDT", Side.SELL, OrderType.MARKET, D("0.001")))

    assert after.get_order("a", "BTCUSDT", resting_id).status is OrderStatus.FILLED
    assert fresh.order_id > last_id
    trade_ids = [t.trade_id for t in after.my_trades("a", "BTCUSDT")]
    assert len(trade_ids) == len(set(trade_ids))
    assert after.balances("a")["USDT"].locked == 0


def test_import_when_client_id_of_open_order_reused_then_still_duplicate() -> None:
    now = [1_700_000_000_000_000_000]
    before = _venue(now)
    _trading_day(before)
    after = _venue(now)
    after.import_state(before.export_state())

    with pytest.raises(VenueError, match="Duplicate order sent"):
        after.place_order(
            "a", OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.01"), price=D(29_000),
                             time_in_force=TimeInForce.GTC, client_order_id="keep-me")
        )  # fmt: skip


def test_import_when_version_unknown_then_value_error() -> None:
    with pytest.raises(ValueError, match="version"):
        _venue([0]).import_state({"version": 99})
