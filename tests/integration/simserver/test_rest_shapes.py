"""Our JSON against recorded Binance responses: same keys, same JSON types, recursively.

``nautilus_rust_spot`` holds current response samples: key sets must match exactly (bar keys the
docs call conditional). ``nautilus_py_resources`` holds older recordings, from before Binance
added fields: each of their keys must be in ours with the same type. Lists are compared through
their first element, except rows of mixed scalars (a kline) which are compared position by position.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from thunes.adapters.venues.simserver.formats import account_position_event, execution_report_event
from thunes.domain.enums import OrderType, Side, TimeInForce
from thunes.simvenue.models import AccountUpdate, ExecutionReport
from thunes.simvenue.validation import OrderParams

D = Decimal

# fixture file -> (our response name, keys the docs call optional or conditional)
RUST_HTTP = {
    "account_response.json": ("account", ()),
    "account_trades_response.json": ("my_trades", ()),
    "all_orders_response.json": ("all_orders", ()),
    "avg_price_response.json": ("avg_price", ()),
    "book_ticker_response.json": ("book_ticker", ()),
    "cancel_open_orders_response.json": ("cancel_open_orders", ()),
    "cancel_order_response.json": ("cancel_order", ()),
    "depth_response.json": ("depth", ()),
    "exchange_info_response.json": ("exchange_info", ("sors",)),  # "Present only when SOR is available"
    "klines_response.json": ("klines", ()),
    "new_order_full_response.json": ("new_order_full", ()),
    "open_orders_response.json": ("open_orders", ()),
    "order_response.json": ("order", ()),
    "ping_response.json": ("ping", ()),
    "server_time_response.json": ("time", ()),
    "ticker_24hr_response.json": ("ticker_24hr", ()),
    "ticker_price_response.json": ("ticker_price", ()),
    "trades_response.json": ("trades", ()),
}
PY_HTTP = {
    "http_spot_market_avg_price.json": "avg_price",
    "http_spot_market_book_ticker.json": "book_ticker",
    "http_spot_market_depth.json": "depth",
    "http_spot_market_exchange_info.json": "exchange_info",
    "http_spot_market_klines.json": "klines",
    "http_spot_market_ping.json": "ping",
    "http_spot_market_ticker_price.json": "ticker_price",
    "http_spot_market_time.json": "time",
    "http_spot_wallet_account.json": "account",
    "http_spot_market_agg_trades.json": "agg_trades",
    "http_spot_market_historical_trades.json": "historical_trades",
    "http_spot_market_trades.json": "trades",
}
NOT_SERVED = {  # the sapi fee endpoints
    "http_wallet_trading_fee.json",
    "http_wallet_trading_fees.json",
}
# user data events: fixture -> our event of the same execution type
RUST_EVENTS = {
    "execution_report_new.json": "NEW",
    "execution_report_trade.json": "TRADE",
    "execution_report_canceled.json": "CANCELED",
    "execution_report_expired.json": "EXPIRED",
    "execution_report_wrapped.json": "NEW",
    "account_position.json": "POSITION",
    "account_position_wrapped.json": "POSITION",
}
PY_EVENTS = {
    "ws_spot_execution_report_new.json": "NEW",
    "ws_spot_execution_report_trade.json": "TRADE",
    "ws_spot_execution_report_canceled.json": "CANCELED",
    "ws_spot_execution_report_expired.json": "EXPIRED",
}
EVENT_KEYS = frozenset("eEscSofqpPFgCxXrilzLnNTtIwmMOZYQWV") | {"eR"}  # user-data-stream.md, incl. conditional


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "number", str: "str", dict: "object", list: "array"}[type(value)]


def assert_shape(
    ours: Any, theirs: Any, path: str = "$", *, exact: bool, optional: frozenset[str] = frozenset()
) -> None:
    """``ours`` has ``theirs``'s keys (exactly, or at least) and JSON types, recursively."""
    assert _kind(ours) == _kind(theirs), f"{path}: ours is {_kind(ours)}, Binance's is {_kind(theirs)}"
    if isinstance(theirs, dict):
        missing = set(theirs) - set(ours) - optional
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        if exact:
            extra = set(ours) - set(theirs)
            assert not extra, f"{path}: extra keys {sorted(extra)}"
        for key in set(theirs) & set(ours):
            assert_shape(ours[key], theirs[key], f"{path}.{key}", exact=exact)
    elif isinstance(theirs, list) and theirs and ours:
        scalars = all(not isinstance(v, dict | list) for v in theirs)
        if scalars and len({_kind(v) for v in theirs}) > 1:  # a row such as a kline
            assert len(ours) == len(theirs), f"{path}: {len(ours)} fields, Binance has {len(theirs)}"
            for i, (mine, recorded) in enumerate(zip(ours, theirs, strict=True)):
                assert_shape(mine, recorded, f"{path}[{i}]", exact=exact)
        else:
            assert_shape(ours[0], theirs[0], f"{path}[0]", exact=exact)


def _unwrap(payload: Any) -> Any:
    if isinstance(payload, dict) and set(payload) in ({"subscriptionId", "event"}, {"stream", "data"}):
        return payload.get("event", payload.get("data"))
    return payload


