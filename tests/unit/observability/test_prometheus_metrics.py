"""``TradingMetrics`` on a real bus: orders counted once, latency in wall time, state from the real
risk engine and real stream counters; every value read back from the registry."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal

import pytest

from tests.unit.risk import MINUTE, NS, FakeClock, close_position, fill, make_engine, open_position, sell
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.metrics import LATENCY_BUCKETS, TradingMetrics
from thunes.adapters.venues.binance.feed import StreamStats
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.domain import ClientOrderId, DenialReason, OrderRequest, StrategyId, VenueId, VenueOrderId
from thunes.domain.enums import OrderType, Side
from thunes.domain.identifiers import Symbol
from thunes.domain.messages import OrderAccepted, OrderDenied, OrderRejected, OrderSubmitted
from thunes.domain.venue import OrderReport, RetryableVenueError
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import ManualClock
from thunes.engine.portfolio import AssetLine, Valuation
from thunes.execution.journal_memory import InMemoryJournal
from thunes.execution.order_manager import OrderManager
from thunes.risk import FailureKind, RiskLimits
from thunes.simvenue import SimVenue

D = Decimal
VENUE = VenueId("sim")
STRATEGY = StrategyId("metrics-test")
START = 1_764_000_000 * 1_000_000_000


class WallClock:
    """The monotonic clock the metrics time orders with, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowVenue(InProcessVenue):
    """The in-process venue, taking ``delay_s`` of wall time per order; ``lose_next`` drops the next
    answer before the order reaches the book (the order manager must look it up, then resend)."""

    def __init__(self, wall: WallClock, delay_s: float, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wall, self.delay_s, self.lose_next = wall, delay_s, False

    async def submit(self, request: OrderRequest) -> OrderReport:
        self.wall.now += self.delay_s
        if self.lose_next:
            self.lose_next = False
            raise RetryableVenueError("answer lost", None, 0.0)
        return await super().submit(request)


def _value(metrics: TradingMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _rig(delay_s: float) -> tuple[TradingMetrics, OrderManager, SlowVenue, WallClock]:
    wall = WallClock()
    info = builtin_exchange_info()
    clock = ManualClock(START)
    core = SimVenue(info.instruments, clock.now_ns)
    core.deposit("me", "USDT", D(100))
    core.on_trade("BTCUSDT", D(50_000), D(1))
    core.on_quote("BTCUSDT", D("49999.99"), D(5), D("50000.01"), D(5))
    venue = SlowVenue(wall, delay_s, core, "me", info)
    bus = InMemoryBus()
    metrics = TradingMetrics(monotonic=wall, process_metrics=False)
    metrics.attach(bus)
    return metrics, OrderManager(venue, InMemoryJournal(), bus, clock.now_ns, VENUE), venue, wall


def _market_buy(cid: str, quantity: str) -> OrderRequest:
    return OrderRequest(ClientOrderId(cid), Symbol("BTCUSDT"), Side.BUY, OrderType.MARKET, quantity=D(quantity))


def test_orders_when_placed_and_rejected_by_venue_then_counted_by_labels_and_timed() -> None:
    metrics, orders, _, _ = _rig(delay_s=0.3)

    async def trade() -> None:
        await orders.submit(_market_buy("fills-1", "0.0002"), STRATEGY)  # 10 USDT of 100: filled
        await orders.submit(_market_buy("too-big-1", "0.01"), STRATEGY)  # 500 USDT: -2010 insufficient balance

    asyncio.run(trade())

    assert _value(metrics, "thunes_orders_placed_total", venue="sim", type="MARKET", side="BUY") == 2
    assert _value(metrics, "thunes_orders_rejected_total", venue="sim", code="-2010") == 1
    assert _value(metrics, "thunes_order_latency_seconds_count") == 2
    assert _value(metrics, "thunes_order_latency_seconds_sum") == pytest.approx(0.6)
    assert _value(metrics, "thunes_order_latency_seconds_bucket", le="0.25") == 0
    assert _value(metrics, "thunes_order_latency_seconds_bucket", le="0.5") == 2


def test_order_when_answer_lost_and_resent_then_placed_once_and_timed_from_first_send() -> None:
    metrics, orders, venue, _ = _rig(delay_s=0.4)
    venue.lose_next = True

    report = asyncio.run(orders.submit(_market_buy("lost-1", "0.0002"), STRATEGY))

    assert not isinstance(report, OrderRejected)
    assert _value(metrics, "thunes_orders_placed_total", venue="sim", type="MARKET", side="BUY") == 1
    assert _value(metrics, "thunes_order_latency_seconds_count") == 1
    assert _value(metrics, "thunes_order_latency_seconds_sum") == pytest.approx(0.8)  # both sends
    assert _value(metrics, "thunes_order_latency_seconds_bucket", le="0.75") == 0
    assert _value(metrics, "thunes_order_latency_seconds_bucket", le="1.0") == 1


def test_accepted_when_no_send_seen_then_no_latency_observed() -> None:
    bus, metrics = InMemoryBus(), TradingMetrics(monotonic=WallClock(), process_metrics=False)
    metrics.attach(bus)

    bus.publish(OrderAccepted(START, VENUE, ClientOrderId("adopted-at-start"), VenueOrderId("7")))

    assert _value(metrics, "thunes_order_latency_seconds_count") == 0


def test_denials_when_published_then_counted_by_spec_reason_code() -> None:
    bus, metrics = InMemoryBus(), TradingMetrics(process_metrics=False)
    metrics.attach(bus)

    bus.publish(OrderDenied(START, VENUE, ClientOrderId("d1"), DenialReason.KILL_SWITCH))
    bus.publish(OrderDenied(START, VENUE, ClientOrderId("d2"), DenialReason.KILL_SWITCH))
    bus.publish(OrderDenied(START, VENUE, ClientOrderId("d3"), DenialReason.FILTERS, "FILTERS_LOT_SIZE: step"))

    assert _value(metrics, "thunes_orders_denied_total", venue="sim", reason="KILL_SWITCH") == 2
    assert _value(metrics, "thunes_orders_denied_total", venue="sim", reason="FILTERS_LOT_SIZE") == 1
    assert _value(metrics, "thunes_orders_placed_total", venue="sim", type="MARKET", side="BUY") is None


def test_submitted_when_sell_limit_then_labelled_with_its_type_and_side() -> None:
    bus, metrics = InMemoryBus(), TradingMetrics(process_metrics=False)
    metrics.attach(bus)
    request = OrderRequest(ClientOrderId("s1"), Symbol("BTCUSDT"), Side.SELL, OrderType.LIMIT, D("0.001"), D(60_000))

    bus.publish(OrderSubmitted(START, VENUE, request.client_order_id, request))

    assert _value(metrics, "thunes_orders_placed_total", venue="sim", type="LIMIT", side="SELL") == 1


def test_refresh_when_loss_and_kill_switch_then_risk_gauges_follow_the_engine() -> None:
    metrics = TradingMetrics(process_metrics=False)
    risk, _, _ = make_engine(RiskLimits(max_daily_loss=D(20), max_open_positions=3))
    open_position(risk, "BTCUSDT", "b1", price="50000", quantity="0.0002")
    open_position(risk, "ETHUSDT", "b2", price="50000", quantity="0.0002")
    metrics.refresh(risk, venues=[VENUE])
    before = {n: _value(metrics, f"thunes_{n}") for n in ("open_positions", "max_open_positions", "daily_pnl_used")}

    close_position(risk, "BTCUSDT", "s1", price="25000", quantity="0.0002")  # -5 USDT of a 20 USDT limit
    risk.activate_kill_switch("operator", "drill")
    metrics.refresh(risk, venues=[VENUE])

    assert before == {"open_positions": 2, "max_open_positions": 3, "daily_pnl_used": 0}
    assert _value(metrics, "thunes_open_positions") == 1
    assert _value(metrics, "thunes_daily_pnl_used") == pytest.approx(0.25)
    assert _value(metrics, "thunes_kill_switch_active") == 1
    assert _value(metrics, "thunes_trading_state") == 1  # REDUCING
    assert _value(metrics, "thunes_circuit_breaker_state", venue="sim") == 0


def test_refresh_when_halted_and_breaker_opens_then_states_are_encoded_as_documented() -> None:
    metrics = TradingMetrics(process_metrics=False)
    clock = FakeClock()
    risk, _, _ = make_engine(clock=clock)
    for _ in range(5):
        risk.breaker(VENUE).record_failure(FailureKind.SERVER_ERROR)
    risk.halt("operator", "maintenance")

    metrics.refresh(risk, venues=[VENUE])
    open_state, halted = (
        _value(metrics, "thunes_circuit_breaker_state", venue="sim"),
        _value(metrics, "thunes_trading_state"),
    )
    clock.advance(61)  # past open_s: half-open until a probe decides
    metrics.refresh(risk, venues=[VENUE])

    assert (open_state, halted) == (2, 2)
    assert _value(metrics, "thunes_circuit_breaker_state", venue="sim") == 1
    assert _value(metrics, "thunes_kill_switch_active") == 0


def test_refresh_when_loss_reaches_limit_then_used_is_one_and_kill_switch_on() -> None:
    metrics = TradingMetrics(process_metrics=False)
    risk, clock, _ = make_engine(RiskLimits(max_daily_loss=D(5), cool_down_s=0))
    open_position(risk, "BTCUSDT", "b1", price="50000", quantity="0.0002")
    clock.advance(MINUTE / NS)
    risk.on_fill(
        fill(sell("BTCUSDT", "s1", "0.0002"), "25000"), order_complete=True
    )  # 10 -> 5 USDT: a loss of exactly the limit

    metrics.refresh(risk)

    assert _value(metrics, "thunes_daily_pnl_used") == pytest.approx(1.0)
    assert _value(metrics, "thunes_kill_switch_active") == 1


def test_refresh_when_stream_reconnects_and_goes_silent_then_ws_gauges_and_counter_follow() -> None:
    wall = WallClock()
    metrics = TradingMetrics(monotonic=wall, process_metrics=False)
    risk, _, _ = make_engine()
    stats = StreamStats(messages=10, reconnects=2, connected=True)
    name = "klines:BTCUSDT:1m"

    metrics.refresh(risk, streams={name: stats})
    first = [
        _value(metrics, "thunes_ws_reconnects_total", stream=name),
        _value(metrics, "thunes_ws_connected", stream=name),
    ]
    wall.now += 30
    stats.reconnects, stats.connected = 3, False  # dropped: nothing arrives while it reconnects
    metrics.refresh(risk, streams={name: stats})
    silent = [
        _value(metrics, "thunes_ws_gap_seconds", stream=name),
        _value(metrics, "thunes_ws_connected", stream=name),
    ]
    wall.now += 5
    stats.messages, stats.connected = 11, True
    metrics.refresh(risk, streams={name: stats})

    assert first == [2, 1]
    assert silent == [30, 0]
    assert _value(metrics, "thunes_ws_reconnects_total", stream=name) == 3
    assert _value(metrics, "thunes_ws_gap_seconds", stream=name) == 0
    assert _value(metrics, "thunes_ws_connected", stream=name) == 1


def _line(symbol: str, quantity: str, price: str | None, unrealized: str) -> AssetLine:
    mark = D(0) if price is None else D(price)
    return AssetLine(Symbol(symbol), D(quantity), None if price is None else D(price), D(quantity) * mark, D(0),
                     D(unrealized), D("0.1"))  # fmt: skip


def test_refresh_when_valuation_and_mismatches_given_then_set_and_equity_unknown_before() -> None:
    metrics = TradingMetrics(process_metrics=False)
    risk, _, _ = make_engine()
    unknown = (_value(metrics, "thunes_equity"), _value(metrics, "thunes_cash"))
    value = Valuation(D("912.5"), (_line("BTCUSDT", "0.001", "60000", "-1.5"), _line("ETHUSDT", "0.04", "1000", "2")))

    metrics.refresh(risk, valuation=value, reconciliation_mismatches=2)

    assert all(v is not None and math.isnan(v) for v in unknown)
    assert _value(metrics, "thunes_equity") == 1012.5  # 912.5 + 60 + 40
    assert _value(metrics, "thunes_cash") == 912.5
    assert _value(metrics, "thunes_exposure", symbol="BTCUSDT") == 60
    assert _value(metrics, "thunes_exposure", symbol="ETHUSDT") == 40
    assert _value(metrics, "thunes_position", symbol="ETHUSDT") == 0.04
    assert _value(metrics, "thunes_unrealized_pnl", symbol="BTCUSDT") == -1.5
    assert _value(metrics, "thunes_reconciliation_mismatches") == 2


def test_refresh_when_a_holding_has_no_price_then_equity_left_unknown_but_the_rest_set() -> None:
    metrics = TradingMetrics(process_metrics=False)
    risk, _, _ = make_engine()
    value = Valuation(D("900"), (_line("BTCUSDT", "0.001", "60000", "0"), _line("ETHUSDT", "0.04", None, "0")))

    metrics.refresh(risk, valuation=value)

    equity = _value(metrics, "thunes_equity")
    assert equity is not None and math.isnan(equity)  # 960 would leave the ETH out
    assert _value(metrics, "thunes_cash") == 900
    assert _value(metrics, "thunes_exposure", symbol="ETHUSDT") == 0


def test_registry_when_collected_then_exports_the_spec_metric_set_with_help() -> None:
    spec = {
        "thunes_kill_switch_active", "thunes_trading_state", "thunes_circuit_breaker_state", "thunes_daily_pnl_used",
        "thunes_open_positions", "thunes_orders_placed", "thunes_orders_rejected", "thunes_order_latency_seconds",
        "thunes_ws_connected", "thunes_ws_gap_seconds", "thunes_ws_reconnects", "thunes_reconciliation_mismatches",
        "thunes_equity",
    }  # fmt: skip
    # the denials, the limit the alert compares, exits that keep failing (rounds sent again), the portfolio
    extra = {"thunes_orders_denied", "thunes_max_open_positions", "thunes_exit_retries", "thunes_cash",
             "thunes_position", "thunes_exposure", "thunes_unrealized_pnl"}  # fmt: skip

    families = {f.name: f for f in TradingMetrics().registry.collect()}

    assert {n for n in families if n.startswith("thunes_")} == spec | extra
    assert all(families[n].documentation for n in spec | extra)
    assert {"process_resident_memory_bytes", "process_cpu_seconds", "python_info"} <= set(families)
    assert families["thunes_order_latency_seconds"].type == "histogram"
    assert 0.5 in LATENCY_BUCKETS  # the alert's threshold is a bucket bound: p95 > 0.5 s is exact
    assert "0 = ACTIVE, 1 = REDUCING, 2 = HALTED" in families["thunes_trading_state"].documentation
