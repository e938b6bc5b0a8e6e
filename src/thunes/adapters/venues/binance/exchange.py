"""The ccxt Binance object, configured for paper, testnet or live, with two small hooks.

Why a subclass: ccxt turns an HTTP error into an exception and drops the response, so the Binance
code (``-2010`` for insufficient balance) and the ``Retry-After`` header would be lost; and
ccxt.pro parses stream messages into float structures and keeps no raw copy, so exact ``Decimal``
prices and the kline ``x`` (closed) flag would be lost. ``handle_errors`` and ``handle_message``
are ccxt's own extension points for exactly these two jobs; everything else is stock ccxt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import ccxt.pro

from thunes.adapters.venues.binance.errors import attach_wire_detail

__all__ = ["BinanceConfig", "Mode", "RawSink", "build_exchange", "unwrap_stream_message"]

Mode = Literal["paper", "testnet", "live"]
RawSink = Callable[[dict[str, Any]], None]
_HOST = re.compile(r"^https?://[^/]+")
_WS_SUFFIX = re.compile(r"/ws/?$")


@dataclass(frozen=True, slots=True)
class BinanceConfig:
    """Where and how to reach Binance (credentials are passed separately, never stored here).

    ``paper`` needs ``rest_url`` (``http://127.0.0.1:8765``) and ``ws_url`` (``ws://127.0.0.1:8765``,
    a trailing ``/ws`` is accepted): every ccxt URL is pointed at them, so a call ccxt did not expect
    is a local 404, never a request to binance.com. ``testnet`` uses ccxt's sandbox URLs (Binance
    spot testnet) and refuses URLs, so nothing is silently ignored. ``live`` uses ccxt's production
    URLs (api.binance.com, stream.binance.com, ws-api.binance.com) unless ``rest_url`` or ``ws_url``
    is given: then every REST (or every WebSocket) URL points there, as in paper mode, which is how
    the whole live path is tested against the simulated venue. Whether an override is acceptable
    (TLS, loopback) is the caller's rule: the app's ``[live]`` settings enforce it.
    ``timeout_s`` bounds every REST call; ``recv_window_ms`` is Binance's recvWindow (at most 60000).
    """

    mode: Mode = "paper"
    rest_url: str | None = None
    ws_url: str | None = None
    timeout_s: float = 10.0
    recv_window_ms: int = 5000
    rate_limit: bool | None = None  # ccxt's client-side throttle; None: on for testnet/live, off for paper

    def __post_init__(self) -> None:
        if self.mode not in ("paper", "testnet", "live"):
            raise ValueError(f"mode must be paper, testnet or live, got {self.mode!r}")
        if self.mode == "paper" and (not self.rest_url or not self.ws_url):
            raise ValueError(f"paper mode needs rest_url like http://127.0.0.1:8765 and ws_url like "
                             f"ws://127.0.0.1:8765, got {self.rest_url!r} and {self.ws_url!r}")  # fmt: skip
        if self.mode == "testnet" and (self.rest_url is not None or self.ws_url is not None):
            raise ValueError("testnet mode uses ccxt's sandbox URLs; rest_url and ws_url are for paper and live only")
        if self.rest_url is not None and not re.match(r"^https?://\S+$", self.rest_url):
            raise ValueError(f"rest_url must be like http://127.0.0.1:8765, got {self.rest_url!r}")
        if self.ws_url is not None and not re.match(r"^wss?://\S+$", self.ws_url):
            raise ValueError(f"ws_url must be like ws://127.0.0.1:8765, got {self.ws_url!r}")
        if not 0 < self.timeout_s <= 120:
            raise ValueError(f"timeout_s must be in (0, 120], got {self.timeout_s}")
        if not 0 < self.recv_window_ms <= 60_000:
            raise ValueError(f"recv_window_ms must be in (0, 60000], got {self.recv_window_ms}")

    @property
    def ws_base(self) -> str | None:
        """``ws_url`` without a trailing ``/ws``: streams live at ``/ws``, the WebSocket API at ``/ws-api/v3``."""
        return None if self.ws_url is None else _WS_SUFFIX.sub("", self.ws_url.rstrip("/"))


def unwrap_stream_message(message: object) -> dict[str, Any] | None:
    """The event inside a stream frame: combined streams wrap it in ``data``, the WebSocket API's
    user-data subscription in ``event``; plain ``/ws`` frames are the event itself."""
    if not isinstance(message, dict):
        return None
    inner = message
    if "stream" in inner and isinstance(inner.get("data"), dict):
        inner = inner["data"]
    if isinstance(inner.get("event"), dict):
        inner = inner["event"]
    return inner


class _Binance(ccxt.pro.binance):  # type: ignore[misc]  # ccxt is untyped
    """ccxt.pro's Binance with the raw response kept on errors and raw stream events teed to a sink."""

    thunes_sink: RawSink | None = None

    def handle_errors(self, code: int, reason: str, url: str, method: str, headers: Any, body: Any,
                      response: Any, request_headers: Any, request_body: Any) -> Any:  # fmt: skip
        try:
            return super().handle_errors(code, reason, url, method, headers, body, response, request_headers,
                                         request_body)  # fmt: skip
        except ccxt.BaseError as e:
            attach_wire_detail(e, code, headers, body if isinstance(body, str) else "")
            raise

    def handle_http_status_code(self, code: int, reason: str, url: str, method: str, body: Any) -> Any:
        try:
            return super().handle_http_status_code(code, reason, url, method, body)
        except ccxt.BaseError as e:
            if not hasattr(e, "_thunes_wire"):
                attach_wire_detail(e, code, self.last_response_headers, body if isinstance(body, str) else "")
            raise

    def handle_message(self, client: Any, message: Any) -> Any:
        sink = self.thunes_sink
        if sink is not None:
            event = unwrap_stream_message(message)
            if event is not None:
                sink(event)
        return super().handle_message(client, message)


