"""An unmodified ``ccxt.binance`` trading against the simulated server over a real socket."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from thunes.adapters.venues.simserver.state import ApiKey

D = Decimal
BTC = "BTC/USDT"


def _bid_ask(server, symbol: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
    m = server.state.venue.market(symbol)
    assert m.bid is not None
    assert m.ask is not None
    return m.bid, m.ask


# --- market data ---------------------------------------------------------------------------------
def test_load_markets_when_served_then_precision_and_limits_equal_instrument_filters(exchange, sim_server):
    for instrument in sim_server.state.exchange_info.instruments.values():
        market = exchange.market(f"{instrument.base_asset}/{instrument.quote_asset}")
        assert market["spot"] is True
        assert D(str(market["precision"]["price"])) == instrument.tick_size
        assert D(str(market["precision"]["amount"])) == instrument.step_size
        assert D(str(market["limits"]["amount"]["min"])) == instrument.lot_size.min_qty
        assert D(str(market["limits"]["amount"]["max"])) == instrument.lot_size.max_qty
        assert D(str(market["limits"]["price"]["min"])) == instrument.price_filter.min_price
        assert D(str(market["limits"]["price"]["max"])) == instrument.price_filter.max_price
        assert instrument.notional is not None
        assert D(str(market["limits"]["cost"]["min"])) == instrument.notional.min_notional
        assert D(str(market["limits"]["cost"]["max"])) == instrument.notional.max_notional


def test_fetch_ohlcv_when_replayed_then_candles_match_history_and_aggregate(exchange, sim_server):
    rows = exchange.fetch_ohlcv(BTC, "1m", limit=50)
    history = sim_server.state.candles.klines("BTCUSDT", sim_server.state.candles.timeframe, None, None, 50)

    assert len(rows) == 50
    assert [r[0] for r in rows] == [c.open_ms for c in history]
    assert [D(str(r[4])) for r in rows] == [c.close for c in history]
    five = exchange.fetch_ohlcv(BTC, "5m", limit=10)
    assert len(five) == 10
    assert all(r[0] % 300_000 == 0 for r in five)
    since = exchange.fetch_ohlcv(BTC, "1m", since=history[0].open_ms, limit=3)
    assert [r[0] for r in since] == [c.open_ms for c in history[:3]]


def test_fetch_order_book_and_tickers_when_quoted_then_top_of_book_from_venue(exchange, sim_server):
    bid, ask = _bid_ask(sim_server)

    book = exchange.fetch_order_book(BTC)
    ticker = exchange.fetch_ticker(BTC)
    tickers = exchange.fetch_tickers([BTC, "ETH/USDT"])

    assert D(str(book["bids"][0][0])) == bid
    assert D(str(book["asks"][0][0])) == ask
    assert D(str(ticker["last"])) == sim_server.state.venue.market("BTCUSDT").last_price
    assert D(str(ticker["bid"])) == bid
    assert ticker["high"] >= ticker["low"] > 0
    assert ticker["baseVolume"] > 0
    assert set(tickers) == {BTC, "ETH/USDT"}


def test_fetch_balance_when_funded_then_free_and_total(exchange):
    balance = exchange.fetch_balance()

    assert balance["USDT"]["free"] == 100_000
    assert balance["BTC"]["total"] == 2
    assert balance["BNB"]["total"] == 0  # every listed asset is reported, like Binance


# --- orders --------------------------------------------------------------------------------------
def test_create_market_buy_when_liquid_then_filled_with_fee_and_trade_listed(exchange, sim_server):
    order = exchange.create_order(BTC, "market", "buy", 0.01)

    assert order["status"] == "closed"
    assert order["filled"] == pytest.approx(0.01)
    assert order["fee"]["currency"] == "BTC"
    assert exchange.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"
    trades = exchange.fetch_my_trades(BTC)
    assert [t["order"] for t in trades] == [order["id"]]
    assert exchange.fetch_balance()["BTC"]["free"] == pytest.approx(2 + 0.01 - 0.00001)


def test_limit_order_lifecycle_when_resting_then_fetched_listed_and_canceled(exchange, sim_server):
    bid, _ = _bid_ask(sim_server)
    price = float(bid * D("0.95"))

    order = exchange.create_order(BTC, "limit", "buy", 0.01, price)
    fetched = exchange.fetch_order(order["id"], BTC)
    listed = exchange.fetch_open_orders(BTC)
    canceled = exchange.cancel_order(order["id"], BTC)

    assert order["status"] == "open"
    assert fetched["status"] == "open"
    assert fetched["price"] == pytest.approx(price, abs=0.01)
    assert [o["id"] for o in listed] == [order["id"]]
    assert canceled["status"] == "canceled"
    assert exchange.fetch_open_orders(BTC) == []
    assert exchange.fetch_balance()["USDT"]["used"] == 0


def test_edit_order_when_resting_then_cancel_replace_gives_new_order(exchange, sim_server):
    bid, _ = _bid_ask(sim_server)
    first = exchange.create_order(BTC, "limit", "buy", 0.01, float(bid * D("0.9")))

    edited = exchange.edit_order(first["id"], BTC, "limit", "buy", 0.02, float(bid * D("0.91")))

    assert edited["id"] != first["id"]
    assert edited["amount"] == pytest.approx(0.02)
    assert exchange.fetch_order(first["id"], BTC)["status"] == "canceled"
    assert [o["id"] for o in exchange.fetch_open_orders(BTC)] == [edited["id"]]


def test_amend_keep_priority_when_reduced_then_same_order_smaller_and_funds_released(exchange, sim_server):
    bid, _ = _bid_ask(sim_server)
    price = bid * D("0.9")
    order = exchange.create_order(BTC, "limit", "buy", 0.02, float(price))

    amended = exchange.request(  # ccxt 4.5 has no method for it: its generic signed request, unmodified
        "order/amend/keepPriority", ["private"], "PUT", {"symbol": "BTCUSDT", "orderId": order["id"], "newQty": "0.01"}
    )

    fetched = exchange.fetch_order(order["id"], BTC)
    assert amended["amendedOrder"]["orderId"] == int(order["id"])
    assert amended["amendedOrder"]["qty"] == "0.01000000"
    assert fetched["amount"] == pytest.approx(0.01)
    assert fetched["clientOrderId"] == amended["amendedOrder"]["clientOrderId"]
    assert exchange.fetch_balance()["USDT"]["used"] == pytest.approx(fetched["price"] * 0.01)


def test_cancel_all_orders_when_two_resting_then_both_canceled(exchange, sim_server):
    bid, _ = _bid_ask(sim_server)
    for factor in ("0.9", "0.92"):
        exchange.create_order(BTC, "limit", "buy", 0.01, float(bid * D(factor)))

    canceled = exchange.cancel_all_orders(BTC)

    assert len(canceled) == 2
    assert exchange.fetch_open_orders(BTC) == []


# --- errors, as ccxt maps them -------------------------------------------------------------------
def test_create_order_when_price_band_broken_then_invalid_order(exchange, sim_server):
    bid, _ = _bid_ask(sim_server)
    with pytest.raises(ccxt.InvalidOrder, match="PERCENT_PRICE_BY_SIDE"):
        exchange.create_order(BTC, "limit", "buy", 0.001, float(bid * 6))


def test_create_order_when_notional_too_small_then_bad_request_with_1013(exchange, sim_server):
    bid, _ = _bid_ask(sim_server)
    with pytest.raises(ccxt.BadRequest, match="-1013"):
        exchange.create_order(BTC, "limit", "buy", 0.00001, float(bid * D("0.99")))


def test_create_order_when_balance_short_then_insufficient_funds(exchange, sim_server):
    bid, _ = _bid_ask(sim_server)
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order(BTC, "limit", "buy", 3, float(bid * D("0.99")))


def test_fetch_and_cancel_when_unknown_then_order_not_found(exchange):
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        exchange.fetch_order("987654321", BTC)
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        exchange.cancel_order("987654321", BTC)


def test_private_call_when_signed_with_wrong_secret_then_authentication_error(make_exchange, api_key):
    exchange = make_exchange(api_key, secret="0" * 64)
    exchange.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        exchange.fetch_balance()


def test_private_call_when_key_unknown_then_authentication_error(make_exchange):
    exchange = make_exchange(ApiKey("a" * 64, "b" * 64, "nobody"))
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        exchange.fetch_balance()


def test_private_call_when_clock_skewed_then_1021_mapped_by_ccxt_to_invalid_nonce(exchange):
    # ccxt maps -1021 to InvalidNonce (a NetworkError), not AuthenticationError, for any host.
    exchange.options["timeDifference"] = 70_000  # ccxt signs timestamps 70 s in the past
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        exchange.fetch_balance()
    exchange.options["timeDifference"] = -5_000  # 5 s in the future
    with pytest.raises(ccxt.InvalidNonce, match="1000ms ahead"):
        exchange.fetch_balance()


def test_trade_endpoint_when_key_cannot_trade_then_2015(sim_server, make_exchange):
    key = sim_server.new_account(can_trade=False)
    exchange = make_exchange(key)
    exchange.load_markets()

    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        exchange.create_order(BTC, "market", "buy", 0.001)
    assert exchange.fetch_balance()["USDT"]["free"] == 100_000  # reading is allowed


def test_listen_key_when_created_then_kept_alive_and_closed(exchange, sim_server):
    created = exchange.public_post_userdatastream()
    key = created["listenKey"]

    assert sim_server.state.listen_keys[key] == sim_server.state.api_keys[exchange.apiKey].account
    assert exchange.public_put_userdatastream({"listenKey": key}) == {}
    assert exchange.public_delete_userdatastream({"listenKey": key}) == {}
    with pytest.raises(ccxt.AuthenticationError, match="-1125"):  # ccxt's mapping of -1125
        exchange.public_put_userdatastream({"listenKey": key})
