"""Binance spot over REST through ccxt, speaking domain types only (the execution layer's ``VenuePort``).

Why ccxt's *implicit* endpoints (``private_post_order`` ...) and not its unified methods: the
unified ones return floats and pick parameters for us; the implicit ones send exactly the
documented Binance parameters and return Binance's JSON, whose decimal strings convert exactly.
ccxt still signs, times and transports every request. Every call goes through :meth:`_call`, so
every failure reaches the caller as one of the three ``domain.venue`` errors.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp
import ccxt
import structlog

from thunes.adapters.venues.binance import convert
from thunes.adapters.venues.binance.errors import map_error
from thunes.adapters.venues.binance.exchange import BinanceConfig, build_exchange
from thunes.domain.enums import OrderType, TimeInForce
from thunes.domain.exchange_info import ExchangeInfo, ExchangeInfoError, RateLimit, parse_exchange_info
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.market import Bar, QuoteTick, Timeframe
from thunes.domain.orders import Fill, OrderRequest
from thunes.domain.venue import FatalVenueError, OrderReport, RejectedByVenueError, RetryableVenueError
from thunes.risk import RateLimiter

if TYPE_CHECKING:
    from thunes.execution.ports import VenuePort

__all__ = ["KLINES_PAGE", "ApiRestrictions", "BinanceClient"]

KLINES_PAGE = 1000  # Binance's maximum ``limit`` for /api/v3/klines
_TRADES_PAGE = 1000
_UNKNOWN_ORDER = -2013  # "Order does not exist." (errors.md)
_VENDOR_ERRORS = (ccxt.BaseError, TimeoutError, aiohttp.ClientError, OSError)  # what map_error knows
_log = structlog.get_logger(__name__)
# Request weights of the calls we make (rest-api.md); the venue's X-MBX-USED-WEIGHT headers correct
# any drift. ``load_markets`` is ccxt fetching exchangeInfo.
_WEIGHTS = {"exchange_info": 20, "load_markets": 20, "klines": 2, "lookup": 4, "amend": 4, "open_orders": 6,
            "recent_orders": 20, "balances": 20, "my_trades": 20, "api_restrictions": 1, "book_ticker": 2}  # fmt: skip
_ORDER_CALLS = frozenset({"submit"})  # counted against the ORDERS limits too
_RATE_HEADROOM = 0.1  # stop at 90 % of every window: our clock and the venue's disagree on its start


@dataclass(frozen=True, slots=True)
class ApiRestrictions:
    """What the API key may do (``GET /sapi/v1/account/apiRestrictions``, Binance wallet API
    "Get API Key Permission"): live trading refuses a key that can withdraw."""

    can_read: bool
    can_trade: bool  # enableSpotAndMarginTrading
    can_withdraw: bool  # enableWithdrawals
    ip_restricted: bool  # ipRestrict: the key works only from whitelisted addresses


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters with ``Symbol``/``ClientOrderId`` as plain ``str``: ccxt tests ``type(v) is str``
    and silently replaces a ``newClientOrderId`` it does not recognise with its own broker id."""
    return {k: str(v) if isinstance(v, str) else v for k, v in params.items()}


