"""The matching core: fills, balances, and Binance's exact errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import OrderStatus, OrderType, Side, TimeInForce
from thunes.simvenue.core import SimVenue
from thunes.simvenue.errors import VenueError
from thunes.simvenue.models import AccountUpdate, ExecutionReport
from thunes.simvenue.validation import OrderParams

D = Decimal
ACCOUNT = "alice"
MINUTE_NS = 60_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ns = 1_700_000_000_000_000_000

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def venue(clock: Clock) -> SimVenue:
    v = SimVenue(builtin_exchange_info().instruments, clock, seed=7)
    v.deposit(ACCOUNT, "USDT", D(10_000))
    v.deposit(ACCOUNT, "BTC", D(1))
    v.on_trade("BTCUSDT", D(30_000), D("0.5"))
    v.on_quote("BTCUSDT", D("29999.99"), D(2), D(30_000), D(2))
    return v


def _limit(side: Side, qty: str, price: str, tif: TimeInForce = TimeInForce.GTC, **kw: object) -> OrderParams:
    return OrderParams("BTCUSDT", side, OrderType.LIMIT, D(qty), price=D(price), time_in_force=tif, **kw)  # type: ignore[arg-type]


def _code(excinfo: pytest.ExceptionInfo[VenueError]) -> tuple[int, str]:
    return excinfo.value.code, excinfo.value.msg


def test_market_buy_when_quote_known_then_fills_at_ask_plus_base_slippage_fee_in_base(venue: SimVenue) -> None:
    order = venue.place_order(ACCOUNT, OrderParams("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1")))

    (fill,) = order.fills
    assert order.status is OrderStatus.FILLED
    assert fill.price == D("30015.00")  # 30000 * (1 + 5 bps), rounded up to the tick
    assert fill.commission == D("0.0001")
    assert fill.commission_asset == "BTC"
    balances = venue.balances(ACCOUNT)
    assert balances["USDT"].free == D(10_000) - D("3001.5")
    assert balances["BTC"].free == D("1.0999")


def test_market_buy_by_quote_qty_when_spent_then_notional_within_budget_and_qty_on_step(venue: SimVenue) -> None:
    order = venue.place_order(ACCOUNT, OrderParams("BTCUSDT", Side.BUY, OrderType.MARKET, quote_order_qty=D(100)))

    assert order.status is OrderStatus.FILLED
    assert order.cumulative_quote <= D(100)
    assert order.executed_qty == D("0.00333")  # 100 / 30015 rounded down to 0.00001
    assert order.executed_qty % D("0.00001") == 0


def test_limit_buy_when_resting_then_locks_quote_and_fills_only_on_trade_through(venue: SimVenue) -> None:
    order = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.2", "29000"))
    assert order.status is OrderStatus.NEW
    assert venue.balances(ACCOUNT)["USDT"].locked == D(5800)

    venue.on_trade("BTCUSDT", D(29000), D(5))  # at the limit: does not trade through
    assert venue.get_order(ACCOUNT, "BTCUSDT", order.order_id).status is OrderStatus.NEW
    venue.on_trade("BTCUSDT", D("28999.99"), D("0.05"))  # through, but only 0.05 traded
    partial = venue.get_order(ACCOUNT, "BTCUSDT", order.order_id)
    venue.on_trade("BTCUSDT", D("28990"), D(1))
    done = venue.get_order(ACCOUNT, "BTCUSDT", order.order_id)

    assert partial.status is OrderStatus.PARTIALLY_FILLED
    assert partial.executed_qty == D("0.05")
    assert done.status is OrderStatus.FILLED
    assert all(f.price == D(29000) and f.is_maker for f in done.fills)
    balances = venue.balances(ACCOUNT)
    assert balances["USDT"].locked == 0
    assert balances["USDT"].free == D(10_000) - D(5800)
    assert balances["BTC"].free == D(1) + D("0.2") - D("0.0002")


def test_limit_sell_when_canceled_by_client_id_then_base_unlocked(venue: SimVenue) -> None:
    venue.place_order(ACCOUNT, _limit(Side.SELL, "0.4", "31000", client_order_id="sell-1"))
    assert venue.balances(ACCOUNT)["BTC"].locked == D("0.4")

    canceled = venue.cancel_order(ACCOUNT, "BTCUSDT", client_id="sell-1")

    assert canceled.status is OrderStatus.CANCELED
    assert venue.balances(ACCOUNT)["BTC"].locked == 0
    assert venue.balances(ACCOUNT)["BTC"].free == D(1)
    with pytest.raises(VenueError) as again:
        venue.cancel_order(ACCOUNT, "BTCUSDT", client_id="sell-1")
    assert _code(again) == (-2011, "Unknown order sent.")


def test_limit_buy_when_marketable_then_takes_at_ask_and_rests_the_rest(venue: SimVenue) -> None:
    venue.on_quote("BTCUSDT", D("29999.99"), D(2), D(30_000), D("0.1"))

    order = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.25", "30100"))

    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.executed_qty == D("0.1")
    assert order.fills[0].price == D("30015.00")
    assert not order.fills[0].is_maker
    assert venue.balances(ACCOUNT)["USDT"].locked == D("0.15") * D(30100)


def test_ioc_and_fok_when_liquidity_short_then_expire(venue: SimVenue) -> None:
    venue.on_quote("BTCUSDT", D("29999.99"), D(2), D(30_000), D("0.1"))

    ioc = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.2", "30100", TimeInForce.IOC))
    fok = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.2", "30100", TimeInForce.FOK))

    assert ioc.status is OrderStatus.EXPIRED
    assert ioc.executed_qty == D("0.1")
    assert fok.status is OrderStatus.EXPIRED
    assert fok.executed_qty == 0
    assert venue.balances(ACCOUNT)["USDT"].locked == 0


def test_limit_maker_when_it_would_cross_then_rejected(venue: SimVenue) -> None:
    params = OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT_MAKER, D("0.1"), price=D(30_000))

    with pytest.raises(VenueError) as rejected:
        venue.place_order(ACCOUNT, params)

    assert _code(rejected) == (-2010, "Order would immediately match and take.")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (_limit(Side.BUY, "0.0001", "30000"), (-1013, "Filter failure: NOTIONAL")),
        (_limit(Side.BUY, "0.01", "30000.001"), (-1013, "Filter failure: PRICE_FILTER")),
        (_limit(Side.BUY, "0.000011", "30000"), (-1013, "Filter failure: LOT_SIZE")),
        (_limit(Side.BUY, "0.01", "200000"), (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")),
        (_limit(Side.BUY, "1", "29000"), (-2010, "Account has insufficient balance for requested action.")),
        (_limit(Side.SELL, "2", "31000"), (-2010, "Account has insufficient balance for requested action.")),
        (
            OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.01"), price=D(30_000)),
            (-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."),
        ),
        (
            OrderParams("BTCUSDT", Side.BUY, OrderType.MARKET),
            (-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"),
        ),
        (
            _limit(Side.BUY, "0.01", "30000", client_order_id="bad id!"),
            (
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
            ),
        ),
        (OrderParams("NOPEUSDT", Side.BUY, OrderType.MARKET, D(1)), (-1121, "Invalid symbol.")),
    ],
)
def test_place_when_invalid_then_binance_error(venue: SimVenue, params: OrderParams, expected: tuple[int, str]) -> None:
    with pytest.raises(VenueError) as rejected:
        venue.place_order(ACCOUNT, params)

    assert _code(rejected) == expected
    assert venue.open_orders(ACCOUNT) == []


def test_place_when_client_id_reused_while_open_then_duplicate_and_after_cancel_accepted(venue: SimVenue) -> None:
    venue.place_order(ACCOUNT, _limit(Side.BUY, "0.01", "29000", client_order_id="dup"))

    with pytest.raises(VenueError) as duplicate:
        venue.place_order(ACCOUNT, _limit(Side.BUY, "0.01", "29000", client_order_id="dup"))
    venue.cancel_order(ACCOUNT, "BTCUSDT", client_id="dup")
    again = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.01", "29000", client_order_id="dup"))

    assert _code(duplicate) == (-2010, "Duplicate order sent.")
    assert again.status is OrderStatus.NEW


def test_client_id_when_used_on_two_symbols_then_each_symbol_has_its_own_order(venue: SimVenue) -> None:
    venue.deposit(ACCOUNT, "USDT", D(10_000))
    btc = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.01", "29000", client_order_id="same"))
    eth_params = OrderParams("ETHUSDT", Side.BUY, OrderType.LIMIT, D("0.1"), price=D(2000),
                             time_in_force=TimeInForce.GTC, client_order_id="same")  # fmt: skip
    eth = venue.place_order(ACCOUNT, eth_params)  # the same id on another symbol is no duplicate

    assert venue.get_order(ACCOUNT, "ETHUSDT", client_id="same").order_id == eth.order_id
    assert venue.get_order(ACCOUNT, "BTCUSDT", client_id="same").order_id == btc.order_id
    venue.cancel_order(ACCOUNT, "ETHUSDT", client_id="same")
    assert venue.get_order(ACCOUNT, "BTCUSDT", client_id="same").status is OrderStatus.NEW
    with pytest.raises(VenueError) as duplicate:
        venue.place_order(ACCOUNT, _limit(Side.BUY, "0.01", "29000", client_order_id="same"))
    assert _code(duplicate) == (-2010, "Duplicate order sent.")


def test_get_order_when_unknown_then_2013(venue: SimVenue) -> None:
    with pytest.raises(VenueError) as missing:
        venue.get_order(ACCOUNT, "BTCUSDT", order_id=999)

    assert _code(missing) == (-2013, "Order does not exist.")


def test_amend_when_quantity_reduced_then_priority_kept_and_funds_released(venue: SimVenue) -> None:
    first = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.15", "29000", client_order_id="a"))
    second = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.15", "29000", client_order_id="b"))

    amended = venue.amend_order(ACCOUNT, "BTCUSDT", D("0.1"), order_id=first.order_id, new_client_id="a2")
    venue.on_trade("BTCUSDT", D(28_000), D("0.1"))

    assert amended.orig_qty == D("0.1")
    assert amended.client_order_id == "a2"
    assert venue.get_order(ACCOUNT, "BTCUSDT", first.order_id).status is OrderStatus.FILLED  # still first in line
    assert venue.get_order(ACCOUNT, "BTCUSDT", second.order_id).status is OrderStatus.NEW
    assert venue.balances(ACCOUNT)["USDT"].locked == D("0.15") * 29000
    with pytest.raises(VenueError) as bigger:
        venue.amend_order(ACCOUNT, "BTCUSDT", D("0.3"), order_id=second.order_id)
    assert _code(bigger) == (-2038, "Order amend (quantity increase) is not supported.")


def test_reports_when_order_fills_then_new_trade_and_balances_in_order(venue: SimVenue) -> None:
    venue.drain(ACCOUNT)

    venue.place_order(ACCOUNT, OrderParams("BTCUSDT", Side.SELL, OrderType.MARKET, D("0.1")))
    reports = venue.drain(ACCOUNT)

    kinds = [r.execution_type if isinstance(r, ExecutionReport) else "ACCOUNT" for r in reports]
    assert kinds == ["NEW", "TRADE", "ACCOUNT"]
    account = reports[-1]
    assert isinstance(account, AccountUpdate)
    assert dict((a, f) for a, f, _ in account.balances)["BTC"] == D("0.9")
    assert venue.drain(ACCOUNT) == []


def test_avg_price_when_trades_age_out_then_volume_weighted_over_five_minutes(venue: SimVenue, clock: Clock) -> None:
    clock.ns += 10 * MINUTE_NS
    venue.on_trade("BTCUSDT", D(100), D(1))
    clock.ns += MINUTE_NS
    venue.on_trade("BTCUSDT", D(200), D(3))

    assert venue.avg_price("BTCUSDT") == D(175)
    clock.ns += 5 * MINUTE_NS + 1
    assert venue.avg_price("BTCUSDT") == D(200)  # no trade left in the window: the last price


def test_random_client_ids_when_same_seed_then_same_sequence(clock: Clock) -> None:
    def ids(seed: int) -> list[str]:
        v = SimVenue(builtin_exchange_info().instruments, clock, seed=seed)
        v.deposit("a", "USDT", D(1000))
        v.on_trade("BTCUSDT", D(30_000), D(1))
        return [v.place_order("a", _limit(Side.BUY, "0.001", "29000")).client_order_id for _ in range(3)]

    assert ids(1) == ids(1)
    assert ids(1) != ids(2)


def test_answers_when_orders_end_at_once_or_rest_then_final_state_and_only_resting_ones_open(venue: SimVenue) -> None:
    venue.drain(ACCOUNT)

    market = venue.place_order(ACCOUNT, OrderParams("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1")))
    venue.on_quote("BTCUSDT", D("29999.99"), D(2), D(30_000), D("0.05"))
    ioc = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.2", "30000", TimeInForce.IOC))  # takes 0.05, rest expires
    resting = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.01", "29000"))
    reports = [r for r in venue.drain(ACCOUNT) if isinstance(r, ExecutionReport)]

    assert (market.status, ioc.status, resting.status) == (OrderStatus.FILLED, OrderStatus.EXPIRED, OrderStatus.NEW)
    assert ioc.executed_qty == D("0.05")
    assert market == [r.order for r in reports if r.order.order_id == market.order_id][-1]
    assert ioc == [r.order for r in reports if r.order.order_id == ioc.order_id][-1]
    assert resting.locked == D(290)  # the answer shows the lock taken after the NEW report
    assert [o.order_id for o in venue.open_orders(ACCOUNT)] == [resting.order_id]
    market.fills.clear()  # answers are copies: the venue's record is untouched
    assert len(venue.get_order(ACCOUNT, "BTCUSDT", market.order_id).fills) == 1


def test_client_id_when_reused_three_times_then_latest_found_and_after_restore_too(
    venue: SimVenue, clock: Clock
) -> None:
    ids = []
    for _ in range(3):
        ids.append(venue.place_order(ACCOUNT, _limit(Side.BUY, "0.01", "29000", client_order_id="again")).order_id)
        venue.cancel_order(ACCOUNT, "BTCUSDT", client_id="again")
    last = venue.place_order(ACCOUNT, _limit(Side.BUY, "0.01", "29000", client_order_id="again"))
    restored = SimVenue(builtin_exchange_info().instruments, clock, seed=7)
    restored.import_state(venue.export_state())

    for v in (venue, restored):
        assert v.get_order(ACCOUNT, "BTCUSDT", client_id="again").order_id == last.order_id  # the open one
        v.cancel_order(ACCOUNT, "BTCUSDT", client_id="again")
        assert v.get_order(ACCOUNT, "BTCUSDT", client_id="again").order_id == last.order_id  # then the latest
        assert [v.get_order(ACCOUNT, "BTCUSDT", order_id=i).client_order_id for i in ids] == ["again"] * 3
