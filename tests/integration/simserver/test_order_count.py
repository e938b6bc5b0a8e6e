"""The ORDERS limits count *unfilled* orders, as Binance's ``faqs/order_count_decrement.md`` says.

"When an order is filled for the first time (partially or fully), your unfilled order count is
decremented by one order for all intervals of the ORDERS rate limit"; cancels and expiries change
nothing; a fill lowers the *current* count and never below zero ("You do not get credit for order
fills"). On the real server with 3 orders per 10 s, seen through ``X-MBX-ORDER-COUNT-*`` and -1015.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.simserver.conftest import Limited, RawClient, RunningServer
from thunes.adapters.venues.simserver.limits import RateLimiter
from thunes.adapters.venues.simserver.state import ApiKey, ServerState
from thunes.domain.enums import OrderType, Side, TimeInForce
from thunes.domain.exchange_info import RateLimit
from thunes.domain.market import Symbol
from thunes.simvenue.validation import OrderParams

D = Decimal
_accounts = itertools.count(1)
REFUSED = {"code": -1015, "msg": "Too many new orders; current limit is 3 orders per 10 SECOND."}


def _resting_price(server: RunningServer) -> Decimal:
    bid = server.state.venue.market("BTCUSDT").bid
    assert bid is not None
    return (bid * D("0.9")).quantize(D("0.01"))


def _buy(raw: RawClient, key: ApiKey, price: Decimal | None = None, **extra: str) -> tuple[int, str, dict[str, object]]:
    """A 0.01 BTC buy: resting LIMIT at ``price``, else MARKET; (status, 10 s count header, body)."""
    params = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01", **extra}
    if price is None:
        params["type"] = "MARKET"
    else:
        params.update(type="LIMIT", timeInForce=extra.get("timeInForce", "GTC"), price=str(price))
    answer = raw.signed(key, "POST", "/api/v3/order", **params)
    return answer.status, answer.headers.get("X-MBX-ORDER-COUNT-10S", ""), answer.body


def _trade_through(server: RunningServer, price: Decimal, qty: str) -> None:
    """A public trade at ``price`` (filling the buys resting above it) on the server's own loop (where the replay would apply it)."""

    async def trade() -> None:
        server.state.venue.on_trade("BTCUSDT", price, D(qty))

    asyncio.run_coroutine_threadsafe(trade(), server.loop).result(10)


def test_orders_when_each_fills_at_once_then_never_reach_the_limit(limited: Limited) -> None:
    key = limited.server.new_account()

    takers = [_buy(limited.raw, key) for _ in range(6)]  # twice the limit, all MARKET: each trades
    price = _resting_price(limited.server)
    makers = [_buy(limited.raw, key, price) for _ in range(3)]
    refused = _buy(limited.raw, key, price)

    assert [(s, c, b["status"]) for s, c, b in takers] == [(200, "1", "FILLED")] * 6  # +1, then -1 as it fills
    assert [(s, c) for s, c, _ in makers] == [(200, "1"), (200, "2"), (200, "3")]
    assert refused[0] == 429
    assert refused[2] == REFUSED


def test_orders_when_resting_order_fills_later_then_one_more_fits_and_cancel_or_expiry_frees_nothing(
    limited: Limited,
) -> None:
    server, raw = limited.server, limited.raw
    key = server.new_account()
    price = _resting_price(server)
    low = price - 100
    first = _buy(raw, key, price)
    expired = _buy(raw, key, low, timeInForce="IOC")  # expires unfilled: still counts
    third = _buy(raw, key, low)
    full = _buy(raw, key, low)

    _trade_through(server, price - 1, "0.004")  # the first order's first (partial) fill: -1
    after_fill = _buy(raw, key, low)
    _trade_through(server, price - 1, "0.003")  # its second fill: nothing
    after_second_fill = _buy(raw, key, low)
    cancel = raw.signed(key, "DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=third[2]["orderId"])
    after_cancel = _buy(raw, key, low)

    assert (first[1], expired[1], expired[2]["status"], third[1]) == ("1", "2", "EXPIRED", "3")
    assert (full[0], full[2]) == (429, REFUSED)
    assert after_fill[:2] == (200, "3")
    assert after_second_fill[0] == 429
    assert cancel.status == 200
    assert after_cancel[0] == 429  # canceling an order does not change the count


def test_orders_when_fill_in_a_later_window_then_current_count_lowered_never_below_zero(limited: Limited) -> None:
    server, raw, wall = limited.server, limited.raw, limited.wall
    key = server.new_account()
    price = _resting_price(server)
    early = [_buy(raw, key, price) for _ in range(2)]

    wall.advance(10)  # a new 10 s window: the count restarts at 0
    later = _buy(raw, key, price - 100)
    _trade_through(server, price - 1, "0.02")  # both early orders fill now: 1 - 1 - 1 -> 0, not -1
    after = [_buy(raw, key, price - 100) for _ in range(4)]

    assert [c for _, c, _ in early] == ["1", "2"]
    assert later[1] == "1"
    assert [(s, c) for s, c, _ in after[:3]] == [(200, "1"), (200, "2"), (200, "3")]  # no credit below zero
    assert after[3][2] == REFUSED


ACTIONS = st.lists(st.sampled_from(["taker", "maker", "fill", "cancel", "next window"]), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_order_count_when_any_sequence_then_equals_the_faqs_rules(
    offline_state: ServerState, actions: list[str]
) -> None:
    """Against a model of the FAQ's rules: +1 per accepted order, -1 at an order's first fill (never
    below zero, in the current window), nothing for cancels; makers rest at one price, filled FIFO."""
    now = [1_700_000_000 * 10**9]  # frozen: a window ends only when the test says so
    limiter = RateLimiter([RateLimit("ORDERS", "SECOND", 10, 1000)], lambda: now[0])
    limiter.watch(offline_state.venue)
    venue, account = offline_state.venue, f"model{next(_accounts)}"
    venue.deposit(account, "USDT", D(1_000_000))
    bid = venue.market("BTCUSDT").bid
    assert bid is not None
    price = (bid * D("0.5")).quantize(D("0.01"))
    expected, resting = 0, []  # resting: [order id, remaining, filled before]
    for action in actions:
        if action in ("taker", "maker"):
            params = OrderParams(Symbol("BTCUSDT"), Side.BUY, OrderType.MARKET if action == "taker" else OrderType.LIMIT,
                                 quantity=D("0.01"), price=None if action == "taker" else price,
                                 time_in_force=None if action == "taker" else TimeInForce.GTC)  # fmt: skip
            order = venue.place_order(account, params)
            limiter.count_order(account, order)
            expected += 1
            if action == "taker":
                expected = max(0, expected - 1)
            else:
                resting.append([order.order_id, D("0.01"), False])
        elif action == "fill" and resting:
            venue.on_trade("BTCUSDT", price - 1, D("0.006"))  # fills FIFO: the oldest, maybe the next one too
            left = D("0.006")
            for entry in list(resting):
                take = min(entry[1], left)
                if take <= 0:
                    break
                left -= take
                entry[1] -= take
                if not entry[2]:
                    entry[2], expected = True, max(0, expected - 1)
                if entry[1] == 0:
                    resting.remove(entry)
        elif action == "cancel" and resting:
            venue.cancel_order(account, "BTCUSDT", resting.pop()[0])
        elif action == "next window":
            now[0] += 10 * 10**9
            expected = 0
        assert limiter.order_usage(account)[0][1] == expected, action
    for order_id, *_ in resting:  # leave the shared state's book as it was
        venue.cancel_order(account, "BTCUSDT", order_id)
