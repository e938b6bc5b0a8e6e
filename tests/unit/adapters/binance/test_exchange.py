"""Where the ccxt Binance object sends requests in each mode: live keeps Binance's production URLs
unless an endpoint is overridden, and then every REST (or WebSocket) URL goes to the override."""

from __future__ import annotations

from typing import Any

from thunes.adapters.venues.binance import BinanceConfig
from thunes.adapters.venues.binance.exchange import build_exchange


def urls(config: BinanceConfig) -> dict[str, Any]:
    api: dict[str, Any] = build_exchange(config, None, None).urls["api"]
    return api


def test_live_when_no_override_then_binance_production_urls() -> None:
    api = urls(BinanceConfig("live"))

    assert api["public"] == "https://api.binance.com/api/v3"
    assert api["sapi"] == "https://api.binance.com/sapi/v1"
    assert api["ws"]["spot"] == "wss://stream.binance.com:9443/ws"
    assert api["ws"]["ws-api"]["spot"] == "wss://ws-api.binance.com:443/ws-api/v3"


def test_live_when_both_endpoints_overridden_then_every_url_points_there() -> None:
    api = urls(BinanceConfig("live", "http://127.0.0.1:9999", "ws://127.0.0.1:9999/ws"))

    rest = [u for u in api.values() if isinstance(u, str) and u.startswith("http")]
    assert rest
    assert all(u.startswith("http://127.0.0.1:9999/") for u in rest)
    assert api["public"] == "http://127.0.0.1:9999/api/v3"
    assert api["sapi"] == "http://127.0.0.1:9999/sapi/v1"
    assert api["ws"]["spot"] == "ws://127.0.0.1:9999/ws"
    assert api["ws"]["ws-api"] == {"spot": "ws://127.0.0.1:9999/ws-api/v3"}


def test_live_when_only_rest_overridden_then_streams_stay_on_binance() -> None:
    api = urls(BinanceConfig("live", rest_url="https://relay.example.org"))

    assert api["private"] == "https://relay.example.org/api/v3"
    assert api["ws"]["spot"] == "wss://stream.binance.com:9443/ws"


def test_testnet_when_built_then_sandbox_urls_not_production() -> None:
    api = urls(BinanceConfig("testnet"))

    assert "testnet.binance.vision" in api["public"]
    assert "api.binance.com" not in api["private"]
