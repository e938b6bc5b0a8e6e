"""A venue without a user data stream (in-process backtests): the same orders, fills and balances as
one with it, and nothing queued, so its memory does not grow with every order."""

from __future__ import annotations

from decimal import Decimal

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderType, Side, TimeInForce
from thunes.simvenue.core import SimVenue
from thunes.simvenue.validation import OrderParams

D = Decimal
ACCOUNT = "alice"
SYMBOL = "BTCUSDT"


def _venue(*, user_stream: bool) -> SimVenue:
    venue = SimVenue(builtin_exchange_info().instruments, lambda: 1_700_000_000_000_000_000, seed=3,
                     user_stream=user_stream)  # fmt: skip
    venue.deposit(ACCOUNT, "USDT", D(10_000))
    venue.deposit(ACCOUNT, "BTC", D(1))
    venue.on_trade(SYMBOL, D(30_000), D("0.5"))
    venue.on_quote(SYMBOL, D("29999.99"), D(2), D(30_000), D(2))
    return venue


def _limit(side: Side, qty: str, price: int, tif: TimeInForce, client_id: str | None) -> OrderParams:
    return OrderParams(SYMBOL, side, OrderType.LIMIT, D(qty), price=D(price), time_in_force=tif,
                       client_order_id=client_id)  # fmt: skip


def _session(venue: SimVenue) -> list[object]:
    """Every kind of report: a market fill, a resting limit filled as maker, an amend, a cancel, an IOC."""
    gtc, ioc = TimeInForce.GTC, TimeInForce.IOC
    placed = [
        venue.place_order(ACCOUNT, OrderParams(SYMBOL, Side.BUY, OrderType.MARKET, D("0.1"))),
        venue.place_order(ACCOUNT, _limit(Side.BUY, "0.2", 29_000, gtc, "rest1")),
        venue.place_order(ACCOUNT, _limit(Side.SELL, "0.3", 31_000, gtc, "rest2")),
        venue.place_order(ACCOUNT, _limit(Side.SELL, "0.01", 40_000, ioc, None)),
    ]
    venue.on_trade(SYMBOL, D(28_900), D(1))  # trades through the resting BUY
    amended = venue.amend_order(ACCOUNT, SYMBOL, D("0.1"), client_id="rest2")
    placed += [amended, venue.cancel_order(ACCOUNT, SYMBOL, order_id=amended.order_id)]
    state = [(o.status, o.executed_qty, o.cumulative_quote, [(t.price, t.quantity, t.commission) for t in o.fills])
             for o in venue.all_orders(ACCOUNT, SYMBOL)]  # fmt: skip
    balances = {a: (b.free, b.locked) for a, b in venue.balances(ACCOUNT).items()}
    return [[(o.order_id, o.status) for o in placed], state, balances, venue.trade_count(ACCOUNT)]


def test_venue_without_user_stream_trades_the_same_and_queues_no_report() -> None:
    streaming, silent = _venue(user_stream=True), _venue(user_stream=False)

    assert _session(silent) == _session(streaming)
    assert len(streaming.drain(ACCOUNT)) > 6  # the streaming one did report (the comparison is not empty)
    assert silent.drain(ACCOUNT) == []


def test_venue_without_user_stream_keeps_it_off_after_a_state_restore() -> None:
    source = _venue(user_stream=False)
    _session(source)
    restored = SimVenue(builtin_exchange_info().instruments, lambda: 1_700_000_000_000_000_000,
                        user_stream=False)  # fmt: skip
    restored.import_state(source.export_state())
    restored.on_trade(SYMBOL, D(30_000), D("0.5"))
    restored.on_quote(SYMBOL, D("29999.99"), D(2), D(30_000), D(2))

    restored.place_order(ACCOUNT, OrderParams(SYMBOL, Side.SELL, OrderType.MARKET, D("0.01")))

    assert restored.drain(ACCOUNT) == []
    assert restored.trade_count(ACCOUNT) == source.trade_count(ACCOUNT) + 1
