"""The integer entry point and the integer resting-order index behave exactly like the Decimal core.

Two venues receive the same randomized sequence of orders, cancels, trades, quotes and clock moves:
one through ``place_order`` (``OrderParams`` in ``Decimal``), the other through ``place_order_ticks``.
Every answer, error, report, balance and the exported state must be identical.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderStatus, OrderType, Side, TimeInForce
from thunes.domain.fees import commission
from thunes.simvenue.core import SimVenue
from thunes.simvenue.errors import VenueError
from thunes.simvenue.models import ExecutionReport
from thunes.simvenue.validation import OrderParams

D = Decimal
START_NS = 1_700_000_000_000_000_000
MS = 1_000_000
SYMBOLS = ["BTCUSDT", "SOLUSDT"]
REF_TICKS = {"BTCUSDT": 3_000_000, "SOLUSDT": 2_000}  # 30000.00 and 20.00
ACCOUNTS = ["a", "b"]
INSTRUMENTS = builtin_exchange_info().instruments


class Clock:
    def __init__(self) -> None:
        self.ns = START_NS

    def __call__(self) -> int:
        return self.ns


def _venue(clock: Clock) -> SimVenue:
    venue = SimVenue(INSTRUMENTS, clock, seed=3)
    for account in ACCOUNTS:
        for asset, amount in (("USDT", D(200_000)), ("BTC", D(3)), ("SOL", D(5_000))):
            venue.deposit(account, asset, amount)
    for symbol in SYMBOLS:
        tick = INSTRUMENTS[symbol].tick_size  # type: ignore[index]
        venue.on_trade(symbol, tick * REF_TICKS[symbol], D(1))
    return venue


def _outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    try:
        return "ok", repr(call(*args, **kwargs))
    except VenueError as e:
        return "venue error", f"{e.code} {e.msg}"
    except (ValueError, ArithmeticError) as e:
        return type(e).__name__, str(e)


def _ops(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    """A replay-like sequence: mostly well-formed orders near the market, some odd ones, trades and quotes."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(n):
        kind = rng.choices(["place", "trade", "quote", "cancel", "clock"], [10, 5, 3, 2, 1])[0]
        symbol = rng.choice(SYMBOLS)
        if kind == "place":
            order_type = rng.choice([OrderType.LIMIT, OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET])
            lots = rng.choice([100, 500, 1_000, 5_000, 20_000]) if rng.random() < 0.9 else rng.choice(ODD_LOTS)
            offset = rng.randint(-300, 300) if rng.random() < 0.9 else rng.choice(ODD_OFFSETS)
            tif = rng.choice([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK])
            if order_type is not OrderType.LIMIT and rng.random() < 0.9:
                tif = None  # well-formed MARKET and LIMIT_MAKER orders, mostly
            if order_type is OrderType.MARKET and rng.random() < 0.9:
                offset = None
            if rng.random() < 0.05:
                tif = None if tif is not None else TimeInForce.GTC
            client_id = rng.choice([None] * 6 + ["dup", "other"] + (["bad id!"] if rng.random() < 0.1 else []))
            ops.append(("place", rng.choice(ACCOUNTS), symbol, rng.choice([Side.BUY, Side.SELL]), order_type, lots,
                        offset, tif, client_id, rng.random() < 0.05))  # fmt: skip
        elif kind == "trade":
            ops.append(("trade", symbol, rng.randint(-400, 400), rng.randint(1, 30_000)))
        elif kind == "quote":
            ops.append(("quote", symbol, rng.randint(-300, 300), rng.randint(0, 30_000)))
        elif kind == "cancel":
            ops.append(("cancel", rng.choice(ACCOUNTS), rng.randint(0, 60)))
        else:
            ops.append(("clock", rng.choice([1, 1_000, 60_000, 400_000])))
    return ops


