"""The event backtest runs a portfolio (issue 16 items 3 and 6): several (strategy, symbol) pairs on one
account, on the bundled 1h candles of BTCUSDT, ETHUSDT, BNBUSDT and SOLUSDT. The ledger agrees with the
venue symbol by symbol and asset by asset; the shared risk engine admits exactly ``max_open_positions``
when several symbols enter on one bar, in portfolio order; a daily-loss breach on one symbol stops the
entries of all; and a portfolio of one pair trades as the single-pair backtest does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from thunes.app.config import DataSettings, Settings, StrategySettings, load_settings
from thunes.app.sources import load_portfolio_bars
from thunes.backtest.event import ACCOUNT, EventBacktestResult, PairMarket, run_event_backtest, run_portfolio_backtest
from thunes.backtest.fast import run_engine_core_backtest
from thunes.backtest.portfolio_run import measure_portfolio
from thunes.domain import ExchangeInfo, Instrument, Side, Timeframe, parse_exchange_info
from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV, to_ticks
from thunes.strategy.base import Signal, SignalArray, Strategy

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
DEPOSIT = Decimal(1000)


@dataclass(frozen=True)
class _World:
    info: ExchangeInfo
    instruments: dict[str, Instrument]
    bars: dict[str, OHLCV]  # cut to their common range


@pytest.fixture(scope="module")
def world(shared_data: Path, exchange_info_path: Path, tmp_path_factory: pytest.TempPathFactory) -> _World:
    info = parse_exchange_info(json.loads(exchange_info_path.read_text()))
    instruments = {s: info.get(s) for s in SYMBOLS}
    data = DataSettings(store_dir=tmp_path_factory.mktemp("no-store") / "store", shared_data_dir=shared_data)
    loaded = load_portfolio_bars(list(instruments.values()), Timeframe.H1, data)
    assert all(item.source.startswith("recorded") for item in loaded.loaded)
    return _World(info, instruments, dict(zip(SYMBOLS, loaded.bars, strict=True)))


def _settings(**risk: Any) -> Settings:
    return load_settings(env={}, overrides={"risk": risk} if risk else None)


class _Scripted(Strategy):
    """Signals at given bar open times only (a decision source whose decisions a test chooses)."""

    name = "scripted"
    version = "1"

    def __init__(self, tick_size: Decimal, enter: Sequence[int] = (), leave: Sequence[int] = ()) -> None:
        self.enter, self.leave = frozenset(enter), frozenset(leave)
        super().__init__(None, tick_size)

    @property
    def parameters(self) -> dict[str, Any]:
        return {"enter": sorted(self.enter), "leave": sorted(self.leave)}

    @property
    def warmup(self) -> int:
        return 0

    def on_bar(self, bar: Bar) -> Signal:
        if bar.open_time_ns in self.enter:
            return Signal.ENTER_LONG
        return Signal.EXIT_LONG if bar.open_time_ns in self.leave else Signal.HOLD

    def signals(self, bars: OHLCV) -> SignalArray:
        enter = np.isin(bars.open_time_ns, list(self.enter))
        leave = np.isin(bars.open_time_ns, list(self.leave))
        return np.where(enter, int(Signal.ENTER_LONG), np.where(leave, int(Signal.EXIT_LONG), 0)).astype(np.int8)

    def reset(self) -> None:
        pass


def _pairs(world: _World, rows: slice | None = None, names: Sequence[str] = SYMBOLS) -> list[PairMarket]:
    """The four symbols, alternating the two built-in strategies."""
    strategies = [StrategySettings(name="sma_cross"), StrategySettings(name="rsi_reversion")]
    markets = []
    for i, symbol in enumerate(names):
        bars = world.bars[symbol] if rows is None else world.bars[symbol].slice(rows.start, rows.stop)
        markets.append(PairMarket(strategies[i % 2], world.instruments[symbol], bars))
    return markets


def _trades(result: EventBacktestResult, symbol: str) -> list[tuple[Any, ...]]:
    return [(f.trade_id, f.side, f.price, f.quantity, f.commission, f.commission_asset, f.ts_ns)
            for f in result.fills if f.symbol == symbol]  # fmt: skip


def test_four_symbols_when_backtested_then_ledger_equals_venue_per_symbol_and_per_asset(world: _World) -> None:
    # Act
    run = measure_portfolio(_settings(), _pairs(world), world.info, warmup_bars=100, deposit=DEPOSIT)

    # Assert: every symbol traded, and the ledger's fills are the venue's trades, symbol by symbol
    result, venue = run.result, run.result.venue
    assert venue is not None
    for symbol in SYMBOLS:
        venue_trades = [(str(t.trade_id), t.side, t.price, t.quantity, t.commission, t.commission_asset,
                         t.time_ms * 1_000_000) for t in venue.my_trades(ACCOUNT, symbol)]  # fmt: skip
        assert len(venue_trades) > 50, symbol
        assert _trades(result, symbol) == venue_trades, symbol
    # positions are the venue's balances, asset by asset, and the cash is the deposit plus every flow
    balances = venue.balances(ACCOUNT)
    for outcome in result.symbols:
        base = world.instruments[outcome.symbol].base_asset
        assert outcome.position == (balances[base].total if base in balances else 0), outcome.symbol
    flows = [(f.notional if f.side is Side.SELL else -f.notional) - (f.commission if f.commission_asset == "USDT" else 0)
             for f in result.fills]  # fmt: skip
    cash = DEPOSIT + sum(flows, Decimal(0))
    assert balances["USDT"].total == cash
    # the equity's last point is the cash and every holding at its last close; the symbols' PnL sum to it
    tick = {s: world.instruments[s].tick_size for s in SYMBOLS}
    last = {s: int(to_ticks(world.bars[s].close[-1:], tick[s])[0]) * tick[s] for s in SYMBOLS}  # snapped to the tick
    holdings = sum((o.position * last[o.symbol] for o in result.symbols), Decimal(0))
    assert result.equity[-1][1] == cash + holdings == run.final_equity
    assert sum((f.pnl for f in run.symbols), Decimal(0)) == run.final_equity - DEPOSIT
    assert sum(f.contribution for f in run.symbols) == pytest.approx(run.performance.total_return, rel=1e-9)
    # one account: the position limit was shared (some entries found every slot taken), and counted once
    assert result.stats.denied["POSITION_LIMIT"] > 0
    assert result.stats.filled == len(result.fills) == sum(o.stats.filled for o in result.symbols)
    assert run.performance.trades == sum(f.trades for f in run.symbols)


@pytest.mark.parametrize("order", [SYMBOLS, tuple(reversed(SYMBOLS))], ids=["BTC first", "SOL first"])
def test_same_bar_entries_when_four_symbols_signal_then_exactly_max_open_positions_admitted_in_portfolio_order(
    world: _World, order: tuple[str, ...]
) -> None:
    # Arrange: every symbol enters on the same bar; two slots
    at = int(world.bars["BTCUSDT"].open_time_ns[150])
    markets = [PairMarket(_Scripted(world.instruments[s].tick_size, enter=[at]), world.instruments[s],
                          world.bars[s].slice(0, 300)) for s in order]  # fmt: skip

    # Act
    result = run_portfolio_backtest(_settings(max_open_positions=2), markets, world.info, warmup_bars=10,
                                    deposit=DEPOSIT)  # fmt: skip

    # Assert: the first two of the portfolio's order hold a position, the other two were denied
    bought = [f.symbol for f in result.fills if f.side is Side.BUY]
    assert bought == list(order[:2])
    assert {f.ts_ns for f in result.fills} == {at + 3_600_000_000_000}  # at the bar's close
    by_symbol = {o.symbol: o for o in result.symbols}
    assert [by_symbol[s].position > 0 for s in order] == [True, True, False, False]
    assert [by_symbol[s].stats.denied["POSITION_LIMIT"] for s in order] == [0, 0, 1, 1]


def _losing_hour(bars: OHLCV) -> int:
    """A row after the warm-up whose next close is lower (a round trip over it loses), early in a UTC day."""
    hours = (bars.open_time_ns // 3_600_000_000_000) % 24
    for row in range(200, len(bars) - 10):
        if hours[row] == 2 and bars.close[row + 1] < bars.close[row] * 0.995:
            return row
    raise AssertionError("no losing hour in the data")


@pytest.mark.parametrize("breach", [True, False], ids=["daily loss breached", "limit far away"])
def test_daily_loss_when_one_symbol_breaches_then_entries_on_every_symbol_stop(world: _World, breach: bool) -> None:
    # Arrange: BTCUSDT buys at one close and sells at the next, lower; the others enter two hours later
    btc = world.bars["BTCUSDT"]
    row = _losing_hour(btc)
    times = btc.open_time_ns
    scripts = {"BTCUSDT": ([int(times[row])], [int(times[row + 1])])}
    scripts |= {s: ([int(times[row + 3])], []) for s in SYMBOLS[1:]}
    markets = [PairMarket(_Scripted(world.instruments[s].tick_size, *scripts[s]), world.instruments[s],
                          world.bars[s].slice(0, row + 10)) for s in SYMBOLS]  # fmt: skip
    limit = "0.05" if breach else "1000"

    # Act
    result = run_portfolio_backtest(_settings(max_daily_loss=limit, cool_down_minutes=0, max_open_positions=4),
                                    markets, world.info, warmup_bars=10, deposit=DEPOSIT)  # fmt: skip

    # Assert: the loss was realised; after it, the other symbols' entries were denied, or admitted
    btc_fills = [f for f in result.fills if f.symbol == "BTCUSDT"]
    assert [f.side for f in btc_fills] == [Side.BUY, Side.SELL]
    assert btc_fills[1].price * btc_fills[1].quantity < btc_fills[0].price * btc_fills[0].quantity
    others = {o.symbol: o for o in result.symbols if o.symbol != "BTCUSDT"}
    if breach:
        assert all(o.stats.denied["KILL_SWITCH"] == 1 and o.position == 0 for o in others.values()), others
    else:
        assert all(o.stats.filled == 1 and not o.stats.denied for o in others.values()), others


@pytest.mark.parametrize("strategy", ["sma_cross", "rsi_reversion"])
def test_one_pair_portfolio_when_run_then_it_trades_as_the_single_pair_engine_core(
    world: _World, strategy: str
) -> None:
    # Arrange
    settings = load_settings(env={}, overrides={"strategy": {"name": strategy}})
    btc = world.instruments["BTCUSDT"]
    bars = world.bars["BTCUSDT"]

    # Act
    portfolio = run_portfolio_backtest(settings, [PairMarket(settings.strategy, btc, bars)], world.info,
                                       warmup_bars=100, deposit=DEPOSIT)  # fmt: skip
    reference = run_engine_core_backtest(settings, btc, bars, world.info, warmup_bars=100, deposit=DEPOSIT)

    # Assert: the fast path's engine core walks the signal bars its own way, and trades the same
    assert len(portfolio.fills) > 100
    assert portfolio.fills == reference.fills
    assert [repr(o) for o in portfolio.orders] == [repr(o) for o in reference.orders]
    assert portfolio.stats == reference.stats


def test_quiet_second_symbol_when_added_then_the_first_trades_and_values_as_alone(world: _World) -> None:
    # Arrange: a second symbol whose source never decides anything
    settings = _settings()
    btc, eth = world.instruments["BTCUSDT"], world.instruments["ETHUSDT"]
    alone = run_event_backtest(settings, btc, world.bars["BTCUSDT"], world.info, warmup_bars=100, deposit=DEPOSIT)

    # Act
    both = run_portfolio_backtest(settings, [PairMarket(settings.strategy, btc, world.bars["BTCUSDT"]),
                                             PairMarket(_Scripted(eth.tick_size), eth, world.bars["ETHUSDT"])],
                                  world.info, warmup_bars=100, deposit=DEPOSIT)  # fmt: skip

    # Assert
    assert len(alone.fills) > 100
    assert both.fills == alone.fills
    assert [repr(o) for o in both.orders] == [repr(o) for o in alone.orders]
    assert list(both.equity) == list(alone.equity)


def test_feed_every_bar_when_portfolio_then_the_same_orders_fills_and_equity(world: _World) -> None:
    settings = _settings()
    markets = _pairs(world, slice(0, 3_000))

    lazy = run_portfolio_backtest(settings, markets, world.info, warmup_bars=100, deposit=DEPOSIT)
    eager = run_portfolio_backtest(settings, markets, world.info, warmup_bars=100, deposit=DEPOSIT, feed_every_bar=True)

    assert len(lazy.fills) > 100 and {f.symbol for f in lazy.fills} == set(SYMBOLS)
    assert eager.fills == lazy.fills
    assert [repr(o) for o in eager.orders] == [repr(o) for o in lazy.orders]
    assert list(eager.equity) == list(lazy.equity)
