"""The engine core over real candles, the real risk engine, the real matching core and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from thunes.adapters.datastore.loaders import load_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.domain import VenueId
from thunes.domain.messages import OrderDenied, OrderFilled
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import ManualClock
from thunes.engine.trader import Trader, TraderConfig
from thunes.execution.order_manager import OrderManager
from thunes.features import OHLCV, iter_bars
from thunes.risk import RiskEngine, RiskLimits
from thunes.simvenue import SimVenue
from thunes.simvenue.replay import bar_events

D = Decimal
VENUE = VenueId("sim")


def _scratch() -> SqlStore:
    """A throwaway in-memory ledger for probing runs."""
    return SqlStore("sqlite://")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield s
    s.close()


def _bars(shared_data: Path, n: int) -> OHLCV:
    bars = load_ohlcv(shared_data / "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather")
    return bars.slice(0, n)


def _run(bars: OHLCV, store: SqlStore, limits: RiskLimits) -> tuple[Trader, SimVenue, InMemoryBus, list[object]]:
    from thunes.strategy import SmaCross

    info = builtin_exchange_info()
    btc = info.get("BTCUSDT")
    clock = ManualClock(int(bars.open_time_ns[0]))
    core = SimVenue(info.instruments, clock.now_ns)
    core.deposit("me", "USDT", D(1000))
    bus = InMemoryBus()
    seen: list[object] = []
    bus.subscribe(object, seen.append)
    risk = RiskEngine(limits, clock.now_ns)
    orders = OrderManager(InProcessVenue(core, "me", info), store, bus, clock.now_ns, VENUE)
    trader = Trader(SmaCross(5, 20, tick_size=btc.tick_size), btc, risk, orders, store, bus, TraderConfig(VENUE))
    closes = iter(iter_bars(bars, btc.tick_size))
    for event in bar_events(bars, btc.tick_size, btc.step_size):
        clock.set(max(clock.now_ns(), event.ts_ns))
        kind = type(event).__name__
        if kind == "ReplayTrade":
            core.on_trade("BTCUSDT", event.price, event.quantity)  # type: ignore[union-attr]
        elif kind == "ReplayQuote":
            core.on_quote("BTCUSDT", event.bid, event.bid_qty, event.ask, event.ask_qty)  # type: ignore[union-attr]
        elif kind == "BarClosed":
            asyncio.run(trader.on_bar(next(closes)))
    return trader, core, bus, seen


def test_trader_when_replaying_real_candles_then_ledger_equals_venue(shared_data: Path, store: SqlStore) -> None:
    trader, core, _, seen = _run(_bars(shared_data, 1500), store, RiskLimits())

    venue_trades = core.my_trades("me", "BTCUSDT")
    assert trader.stats.filled > 20
    assert len(store.fills("BTCUSDT")) == len(venue_trades)
    assert {f.trade_id for f in store.fills()} == {str(t.trade_id) for t in venue_trades}
    venue_btc = core.balances("me").get("BTC")
    held = venue_btc.total if venue_btc else D(0)
    assert trader.position.quantity == held
    assert sum(isinstance(m, OrderFilled) for m in seen) == trader.stats.filled


def test_trader_when_kill_switch_on_while_holding_then_no_buy_but_the_exit_sells(
    shared_data: Path, store: SqlStore
) -> None:
    bars = _bars(shared_data, 1500)
    cut = next(
        n
        for n in range(100, 1500, 20)
        if "BTCUSDT" in _run(bars.slice(0, n), _scratch(), RiskLimits())[0].risk.open_symbols()
    )
    trader, core, _, seen = _run(bars.slice(0, cut), store, RiskLimits())
    assert "BTCUSDT" in trader.risk.open_symbols()  # holding when the switch goes on
    trader.risk.activate_kill_switch("test", "manual stop")
    trades_before = len(core.my_trades("me", "BTCUSDT"))

    rest = bars.slice(cut, 1500)
    closes = iter(iter_bars(rest, trader.instrument.tick_size))
    for event in bar_events(rest, trader.instrument.tick_size, trader.instrument.step_size):
        kind = type(event).__name__
        if kind == "ReplayTrade":
            core.on_trade("BTCUSDT", event.price, event.quantity)  # type: ignore[union-attr]
        elif kind == "BarClosed":
            asyncio.run(trader.on_bar(next(closes)))

    after = core.my_trades("me", "BTCUSDT")[trades_before:]
    assert [t.side.value for t in after] == ["SELL"]  # the exit went through, nothing was bought
    assert trader.stats.denied["KILL_SWITCH"] > 0
    assert any(isinstance(m, OrderDenied) and m.reason.value == "KILL_SWITCH" for m in seen)
    assert "BTCUSDT" not in trader.risk.open_symbols()


def test_trader_when_order_notional_limit_below_minimum_then_entries_denied(shared_data: Path, store: SqlStore) -> None:
    trader, core, _, _ = _run(_bars(shared_data, 400), store, RiskLimits(max_order_notional=D(4)))

    assert core.my_trades("me", "BTCUSDT") == []
    assert trader.stats.denied  # every entry refused before reaching the venue
    assert trader.stats.submitted == 0


def test_restore_when_the_ledger_ends_with_a_sell_that_left_dust_then_entries_are_not_blocked(
    shared_data: Path, store: SqlStore
) -> None:
    bars = _bars(shared_data, 1500)
    cut = next(  # a point where the last round trip is closed and left an unsellable remainder
        n
        for n in range(100, 1500, 10)
        if (t := _run(bars.slice(0, n), _scratch(), RiskLimits())[0]).position.quantity > 0
        and "BTCUSDT" not in t.risk.open_symbols()
    )
    before, _, _, _ = _run(bars.slice(0, cut), store, RiskLimits())
    fills = store.fills("BTCUSDT")
    assert fills[-1].side.value == "SELL" and before.position.quantity > 0  # dust, not a position

    clock = ManualClock(int(bars.open_time_ns[cut]))
    restarted = Trader(before.strategy, before.instrument, RiskEngine(RiskLimits(), clock.now_ns), before.orders,
                       store, InMemoryBus(), TraderConfig(VENUE))  # fmt: skip
    restarted.restore(fills)

    assert restarted.position.quantity == before.position.quantity  # the ledger's view is kept in full
    assert restarted.risk.open_symbols() == frozenset()  # but risk sees no open position: entries pass
    assert restarted.risk.held(restarted.instrument.symbol) == 0
