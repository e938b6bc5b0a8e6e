"""Every enum-like parameter of the REST API against unknown and oddly written values: each answers
Binance's documented error for that parameter, never a silent default (an empty list, the first value,
a case-folded match). Binance's enums are exact spellings: ``buy``, ``Limit``, ``1H`` or ``SPOT `` are
not values (BOOLEAN parameters alone take ``TRUE`` or ``True`` as well). Each allowed value is also sent once, so the table cannot drift from what the venue accepts.

Found by this table (issue 15 follow-up): ``exchangeInfo?permissions=FOO`` (or ``["FOO"]``, ``spot``,
``[]``) answered an empty symbol list instead of an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.simserver.conftest import HttpResult, RawClient, RunningServer
from tests.integration.simserver.test_rest_errors import assert_binance_error
from thunes.adapters.venues.simserver.rest_market import KLINE_INTERVALS, PERMISSIONS

LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
         "price": "1000.00"}  # fmt: skip
REPLACE = {**LIMIT, "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": "999999999"}
STATUSES = ("TRADING", "HALT", "BREAK")
BOOLEAN = ("true", "false")


@dataclass(frozen=True)
class Enum:
    """One enum-like parameter of one endpoint: its values, its error, and a request it is valid in."""

    method: str
    path: str
    name: str
    allowed: tuple[str, ...]
    code: int
    base: tuple[tuple[str, str], ...] = ()
    signed: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {self.name}"


def _enum(method: str, path: str, name: str, allowed: tuple[str, ...], code: int,
          base: dict[str, str] | None = None, *, signed: bool = False) -> Enum:  # fmt: skip
    return Enum(method, path, name, allowed, code, tuple((base or {}).items()), signed)


BTC = {"symbol": "BTCUSDT"}
ENUMS = (
    _enum("GET", "/api/v3/exchangeInfo", "permissions", PERMISSIONS, -1100),
    _enum("GET", "/api/v3/exchangeInfo", "symbolStatus", STATUSES, -1122),
    _enum("GET", "/api/v3/exchangeInfo", "showPermissionSets", BOOLEAN, -1100),
    _enum("GET", "/api/v3/depth", "symbolStatus", STATUSES, -1122, BTC),
    _enum("GET", "/api/v3/klines", "interval", KLINE_INTERVALS, -1120, BTC),
    _enum("GET", "/api/v3/uiKlines", "interval", KLINE_INTERVALS, -1120, BTC),
    _enum("GET", "/api/v3/ticker/24hr", "type", ("FULL", "MINI"), -1139, BTC),
    _enum("GET", "/api/v3/ticker/24hr", "symbolStatus", STATUSES, -1122, BTC),
    _enum("GET", "/api/v3/ticker/price", "symbolStatus", STATUSES, -1122, BTC),
    _enum("GET", "/api/v3/ticker/bookTicker", "symbolStatus", STATUSES, -1122, BTC),
    *(
        _enum("POST", path, name, allowed, code, LIMIT, signed=True)
        for path in ("/api/v3/order/test", "/api/v3/order")
        for name, allowed, code in (
            ("side", ("BUY", "SELL"), -1117),
            (
                "type",
                ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER"),
                -1116,
            ),
            ("timeInForce", ("GTC", "IOC", "FOK"), -1115),
            ("newOrderRespType", ("ACK", "RESULT", "FULL"), -1130),
            (
                "selfTradePreventionMode",
                ("NONE", "EXPIRE_MAKER", "EXPIRE_TAKER", "EXPIRE_BOTH", "DECREMENT", "TRANSFER"),
                -1130,
            ),
        )
    ),
    _enum("POST", "/api/v3/order/test", "computeCommissionRates", BOOLEAN, -1100, LIMIT, signed=True),
    _enum(
        "DELETE",
        "/api/v3/order",
        "cancelRestrictions",
        ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"),
        -1145,
        {**BTC, "orderId": "999999999"},
        signed=True,
    ),
    _enum(
        "POST",
        "/api/v3/order/cancelReplace",
        "cancelReplaceMode",
        ("STOP_ON_FAILURE", "ALLOW_FAILURE"),
        -1130,
        REPLACE,
        signed=True,
    ),
    _enum(
        "POST",
        "/api/v3/order/cancelReplace",
        "orderRateLimitExceededMode",
        ("DO_NOTHING", "CANCEL_ONLY"),
        -1130,
        REPLACE,
        signed=True,
    ),
    _enum(
        "POST",
        "/api/v3/order/cancelReplace",
        "cancelRestrictions",
        ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"),
        -1145,
        REPLACE,
        signed=True,
    ),
    _enum("GET", "/api/v3/account", "omitZeroBalances", BOOLEAN, -1100, signed=True),
)


def _odd(enum: Enum) -> list[str]:
    """Unknown and oddly written values of ``enum``: none of them is one of its values."""
    first = enum.allowed[0]
    values = {
        "FOO",
        "0",
        "-1",
        "null",
        "[]",
        "%",
        "\u0130",
        first + " ",
        " " + first,
        first + "\x00",
        first * 2,
        first.lower(),
        first.capitalize(),
        first.swapcase(),
        first.replace("_", "-"),
        "\uff33POT",
    }
    if enum.name == "interval":
        values |= {"1H", "1D", "1W", "60m", "1", "m1"}  # 1M is a month, 1m a minute: case is meaning
    if enum.name == "permissions":
        values |= {"[]", '["FOO"]', '["SPOT","FOO"]', '["spot"]', "TRD_GRP_001", "TRD_GRP_026", "TRD_GRP_2"}
    if enum.allowed == BOOLEAN:  # booleans are read case-insensitively (TRUE, True): a spelling, not a default
        values = {v for v in values if v.lower() not in BOOLEAN} | {"yes", "1", "t", "on"}
    return sorted(v for v in values if v not in enum.allowed)


CASES = [pytest.param(e, v, id=f"{e.id}={v!r}") for e in ENUMS for v in _odd(e)]
FINER = {("interval", "1s")}  # finer than the replayed 1m candles: -1120 by design (test_kline_intervals.py)
VALID = [
    pytest.param(e, v, id=f"{e.id}={v}")
    for e in ENUMS
    for v in e.allowed
    if e.path != "/api/v3/order" and (e.name, v) not in FINER  # real orders: the test endpoint covers them
]


def _send(raw: RawClient, server: RunningServer, enum: Enum, value: str) -> tuple[HttpResult, Any]:
    params = {**dict(enum.base), enum.name: value}
    if not enum.signed:
        return raw.request(enum.method, enum.path, urlencode(params)), None
    key = server.new_account()
    return raw.signed(key, enum.method, enum.path, **params), key


@pytest.mark.parametrize(("enum", "value"), CASES)
def test_enum_when_value_unknown_or_oddly_written_then_binance_error_not_a_default(
    raw: RawClient, sim_server: RunningServer, enum: Enum, value: str
) -> None:
    result, key = _send(raw, sim_server, enum, value)

    assert_binance_error(result, 400, enum.code)
    if key is not None:  # nothing happened to the account
        assert sim_server.state.venue.all_orders(key.account, "BTCUSDT") == []


@pytest.mark.parametrize(("enum", "value"), VALID)
def test_enum_when_value_allowed_then_not_refused_as_unknown(
    raw: RawClient, sim_server: RunningServer, enum: Enum, value: str
) -> None:
    result, _ = _send(raw, sim_server, enum, value)

    body = result.body if isinstance(result.body, dict) else {}
    assert body.get("code") != enum.code, (result.status, result.body)


@pytest.mark.parametrize("value", ["SPOT", '["SPOT"]', '["MARGIN","SPOT"]', '["SPOT","SPOT"]'])
def test_exchange_info_when_permissions_include_spot_then_the_spot_symbols(raw: RawClient, value: str) -> None:
    result = raw.public("/api/v3/exchangeInfo", permissions=value)

    assert result.status == 200
    assert {s["symbol"] for s in result.body["symbols"]} >= {"BTCUSDT", "ETHUSDT"}


@pytest.mark.parametrize("value", ["MARGIN", '["LEVERAGED","TRD_GRP_025"]'])
def test_exchange_info_when_permissions_known_but_not_spot_then_no_symbol(raw: RawClient, value: str) -> None:
    result = raw.public("/api/v3/exchangeInfo", permissions=value)

    assert (result.status, result.body["symbols"]) == (200, [])