ODD_LOTS = [-1, 0, 1, 10**6, 10**30]
ODD_OFFSETS = [None, -(10**7), -3_000_000, 10**6, 10**27]


def _run(ops: list[tuple[Any, ...]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]], SimVenue, SimVenue]:
    clock = Clock()
    decimal, ticks = _venue(clock), _venue(clock)
    out_decimal: list[tuple[str, str]] = []
    out_ticks: list[tuple[str, str]] = []
    for op in ops:
        kind = op[0]
        if kind == "place":
            _, account, symbol, side, order_type, lots, offset, tif, client_id, test = op
            inst = INSTRUMENTS[symbol]  # type: ignore[index]
            if order_type is OrderType.MARKET and offset is not None and abs(offset) <= 300:
                offset, tif = None, None  # a well-formed MARKET order, mostly
            if order_type is OrderType.LIMIT_MAKER and tif is not TimeInForce.FOK:
                tif = None
            price_ticks = None if offset is None else REF_TICKS[symbol] + offset
            params = OrderParams(
                symbol, side, order_type, lots * inst.step_size, None,
                None if price_ticks is None else price_ticks * inst.tick_size, tif, client_id,
            )  # fmt: skip
            out_decimal.append(_outcome(decimal.place_order, account, params, test=test))
            out_ticks.append(
                _outcome(ticks.place_order_ticks, account, symbol, side, order_type, lots, price_ticks, tif, client_id,
                         test=test)
            )  # fmt: skip
        elif kind == "trade":
            _, symbol, offset, lots = op
            inst = INSTRUMENTS[symbol]  # type: ignore[index]
            price, qty = (REF_TICKS[symbol] + offset) * inst.tick_size, lots * inst.step_size
            for venue, out in ((decimal, out_decimal), (ticks, out_ticks)):
                out.append(_outcome(venue.on_trade, symbol, price, qty))
        elif kind == "quote":
            _, symbol, offset, lots = op
            inst = INSTRUMENTS[symbol]  # type: ignore[index]
            bid = (REF_TICKS[symbol] + offset) * inst.tick_size
            qty = lots * inst.step_size
            for venue in (decimal, ticks):
                venue.on_quote(symbol, bid, qty, bid + inst.tick_size, qty)
        elif kind == "cancel":
            _, account, order_id = op
            for venue, out in ((decimal, out_decimal), (ticks, out_ticks)):
                for symbol in SYMBOLS:
                    out.append(_outcome(venue.cancel_order, account, symbol, order_id))
        else:
            clock.ns += op[1] * MS
        for account in ACCOUNTS:
            out_decimal.append(("drain", repr(decimal.drain(account))))
            out_ticks.append(("drain", repr(ticks.drain(account))))
    return out_decimal, out_ticks, decimal, ticks


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(5, 150))
def test_place_order_ticks_when_random_sequence_then_identical_to_decimal_path(rng: random.Random, n: int) -> None:
    out_decimal, out_ticks, decimal, ticks = _run(_ops(rng, n))

    assert out_ticks == out_decimal
    for account in ACCOUNTS:
        assert ticks.balances(account) == decimal.balances(account)
    assert json.dumps(ticks.export_state(), sort_keys=True) == json.dumps(decimal.export_state(), sort_keys=True)


def test_place_order_ticks_when_valid_limit_then_resting_with_decimal_price_and_qty() -> None:
    clock = Clock()
    venue = _venue(clock)

    order = venue.place_order_ticks("a", "BTCUSDT", Side.BUY, OrderType.LIMIT, 1_000, 2_900_000, TimeInForce.GTC)

    assert (order.status, order.price, order.orig_qty, order.price_ticks) == (
        OrderStatus.NEW, D("29000.00"), D("0.01000"), 2_900_000,
    )  # fmt: skip
    assert venue.balances("a")["USDT"].locked == D(290)


