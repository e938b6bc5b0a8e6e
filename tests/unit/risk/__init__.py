"""Builders shared by the risk unit tests and the concurrency suite: a clock driven by hand,
orders, intents, fills and a BTCUSDT-like instrument with Binance's real filter shapes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

from thunes.domain import (
    ClientOrderId,
    Fill,
    Instrument,
    Liquidity,
    OrderRequest,
    OrderType,
    Side,
    StrategyId,
    Symbol,
    VenueId,
)
from thunes.domain.instrument import LotSizeFilter, NotionalFilter, PriceFilter
from thunes.risk import InMemoryRiskStore, RiskEngine, RiskIntent, RiskLimits, RiskStateStore

NS = 1_000_000_000
MINUTE = 60 * NS
HOUR = 60 * MINUTE
VENUE = VenueId("sim")
STRATEGY = StrategyId("test-strategy")


def ts(text: str) -> int:
    """ISO time in UTC to Unix ns: ``ts("2024-08-08T23:59:59")``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


T0 = ts("2024-08-08T12:00:00")


class FakeClock:
    """A clock that moves only when told to; thread-safe (the concurrency suite shares one)."""

    def __init__(self, start_ns: int = T0) -> None:
        self._ns = start_ns
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._ns

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._ns += int(seconds * NS)
            return self._ns

    def set(self, ns: int) -> None:
        with self._lock:
            self._ns = ns


def btc_instrument(symbol: str = "BTCUSDT", base: str = "BTC") -> Instrument:
    """Filters as Binance publishes BTCUSDT: tick 0.01, step 0.00001, NOTIONAL min 5 (also MARKET)."""
    return Instrument(
        symbol=Symbol(symbol),
        base_asset=base,
        quote_asset="USDT",
        status="TRADING",
        base_precision=8,
        quote_precision=8,
        order_types=frozenset(OrderType),
        quote_order_qty_market_allowed=True,
        price_filter=PriceFilter(Decimal("0.01"), Decimal(1_000_000), Decimal("0.01")),
        lot_size=LotSizeFilter(Decimal("0.00001"), Decimal(9000), Decimal("0.00001")),
        notional=NotionalFilter(Decimal(5), True, Decimal(9_000_000), False, 5),
    )


def symbol_name(i: int) -> str:
    """A distinct valid symbol per integer: ``C0USDT``, ``C1USDT``..."""
    return f"C{i}USDT"


def buy(
    symbol: str = "BTCUSDT",
    coid: str = "b1",
    quantity: str = "0.0002",
    price: str | None = "50000",
    order_type: OrderType | None = None,
) -> OrderRequest:
    kind = order_type or (OrderType.LIMIT if price is not None else OrderType.MARKET)
    return OrderRequest(
        ClientOrderId(coid),
        Symbol(symbol),
        Side.BUY,
        kind,
        quantity=Decimal(quantity),
        price=None if price is None else Decimal(price),
    )


def sell(symbol: str = "BTCUSDT", coid: str = "s1", quantity: str = "0.0002") -> OrderRequest:
    return OrderRequest(ClientOrderId(coid), Symbol(symbol), Side.SELL, OrderType.MARKET, quantity=Decimal(quantity))


def intent(
    request: OrderRequest,
    reference_price: str | None = "50000",
    instrument: Instrument | None = None,
    venue: VenueId = VENUE,
) -> RiskIntent:
    return RiskIntent(
        request=request,
        strategy_id=STRATEGY,
        venue=venue,
        reference_price=None if reference_price is None else Decimal(reference_price),
        instrument=instrument,
    )


def fill(
    request: OrderRequest,
    price: str,
    quantity: str | None = None,
    *,
    trade_id: str = "t1",
    commission: str = "0",
    commission_asset: str = "USDT",
    ts_ns: int = T0,
) -> Fill:
    qty = Decimal(quantity) if quantity is not None else request.quantity
    assert qty is not None
    return Fill(
        client_order_id=request.client_order_id,
        trade_id=trade_id,
        symbol=request.symbol,
        side=request.side,
        price=Decimal(price),
        quantity=qty,
        commission=Decimal(commission),
        commission_asset=commission_asset,
        liquidity=Liquidity.TAKER,
        ts_ns=ts_ns,
    )


def make_engine(
    limits: RiskLimits | None = None,
    clock: FakeClock | None = None,
    store: RiskStateStore | None = None,
) -> tuple[RiskEngine, FakeClock, RiskStateStore]:
    clock = clock or FakeClock()
    store = store if store is not None else InMemoryRiskStore()
    return RiskEngine(limits or RiskLimits(), clock, store), clock, store


def open_position(engine: RiskEngine, symbol: str, coid: str, price: str = "50000", quantity: str = "0.0002") -> None:
    """Approve, fill and complete a BUY so ``symbol`` is held."""
    request = buy(symbol, coid, quantity, price)
    decision = engine.check(intent(request, reference_price=price))
    assert decision.approved, decision.detail
    engine.on_fill(fill(request, price), order_complete=True)


def close_position(engine: RiskEngine, symbol: str, coid: str, price: str, quantity: str = "0.0002") -> None:
    """Sell the whole position at ``price`` (approved and filled)."""
    request = sell(symbol, coid, quantity)
    decision = engine.check(intent(request, reference_price=price))
    assert decision.approved, decision.detail
    engine.on_fill(fill(request, price), order_complete=True)