@pytest.fixture(scope="module")
def responses(sim_server, raw) -> dict[str, Any]:
    """Each endpoint called once, on an account with filled, resting and canceled orders."""
    key = sim_server.new_account()
    m = sim_server.state.venue.market("BTCUSDT")
    below = str((m.bid * D("0.9")).quantize(D("0.01")))
    limit = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": below,
    }

    def ok(result: Any) -> Any:
        assert result.status == 200, result.body
        return result.body

    out: dict[str, Any] = {}
    for name, path, params in (
        ("ping", "/api/v3/ping", {}),
        ("time", "/api/v3/time", {}),
        ("exchange_info", "/api/v3/exchangeInfo", {}),
        ("depth", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 10}),
        ("klines", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": 5}),
        ("avg_price", "/api/v3/avgPrice", {"symbol": "BTCUSDT"}),
        ("book_ticker", "/api/v3/ticker/bookTicker", {"symbol": "BTCUSDT"}),
        ("ticker_price", "/api/v3/ticker/price", {"symbol": "BTCUSDT"}),
        ("ticker_24hr", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}),
        ("trades", "/api/v3/trades", {"symbol": "BTCUSDT", "limit": 5}),
        ("historical_trades", "/api/v3/historicalTrades", {"symbol": "BTCUSDT", "limit": 5}),
        ("agg_trades", "/api/v3/aggTrades", {"symbol": "BTCUSDT", "limit": 5}),
    ):
        out[name] = ok(raw.public(path, **params))
    out["new_order_full"] = ok(raw.signed(key, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                                          quantity="0.01"))  # fmt: skip
    out["my_trades"] = ok(raw.signed(key, "GET", "/api/v3/myTrades", symbol="BTCUSDT"))
    resting = ok(raw.signed(key, "POST", "/api/v3/order", **limit))
    out["order"] = ok(raw.signed(key, "GET", "/api/v3/order", symbol="BTCUSDT", orderId=resting["orderId"]))
    out["open_orders"] = ok(raw.signed(key, "GET", "/api/v3/openOrders", symbol="BTCUSDT"))
    out["all_orders"] = ok(raw.signed(key, "GET", "/api/v3/allOrders", symbol="BTCUSDT"))
    out["cancel_order"] = ok(raw.signed(key, "DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=resting["orderId"]))
    ok(raw.signed(key, "POST", "/api/v3/order", **limit))
    ok(raw.signed(key, "POST", "/api/v3/order", **{**limit, "price": str(D(below) - 1)}))
    out["cancel_open_orders"] = ok(raw.signed(key, "DELETE", "/api/v3/openOrders", symbol="BTCUSDT"))
    out["account"] = ok(raw.signed(key, "GET", "/api/v3/account"))
    return out


@pytest.fixture
def events(offline_state) -> dict[str, Any]:
    """User data events of a filled, a resting, a canceled and an expired order, by execution type."""
    venue = offline_state.venue
    venue.deposit("events", "USDT", D(100_000))
    venue.deposit("events", "BTC", D(1))
    m = venue.market("BTCUSDT")
    assert m.bid is not None
    assert m.ask is not None
    below, above = (m.bid * D("0.9")).quantize(D("0.01")), (m.ask * D("1.1")).quantize(D("0.01"))
    venue.place_order("events", OrderParams("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    resting = venue.place_order(
        "events",
        OrderParams("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.01"), price=below, time_in_force=TimeInForce.GTC),
    )
    venue.cancel_order("events", "BTCUSDT", resting.order_id)
    venue.place_order(
        "events",
        OrderParams("BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.01"), price=above, time_in_force=TimeInForce.IOC),
    )
    out: dict[str, Any] = {}
    for report in venue.drain("events"):
        if isinstance(report, ExecutionReport):
            event = execution_report_event(report)
            if report.execution_type != "NEW" or (event["o"], event["f"]) == ("LIMIT", "GTC"):  # NEW: a resting order
                out.setdefault(report.execution_type, event)
        elif isinstance(report, AccountUpdate):
            out.setdefault("POSITION", account_position_event(report))
    assert set(out) == {"NEW", "TRADE", "CANCELED", "EXPIRED", "POSITION"}
    return out


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("fixture", sorted(RUST_HTTP))
def test_rest_response_when_compared_to_current_binance_sample_then_same_keys_and_types(
    shared_data, responses, fixture
):
    name, optional = RUST_HTTP[fixture]
    theirs = _load(shared_data / "binance" / "nautilus_rust_spot" / "http_json" / fixture)
    assert_shape(responses[name], theirs, exact=True, optional=frozenset(optional))


@pytest.mark.parametrize("fixture", sorted(PY_HTTP))
def test_rest_response_when_compared_to_older_recording_then_every_recorded_key_with_its_type(
    shared_data, responses, fixture
):
    theirs = _load(shared_data / "binance" / "nautilus_py_resources" / fixture)
    assert_shape(responses[PY_HTTP[fixture]], theirs, exact=False)


@pytest.mark.parametrize(("folder", "fixture", "kind"), [
    *(("nautilus_rust_spot/user_data_json", f, k) for f, k in sorted(RUST_EVENTS.items())),
    *(("nautilus_py_resources", f, k) for f, k in sorted(PY_EVENTS.items())),
])  # fmt: skip
def test_user_data_event_when_compared_to_recording_then_recorded_keys_and_types(
    shared_data, events, folder, fixture, kind
):
    theirs = _unwrap(_load(shared_data / "binance" / folder / fixture))
    ours = events[kind]
    assert_shape(ours, theirs, exact=False)
    if kind != "POSITION":
        assert set(ours) <= EVENT_KEYS, f"undocumented keys {sorted(set(ours) - EVENT_KEYS)}"


def test_fixtures_when_listed_then_each_is_compared_or_known_not_served(shared_data):
    rust = {p.name for p in (shared_data / "binance" / "nautilus_rust_spot" / "http_json").glob("*.json")}
    py = {p.name for p in (shared_data / "binance" / "nautilus_py_resources").glob("http_*.json")}
    assert rust | py == set(RUST_HTTP) | set(PY_HTTP) | NOT_SERVED