@pytest.mark.parametrize(
    ("lots", "ticks", "tif", "expected"),
    [
        (1, 2_900_000, TimeInForce.GTC, (-1013, "Filter failure: NOTIONAL")),
        (1_000, 200_000_000, TimeInForce.GTC, (-1013, "Filter failure: PRICE_FILTER")),
        (1_000, 3_000_000 * 6, TimeInForce.GTC, (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")),
        (10**9, 2_900_000, TimeInForce.GTC, (-1013, "Filter failure: LOT_SIZE")),
        (10**6, 2_900_000, TimeInForce.GTC, (-2010, "Account has insufficient balance for requested action.")),
        (
            1_000,
            2_900_000,
            None,
            (-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."),
        ),
    ],
)
def test_place_order_ticks_when_invalid_then_same_binance_error(
    lots: int, ticks: int, tif: TimeInForce | None, expected: tuple[int, str]
) -> None:
    venue = _venue(Clock())

    with pytest.raises(VenueError) as rejected:
        venue.place_order_ticks("a", "BTCUSDT", Side.BUY, OrderType.LIMIT, lots, ticks, tif)

    assert (rejected.value.code, rejected.value.msg) == expected


def _expected_fills(book: dict[int, list[Any]], price: Decimal, qty: Decimal) -> list[tuple[int, Decimal, Decimal]]:
    """Brute force: buys above ``price`` (best first), then sells below it, oldest first, until ``qty`` is used."""
    crossed = sorted(
        (i for i, (side, p, _) in book.items() if (p > price if side is Side.BUY else p < price)),
        key=lambda i: (book[i][0] is Side.SELL, -book[i][1] if book[i][0] is Side.BUY else book[i][1], i),
    )
    out = []
    for order_id in crossed:
        if qty <= 0:
            break
        take = min(book[order_id][2], qty)
        qty -= take
        out.append((order_id, book[order_id][1], take))
        book[order_id][2] -= take
        if book[order_id][2] == 0:
            del book[order_id]
    return out


def test_on_trade_when_many_rest_then_fills_what_it_goes_through_best_price_then_time() -> None:
    """Against a brute-force book, with hundreds of resting orders, cancels and trades at any price."""
    filled: list[int] = []

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.randoms(use_true_random=False), st.integers(50, 600))
    def prop(rng: random.Random, n: int) -> None:
        venue = SimVenue(INSTRUMENTS, Clock(), seed=1)
        accounts = [f"r{i}" for i in range(6)]  # at most 100 open orders each, under MAX_NUM_ORDERS
        for account in accounts:
            venue.deposit(account, "USDT", D(10**9))
            venue.deposit(account, "BTC", D(10**4))
        venue.on_trade("BTCUSDT", D(30_000), D(1))
        book: dict[int, list[Any]] = {}  # order id -> [side, price, remaining]
        owner: dict[int, str] = {}
        for k in range(n):
            kind = rng.choices(["rest", "cancel", "trade"], [6, 1, 3])[0]
            if kind == "rest":
                side = rng.choice([Side.BUY, Side.SELL])
                price = D(30_000) + (-1 if side is Side.BUY else 1) + D(rng.randint(-40, 40)) / 10
                params = OrderParams("BTCUSDT", side, OrderType.LIMIT, D(rng.randint(1, 9)) / 100, price=price,
                                     time_in_force=TimeInForce.GTC)  # fmt: skip
                order = venue.place_order(accounts[k % len(accounts)], params)
                if order.is_open:  # a marketable one may have taken liquidity first
                    book[order.order_id] = [side, price, order.orig_qty - order.executed_qty]
                    owner[order.order_id] = accounts[k % len(accounts)]
            elif kind == "cancel" and book:
                order_id = rng.choice(sorted(book))
                venue.cancel_order(owner[order_id], "BTCUSDT", order_id)
                del book[order_id]
            elif kind == "trade":
                price = D(30_000) + D(rng.randint(-60, 60)) / 10 + rng.choice([D(0), D("0.03")])
                qty = D(rng.randint(1, 40)) / 100
                expected = _expected_fills(book, price, qty)
                for account in accounts:
                    venue.drain(account)

                venue.on_trade("BTCUSDT", price, qty)

                reports = [r for a in accounts for r in venue.drain(a) if isinstance(r, ExecutionReport)]
                fills = sorted((r.last_trade.trade_id, r.order.order_id, r.last_trade.price, r.last_trade.quantity)
                               for r in reports if r.last_trade is not None)  # fmt: skip
                assert [(i, p, q) for _, i, p, q in fills] == expected
                filled.append(len(fills))
        assert {o.order_id for a in accounts for o in venue.open_orders(a)} == set(book)
        market = venue.market("BTCUSDT")  # the best prices a quiet trade is checked against in O(1)
        buys, sells = (
            [p for s, p, _ in book.values() if s is Side.BUY],
            [p for s, p, _ in book.values() if s is Side.SELL],
        )
        assert (market.buy_top, market.sell_top) == (max(buys, default=None), min(sells, default=None))

    prop()
    # the property is about fills: they must happen, many times over. Counted per trade, not in total: the
    # examples are random (about 0.2 fills a trade; 40 examples made 3,000 to 8,000 trades, 670 to 1,900 fills)
    assert len(filled) > 500 and sum(1 for n in filled if n) > len(filled) // 10


def test_fills_when_any_trade_then_commission_is_the_domain_commission() -> None:
    clock = Clock()
    venue = _venue(clock)
    venue.on_quote("BTCUSDT", D("29999.99"), D(2), D(30_000), D(2))

    buy = venue.place_order("a", OrderParams("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.123")))
    sell = venue.place_order("a", OrderParams("BTCUSDT", Side.SELL, OrderType.MARKET, D("0.077")))

    (bought,), (sold,) = buy.fills, sell.fills
    assert bought.commission == commission(bought.quantity, D("0.001"), 8)
    assert sold.commission == commission(sold.price * sold.quantity, D("0.001"), 8)


@pytest.mark.parametrize("streams", [True, False])
def test_place_order_when_filled_or_resting_then_the_answer_is_a_copy_unless_live(streams: bool) -> None:
    """Without a user stream a fill makes no report snapshot: the venue copies the order it answers with
    (a later change must not show in an answer already given), except for a ``live`` caller."""
    venue = SimVenue(INSTRUMENTS, Clock(), seed=3, user_stream=streams)
    venue.deposit("a", "USDT", D(200_000))
    venue.on_trade("BTCUSDT", D("30000.00"), D(1))
    venue.on_quote("BTCUSDT", D("29999.99"), D(5), D("30000.00"), D(5))

    filled = venue.place_order_ticks("a", "BTCUSDT", Side.BUY, OrderType.MARKET, 100, client_order_id="m")
    resting = venue.place_order_ticks("a", "BTCUSDT", Side.BUY, OrderType.LIMIT, 100, 2_900_000, TimeInForce.GTC,
                                      "r")  # fmt: skip
    live = venue.place_order_ticks("a", "BTCUSDT", Side.BUY, OrderType.LIMIT, 100, 2_900_000, TimeInForce.GTC,
                                   "l", live=True)  # fmt: skip
    assert filled.status is OrderStatus.FILLED and len(filled.fills) == 1
    venue.cancel_order("a", "BTCUSDT", client_id="r")
    venue.cancel_order("a", "BTCUSDT", client_id="l")

    assert resting.status is OrderStatus.NEW  # the copy kept what was answered
    assert live.status is OrderStatus.CANCELED  # the venue's own order, as documented
    assert venue.get_order("a", "BTCUSDT", client_id="m") == filled
    filled.fills.clear()  # the caller's copy is its own
    assert len(venue.get_order("a", "BTCUSDT", client_id="m").fills) == 1