class BinanceClient:
    """Async Binance spot client returning domain types and raising only ``domain.venue`` errors.

    The key and secret are plain strings from the caller, kept in private attributes and the ccxt
    object only: never in ``repr``, never logged. ``clock_ns`` (monotonic) times calls for the log.
    Close with :meth:`close` (or ``async with``) to release the HTTP session.
    """

    def __init__(
        self,
        config: BinanceConfig,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        rate_limits: Iterable[RateLimit] | None = None,
    ) -> None:
        self.config = config
        self._api_key = api_key
        self._api_secret = api_secret
        self._exchange: Any = build_exchange(config, api_key, api_secret)
        self._clock_ns = clock_ns
        self._client_ids: dict[tuple[str, str], ClientOrderId] = {}  # (symbol, orderId) -> client order id
        self._markets_lock = asyncio.Lock()
        self._time_rejections = 0  # -1021s in a row (see _resync_time)
        self.limiter: RateLimiter | None = None
        if rate_limits is not None:
            self.use_rate_limits(rate_limits)

    def use_rate_limits(self, rate_limits: Iterable[RateLimit]) -> None:
        """Budget every request against ``rate_limits`` (exchangeInfo's) from now on: calls wait
        instead of earning a 429, and a 429/418 blocks all calls until its Retry-After passes."""
        self.limiter = RateLimiter(rate_limits, time.monotonic_ns, headroom=_RATE_HEADROOM)

    @property
    def recv_window_ms(self) -> int:
        """The recvWindow every signed request carries: how long after its timestamp the venue takes it."""
        return self.config.recv_window_ms

    def __repr__(self) -> str:
        c = self.config
        return f"BinanceClient(mode={c.mode!r}, rest_url={c.rest_url!r}, ws_url={c.ws_url!r})"  # never the keys

    async def __aenter__(self) -> BinanceClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # --- plumbing ------------------------------------------------------------------------------
    async def _call(self, operation: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run one ccxt call; its failure leaves as a domain venue error (``from`` the original)."""
        await self._admit(operation)
        started = self._clock_ns()
        try:
            result = await call()
        except _VENDOR_ERRORS as e:
            error = map_error(e)
            self._after_failure(e, error)
            log = _log.info if isinstance(error, RejectedByVenueError) else _log.warning  # a refusal is an answer
            log(
                "venue_call_failed",
                venue="binance",
                operation=operation,
                kind=type(error).__name__,
                code=error.code,
                elapsed_ms=(self._clock_ns() - started) / 1e6,
                error_type=type(e).__name__,
            )
            if isinstance(e, ccxt.InvalidNonce) or error.code == -1021:
                await self._resync_time()
            raise error from e
        self._time_rejections = 0  # whichever clock signed, it was accepted
        if self.limiter is not None:
            self.limiter.on_response(self._exchange.last_response_headers or {})
        return result

    async def _admit(self, operation: str) -> None:
        """Wait until the rate budget lets this call go (never send into a known 429: a 418 ban follows)."""
        limiter = self.limiter
        if limiter is None:
            return
        weight, is_order = _WEIGHTS.get(operation, 1), operation in _ORDER_CALLS
        while (wait := limiter.acquire(weight, is_order)) > 0:
            _log.info("venue_rate_wait", venue="binance", operation=operation, wait_s=round(wait, 3))
            await asyncio.sleep(wait)

    def _after_failure(self, cause: BaseException, error: Exception) -> None:
        """A 429/418 (ccxt's DDoSProtection / RateLimitExceeded, codes -1003/-1015) stops every call
        until its Retry-After has passed, not only the one that failed."""
        if self.limiter is None or not isinstance(error, RetryableVenueError):
            return
        if isinstance(cause, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)) or error.code in (-1003, -1015):
            self.limiter.block_for(error.delay_s)

    async def _resync_time(self) -> None:
        """After a -1021, choose the clock the retry signs with, alternating until one is accepted.

        The first -1021 in a row is taken for a slow request (a silence, a stall): the retry signs a
        fresh timestamp on our own clock. A second one means our clock is off: measure the offset to
        the venue's ``serverTime`` and sign with it. A third turns the offset off again, and so on: a
        replaying venue's ``serverTime`` is its market's clock, which no offset follows (the paper
        venue checks timestamps on the wall clock; see ``simserver/state.py``).
        """
        self._time_rejections += 1
        if self._time_rejections % 2:
            self._exchange.options["adjustForTimeDifference"] = False
            self._exchange.options["timeDifference"] = 0
            return
        try:
            self._exchange.options["adjustForTimeDifference"] = True
            await self._exchange.load_time_difference()
        except _VENDOR_ERRORS as e:  # the retry will fail again and come back here
            _log.warning("venue_time_resync_failed", venue="binance", error_type=type(e).__name__)

    def _remember(self, report: OrderReport) -> OrderReport:
        self._client_ids[(report.symbol, report.venue_order_id)] = report.client_order_id
        return report

    def _order(self, payload: Any) -> OrderReport:
        try:
            return self._remember(convert.order_from_rest(payload))
        except (KeyError, ValueError, ArithmeticError) as e:
            raise FatalVenueError(f"unreadable order payload: {type(e).__name__}: {e}") from e

    async def open_stream_exchange(self) -> Any:
        """A fresh ccxt.pro object with this client's config, keys and markets, for one stream
        connection (package-internal: :mod:`.streams` never sees the credentials)."""
        async with self._markets_lock:
            markets = await self._call("load_markets", self._exchange.load_markets)
        exchange = build_exchange(self.config, self._api_key, self._api_secret)
        exchange.set_markets(markets)
        return exchange

    def ccxt_symbol(self, symbol: Symbol) -> str:
        """ccxt's name for ``symbol`` (``BTCUSDT`` -> ``BTC/USDT``); markets must be loaded (see above)."""
        markets = self._exchange.markets_by_id or {}
        if symbol not in markets:
            raise RejectedByVenueError(f"unknown symbol {symbol}", -1121)
        return str(markets[symbol][0]["symbol"])

    # --- market data ---------------------------------------------------------------------------
    async def server_time_ms(self) -> int:
        answer = await self._call("time", self._exchange.public_get_time)
        return int(answer["serverTime"])

    async def exchange_info(self) -> ExchangeInfo:
        """Instruments with their exact filters, parsed from the raw ``GET /api/v3/exchangeInfo``."""
        payload = await self._call("exchange_info", self._exchange.public_get_exchangeinfo)
        try:
            info = parse_exchange_info(payload)
        except ExchangeInfoError as e:
            raise FatalVenueError(f"exchangeInfo cannot be trusted: {e}") from e
        if self.limiter is None:
            self.use_rate_limits(info.rate_limits)
        return info

    async def klines(
        self,
        symbol: Symbol,
        timeframe: Timeframe,
        start_ms: int,
        end_ms: int | None = None,
        *,
        now_ms: int | None = None,
    ) -> list[Bar]:
        """Closed candles opening at or after ``start_ms`` (and at or before ``end_ms``), oldest first.

        Pages of :data:`KLINES_PAGE` until the venue runs out. A candle is closed when its close
        time is before ``now_ms`` (the venue's time). Without ``now_ms`` an open-ended query drops
        the newest row, since Binance always answers with the forming candle last; a query with
        ``end_ms`` is taken to lie in the past.
        """
        rows: list[list[Any]] = []
        cursor = start_ms
        while True:
            params: dict[str, Any] = {"symbol": symbol, "interval": timeframe.value, "startTime": cursor,
                                      "limit": KLINES_PAGE}  # fmt: skip
            if end_ms is not None:
                params["endTime"] = end_ms
            page = await self._call("klines", functools.partial(self._exchange.public_get_klines, _plain(params)))
            rows.extend(page)
            if len(page) < KLINES_PAGE:
                break
            cursor = int(page[-1][0]) + 1
        if now_ms is not None:
            rows = [r for r in rows if int(r[6]) < now_ms]
        elif end_ms is None and rows:
            rows.pop()  # the forming candle
        return [convert.bar_from_row(symbol, timeframe, r) for r in rows]

    async def book_ticker(self, symbol: Symbol) -> QuoteTick:
        """Best bid and ask now (``GET /api/v3/ticker/bookTicker``), stamped with the receipt time: the
        reference price's fallback when the bookTicker stream is silent."""
        call = functools.partial(self._exchange.public_get_ticker_bookticker, {"symbol": str(symbol)})
        row = await self._call("book_ticker", call)
        return convert.quote_from_rest_book_ticker(row, time.time_ns())

    async def forming_open_ms(self, symbol: Symbol, timeframe: Timeframe) -> int:
        """Open time of the candle forming now, on the *market's* clock (Binance answers the newest
        candles when no start is given). A replaying venue's market clock is not its serverTime."""
        params = {"symbol": symbol, "interval": timeframe.value, "limit": 1}
        rows = await self._call("klines", functools.partial(self._exchange.public_get_klines, _plain(params)))
        if not rows:
            raise RetryableVenueError(f"no {timeframe.value} candle of {symbol} yet", None, 1.0)
        return int(rows[-1][0])

    # --- orders --------------------------------------------------------------------------------
    async def submit(self, request: OrderRequest) -> OrderReport:
        """``POST /api/v3/order`` with ``newClientOrderId`` = the request's id and a FULL answer.

        A :class:`RetryableVenueError` means the order may or may not exist: :meth:`lookup` it by
        its client order id before anything is resent.
        """
        params: dict[str, Any] = {
            "symbol": request.symbol,
            "side": request.side.value,
            "type": request.order_type.value,
            "newClientOrderId": request.client_order_id,
            "newOrderRespType": "FULL",
        }
        if request.quantity is not None:
            params["quantity"] = convert.decimal_text(request.quantity)
        if request.quote_quantity is not None:
            params["quoteOrderQty"] = convert.decimal_text(request.quote_quantity)
        if request.price is not None:
            params["price"] = convert.decimal_text(request.price)
        if request.order_type is OrderType.LIMIT:  # MARKET and LIMIT_MAKER take none (rest-api.md)
            params["timeInForce"] = (request.time_in_force or TimeInForce.GTC).value
        payload = await self._call("submit", lambda: self._exchange.private_post_order(_plain(params)))
        return self._order(payload)

    async def lookup(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderReport | None:
        """The order by ``origClientOrderId``; ``None`` when the venue does not know it (-2013)."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        try:
            payload = await self._call("lookup", lambda: self._exchange.private_get_order(_plain(params)))
        except RejectedByVenueError as e:
            if e.code == _UNKNOWN_ORDER:
                return None
            raise
        return self._order(payload)

    async def cancel(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderReport:
        """``DELETE /api/v3/order``; an unknown or already-closed order is a rejection (-2011)."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        payload = await self._call("cancel", lambda: self._exchange.private_delete_order(_plain(params)))
        return self._order(payload)

    async def amend(self, symbol: Symbol, client_order_id: ClientOrderId, new_qty: Decimal) -> OrderReport:
        """Reduce an open order's quantity keeping its queue priority
        (``PUT /api/v3/order/amend/keepPriority``, rest-api.md). The client order id is sent back as
        ``newClientOrderId``: Binance would otherwise give the order a random new one."""
        params = {
            "symbol": symbol,
            "origClientOrderId": client_order_id,
            "newClientOrderId": client_order_id,
            "newQty": convert.decimal_text(new_qty),
        }
        payload = await self._call(
            "amend", lambda: self._exchange.request("order/amend/keepPriority", ["private"], "PUT", _plain(params))
        )
        return self._order(payload)

    async def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]:
        """Open orders of ``symbol``, or of every symbol (weight 80 on Binance)."""
        params = {"symbol": symbol} if symbol is not None else {}
        rows = await self._call("open_orders", lambda: self._exchange.private_get_openorders(_plain(params)))
        return [self._order(r) for r in rows]

    async def recent_orders(self, symbol: Symbol, limit: int = 500) -> list[OrderReport]:
        """The newest ``limit`` orders of ``symbol``, any status (``GET /api/v3/allOrders``)."""
        params = {"symbol": symbol, "limit": min(max(limit, 1), 1000)}
        rows = await self._call("recent_orders", lambda: self._exchange.private_get_allorders(_plain(params)))
        return [self._order(r) for r in rows]

    # --- account -------------------------------------------------------------------------------
    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """``asset -> (free, locked)`` for every asset held (zero rows are omitted)."""
        account = await self._call("balances", lambda: self._exchange.private_get_account({"omitZeroBalances": "true"}))
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for row in account["balances"]:
            free, locked = Decimal(str(row["free"])), Decimal(str(row["locked"]))
            if free or locked:
                out[str(row["asset"])] = (free, locked)
        return out

    async def api_restrictions(self) -> ApiRestrictions:
        """The key's permissions; an answer without ``enableWithdrawals`` is untrustworthy (fatal),
        since a missing flag must never read as "cannot withdraw"."""
        payload = await self._call("api_restrictions", self._exchange.sapi_get_account_apirestrictions)
        try:
            return ApiRestrictions(can_read=payload["enableReading"] is True,
                                   can_trade=payload["enableSpotAndMarginTrading"] is True,
                                   can_withdraw=payload["enableWithdrawals"] is not False,
                                   ip_restricted=payload.get("ipRestrict") is True)  # fmt: skip
        except (KeyError, TypeError) as e:
            raise FatalVenueError(f"unreadable apiRestrictions payload: {type(e).__name__}: {e}") from e

    async def _client_id_of(self, symbol: Symbol, order_id: str) -> ClientOrderId:
        known = self._client_ids.get((symbol, order_id))
        if known is not None:
            return known
        params = {"symbol": symbol, "orderId": order_id}
        report = self._order(await self._call("lookup", lambda: self._exchange.private_get_order(_plain(params))))
        return report.client_order_id

    async def my_trades(self, symbol: Symbol, since_ms: int) -> list[Fill]:
        """Our fills on ``symbol`` from ``since_ms`` on, oldest first (pages of 1000 by trade id).

        Binance names a trade's order by ``orderId`` only; the client order id comes from orders
        this client has seen, else one ``GET /api/v3/order`` per unknown order.
        """
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {"symbol": symbol, "startTime": since_ms, "limit": _TRADES_PAGE}
        while True:
            page = await self._call("my_trades", functools.partial(self._exchange.private_get_mytrades, _plain(params)))
            rows.extend(page)
            if len(page) < _TRADES_PAGE:
                break
            params = {"symbol": symbol, "fromId": int(page[-1]["id"]) + 1, "limit": _TRADES_PAGE}
        fills = []
        for row in rows:
            client_id = await self._client_id_of(symbol, str(row["orderId"]))
            fills.append(convert.fill_from_my_trade(row, client_id))
        return fills

    async def close(self) -> None:
        """Release the HTTP session (idempotent)."""
        try:
            await self._exchange.close()
        except _VENDOR_ERRORS as e:
            raise map_error(e) from e


if TYPE_CHECKING:

    def _is_a_venue_port(client: BinanceClient) -> VenuePort:  # mypy proves the client fits the port
        return client
