"""The in-process venue adapter sends requests on the price and lot grid through the venue's integer
entry: its answers must stay those of the ``Decimal`` entry, digits and errors included."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.sim_inprocess import InProcessVenue, report_of
from thunes.domain import OrderRequest, OrderType, Side, Symbol
from thunes.domain.enums import TimeInForce
from thunes.domain.identifiers import ClientOrderId
from thunes.domain.venue import OrderReport, RejectedByVenueError
from thunes.simvenue import OrderParams, SimVenue
from thunes.simvenue.errors import VenueError

D = Decimal
BTC = Symbol("BTCUSDT")
_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT

# (side, type, quantity, price, time in force): on the grid, off it, extra trailing digits, filter failures
REQUESTS = [
    (Side.BUY, _MARKET, "0.00100", None, None),
    (Side.BUY, _MARKET, "0.0010000", None, None),  # the request's own digits must reach the report
    (Side.BUY, _MARKET, "0.001234", None, None),  # off the step: LOT_SIZE
    (Side.BUY, _MARKET, "0.00000001", None, None),  # below the minimum
    (Side.SELL, _MARKET, "0.0005", None, None),
    (Side.SELL, _MARKET, "5", None, None),  # more than held
    (Side.BUY, _LIMIT, "0.00100", "29000.00", TimeInForce.GTC),
    (Side.BUY, _LIMIT, "0.00100", "29000.005", TimeInForce.GTC),  # off the tick: PRICE_FILTER
    (Side.SELL, _LIMIT, "0.0002", "31000.0000", TimeInForce.IOC),
    (Side.BUY, _LIMIT, "0.00100", "1", TimeInForce.GTC),  # far below the average price: PERCENT_PRICE_BY_SIDE
    (Side.BUY, _LIMIT, "1E+3", "30000", TimeInForce.GTC),  # more than the balance
]


def _venue() -> SimVenue:
    info = builtin_exchange_info()
    core = SimVenue(info.instruments, lambda: 1_700_000_000_000_000_000, user_stream=False)
    core.deposit("me", "USDT", D(1000))
    core.deposit("me", "BTC", D("0.01"))
    core.on_trade("BTCUSDT", D(30_000), D(1))
    core.on_quote("BTCUSDT", D("29999.99"), D(5), D(30_000), D(5))
    return core


def _decimal_entry(core: SimVenue, request: OrderRequest) -> OrderReport | tuple[int | None, str]:
    params = OrderParams(str(request.symbol), request.side, request.order_type, request.quantity, None,
                         request.price, request.time_in_force, str(request.client_order_id))  # fmt: skip
    try:
        return report_of(core.place_order("me", params), request.client_order_id, request.symbol)
    except VenueError as e:
        return (e.code, e.msg)


def _adapter(adapter: InProcessVenue, request: OrderRequest) -> OrderReport | tuple[int | None, str]:
    try:
        return asyncio.run(adapter.submit(request))
    except RejectedByVenueError as e:
        return (e.code, str(e.args[0]))


def test_submit_when_requests_on_and_off_the_grid_then_same_answers_as_the_decimal_entry() -> None:
    info = builtin_exchange_info()
    expected_core, actual_core = _venue(), _venue()
    adapter = InProcessVenue(actual_core, "me", info)
    answers = []
    for n, (side, kind, qty, price, tif) in enumerate(REQUESTS):
        request = OrderRequest(ClientOrderId(f"c{n}"), BTC, side, kind, D(qty),
                               None if price is None else D(price), time_in_force=tif)  # fmt: skip
        expected, actual = _decimal_entry(expected_core, request), _adapter(adapter, request)
        assert repr(actual) == repr(expected), request
        answers.append(actual)
    assert actual_core.balances("me") == expected_core.balances("me")
    # The list holds fills and refusals both, so the comparison above covered each path.
    assert any(isinstance(a, tuple) for a in answers)
    assert any(isinstance(a, OrderReport) and a.fills for a in answers)


@pytest.mark.parametrize("qty", ["0.0010000", "0.00100"])
def test_submit_when_on_the_grid_then_the_report_keeps_the_request_digits(qty: str) -> None:
    adapter = InProcessVenue(_venue(), "me", builtin_exchange_info())
    request = OrderRequest(ClientOrderId("digits"), BTC, Side.BUY, _MARKET, D(qty))
    report = asyncio.run(adapter.submit(request))
    assert str(report.quantity) == qty
    assert str(report.fills[0].quantity) == qty