def _point_rest(exchange: _Binance, rest_url: str) -> None:
    """Aim every REST URL ccxt knows at ``rest_url`` (its scheme and host; the paths stay)."""
    api: dict[str, Any] = exchange.urls["api"]
    for name, url in list(api.items()):
        if isinstance(url, str) and url.startswith("http"):
            api[name] = _HOST.sub(rest_url.rstrip("/"), url)


def _point_ws(exchange: _Binance, ws_base: str) -> None:
    """Aim every stream URL ccxt knows at ``ws_base/ws`` and the WebSocket API at ``ws_base/ws-api/v3``."""
    api: dict[str, Any] = exchange.urls["api"]
    streams: dict[str, Any] = {name: f"{ws_base}/ws" for name, url in dict(api.get("ws", {})).items()
                               if isinstance(url, str)}  # fmt: skip
    streams["ws-api"] = {"spot": f"{ws_base}/ws-api/v3"}
    api["ws"] = streams


def build_exchange(config: BinanceConfig, api_key: str | None, api_secret: str | None) -> Any:
    """A fresh ccxt Binance for ``config``. Each stream connection gets its own, so closing one
    (reconnect, staleness) never disturbs another; REST shares the client's."""
    throttle = config.rate_limit if config.rate_limit is not None else config.mode != "paper"
    settings: dict[str, Any] = {
        "enableRateLimit": throttle,
        "timeout": int(config.timeout_s * 1000),
        "options": {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},  # no futures/options exchangeInfo calls
            "fetchMargins": False,  # no /sapi margin pair listings
            "fetchCurrencies": False,  # no /sapi capital config (needs a key, slow)
            "recvWindow": config.recv_window_ms,
        },
    }
    if api_key is not None:
        settings["apiKey"] = api_key
    if api_secret is not None:
        settings["secret"] = api_secret
    exchange = _Binance(settings)
    if config.mode == "testnet":
        exchange.set_sandbox_mode(True)
    if config.rest_url is not None:  # paper always, live when overridden (checked in BinanceConfig)
        _point_rest(exchange, config.rest_url)
        if config.rest_url.startswith("http://"):
            exchange.timeout_on_exit = 0  # ccxt waits 250 ms on close for TLS shutdown; plain HTTP has none
    if config.ws_base is not None:
        _point_ws(exchange, config.ws_base)
    return exchange
