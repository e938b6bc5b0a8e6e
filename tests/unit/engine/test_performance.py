"""Performance metrics against empyrical (the reference library) and hand-worked trades.

Every ratio empyrical has is compared on the same return series, with empyrical given our
annualisation (365-day years of bars) rather than loosening the tolerance: 1e-9 relative on real
backtests. On generated series the tolerance is 1e-9 of the larger of the value and the size of
the terms it is computed from, because the two libraries sum in different orders: a mean that
nearly cancels to zero differs by ~n·eps·mean(|r|) between them, not by ~eps·|mean|.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import empyrical as ep
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pyarrow import feather

from thunes.app.config import load_settings
from thunes.backtest.event import EventBacktestResult, run_event_backtest
from thunes.domain import ExchangeInfo, Instrument, Timeframe, parse_exchange_info
from thunes.domain.enums import Liquidity, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import Fill
from thunes.domain.position import Position, PositionError
from thunes.engine.performance import (
    YEAR_NS,
    Performance,
    RoundTrip,
    compute_performance,
    drawdown_series,
    equity_arrays,
    max_drawdown_duration_ns,
    periodic_returns,
    periods_per_year,
    round_trips,
)
from thunes.features import OHLCV, iter_bars

REL = 1e-9
HOUR = 3_600_000_000_000
PPY_1H = periods_per_year(HOUR)


# ---------------------------------------------------------------- reference comparison helpers
def _reference(returns: np.ndarray, ppy: float) -> dict[str, float]:
    """Every figure empyrical computes that the performance module also reports."""
    return {
        "total_return": float(ep.cum_returns_final(returns)),
        "annual_return": float(ep.annual_return(returns, annualization=ppy)),
        "annual_volatility": float(ep.annual_volatility(returns, annualization=ppy)),
        "sharpe": float(ep.sharpe_ratio(returns, risk_free=0, annualization=ppy)),
        "sortino": float(ep.sortino_ratio(returns, required_return=0, annualization=ppy)),
        "downside_risk": float(ep.downside_risk(returns, required_return=0, annualization=ppy)),
        "calmar": float(ep.calmar_ratio(returns, annualization=ppy)),
        "max_drawdown": float(ep.max_drawdown(returns)),
    }


def _assert_matches(name: str, ours: float, ref: float, scale: float = 0.0) -> None:
    """Within REL of max(|ref|, scale); NaN only matches NaN and infinities match exactly."""
    if not math.isfinite(ref):
        assert (math.isnan(ours) and math.isnan(ref)) or ours == ref, f"{name}: ours {ours!r}, empyrical {ref!r}"
        return
    assert math.isfinite(ours), f"{name}: ours {ours!r}, empyrical {ref!r}"
    assert abs(ours - ref) <= REL * max(abs(ref), scale), f"{name}: ours {ours!r}, empyrical {ref!r}"


# ---------------------------------------------------------------- real event-driven backtests
@dataclass(frozen=True)
class _Run:
    name: str
    instrument: Instrument
    bars: OHLCV
    result: EventBacktestResult
    trips: list[RoundTrip]
    performance: Performance


@pytest.fixture(scope="module")
def info(exchange_info_path: Path) -> ExchangeInfo:
    return parse_exchange_info(json.loads(exchange_info_path.read_text()))


@pytest.fixture(scope="module")
def btc_1h(shared_data: Path) -> OHLCV:
    table = feather.read_table(shared_data / "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather")
    cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    return OHLCV.from_arrays("BTCUSDT", Timeframe.H1, table.column("date").cast("int64").to_numpy(), *cols)


@pytest.fixture(scope="module", params=["sma_cross", "rsi_reversion"])
def real_run(request: pytest.FixtureRequest, info: ExchangeInfo, btc_1h: OHLCV) -> _Run:
    settings = load_settings(env={}, overrides={"strategy": {"name": request.param}})
    instrument = info.get("BTCUSDT")
    result = run_event_backtest(settings, instrument, btc_1h, info)
    trips = round_trips(result.fills, [instrument])
    times, values = equity_arrays(result.equity)
    return _Run(request.param, instrument, btc_1h, result, trips,
                compute_performance(times, values, trips, PPY_1H))  # fmt: skip


def test_returns_when_real_backtest_then_equal_empyrical_simple_returns(real_run: _Run) -> None:
    _, values = equity_arrays(real_run.result.equity)

    ours = periodic_returns(values)

    # (E_i - E_(i-1)) / E_(i-1), as empyrical computes it; pandas' pct_change divides first and
    # subtracts 1 after, which loses digits on tiny returns, so it is only close.
    np.testing.assert_array_equal(ours, ep.simple_returns(values))
    np.testing.assert_allclose(ours, pd.Series(values).pct_change().iloc[1:].to_numpy(), rtol=0, atol=1e-15)
    assert real_run.performance.periods == len(values) - 1 == 12_455  # 12,556 bars less the 100-bar warm-up


def test_metrics_when_real_backtest_then_match_empyrical_to_1e9(real_run: _Run) -> None:
    _, values = equity_arrays(real_run.result.equity)
    reference = _reference(periodic_returns(values), PPY_1H)

    assert real_run.performance.trades > 50  # a real run that traded, not an empty curve
    for name, ref in reference.items():
        assert math.isfinite(ref), name
        _assert_matches(name, getattr(real_run.performance, name), ref)


def test_trade_stats_when_real_backtest_then_match_pandas_on_trip_pnls(real_run: _Run) -> None:
    pnl = pd.Series([float(t.pnl) for t in real_run.trips if t.closed])
    perf = real_run.performance

    assert perf.trades == len(pnl)
    assert perf.trades_per_pair == {"BTCUSDT": len(pnl)}
    _assert_matches("win_rate", perf.win_rate, float((pnl > 0).mean()))
    _assert_matches("profit_factor", perf.profit_factor, float(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum()))
    _assert_matches("expectancy", perf.expectancy, float(pnl.mean()))


def test_round_trips_when_real_backtest_then_one_per_entry_order_and_pnl_reconciles_with_equity(
    real_run: _Run,
) -> None:
    result, trips = real_run.result, real_run.trips
    entries = [o for o in result.orders if o.side is Side.BUY and o.filled_quantity > 0]
    exits = [o for o in result.orders if o.side is Side.SELL and o.filled_quantity > 0]
    position = Position(Symbol("BTCUSDT"), "BTC", "USDT")
    for fill in result.fills:
        position = position.apply(fill)
    n = len(real_run.bars)
    last_close = next(iter_bars(real_run.bars.slice(n - 1, n), real_run.instrument.tick_size)).close

    assert len(trips) == len(entries)
    assert sum(t.closed for t in trips) == len(exits)  # every exit order closed one trip
    realized = sum((t.pnl for t in trips), Decimal(0))
    assert realized == position.realized_pnl
    # Realized PnL plus the mark-to-market of what is still held (the exits' unsellable dust)
    # is the equity change, exact but for the 28-digit division of partial closes.
    equity_change = result.equity[-1][1] - result.equity[0][1]  # from the deposit the settings gave
    assert abs(realized + position.unrealized_pnl(last_close) - equity_change) < Decimal("1e-15")
    fees = sum((f.commission * f.price if f.commission_asset == "BTC" else f.commission for f in result.fills),
               Decimal(0))  # fmt: skip
    assert real_run.performance.total_fees == float(fees)


def test_exposure_and_drawdown_duration_when_real_backtest_then_match_independent_computation(real_run: _Run) -> None:
    times, values = equity_arrays(real_run.result.equity)
    perf = real_run.performance
    # Exposure: one symbol, so the trips never overlap and their durations just add up.
    held = sum(((t.exit_ns or int(times[-1])) - t.entry_ns) for t in real_run.trips)
    # Drawdown duration with pandas: label each underwater stretch, measure peak -> recovery.
    equity = pd.Series(values, index=times)
    under = equity < equity.cummax()
    stretch = (~under).cumsum()
    longest = 0
    for _, block in equity[under].groupby(stretch[under]):
        peak_time = equity.index[equity.index.get_loc(block.index[0]) - 1]
        after = equity.index.get_loc(block.index[-1]) + 1
        end_time = equity.index[min(after, len(equity) - 1)]
        longest = max(longest, end_time - peak_time)

    assert perf.exposure == held / (int(times[-1]) - int(times[0]))
    assert 0 < perf.exposure < 1
    assert perf.max_drawdown_duration_ns == longest > 0


# ---------------------------------------------------------------- generated series (hypothesis)
_bps = st.integers(min_value=-3000, max_value=3000).map(lambda k: k / 10_000)  # returns on a 1 bp grid


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # empyrical's CAGR of a steep curve
@settings(max_examples=300, deadline=None)
@given(
    returns=st.lists(_bps, min_size=2, max_size=200),
    timeframe=st.sampled_from([Timeframe.M1, Timeframe.H1, Timeframe.D1]),
)
# Constant returns: our volatility is exactly 0, empyrical's the rounding of its mean (1.2e-14 here).
@example(returns=[-0.0875] * 3, timeframe=Timeframe.M1)
@example(returns=[0.0001] * 50, timeframe=Timeframe.D1)
def test_metrics_when_generated_series_then_match_empyrical(returns: list[float], timeframe: Timeframe) -> None:
    values = 1000.0 * np.cumprod(np.concatenate(([1.0], 1.0 + np.array(returns))))
    times = np.arange(len(values), dtype=np.int64) * timeframe.nanoseconds
    r = periodic_returns(values)
    mean_abs = float(np.mean(np.abs(r)))
    std = float(np.std(r, ddof=1))
    # A series that is constant but for float noise has no meaningful Sharpe: its dispersion is
    # rounding. Exactly constant ones stay in (both sides must then say inf or NaN).
    assume(r.max() == r.min() or std > 1e-6 * mean_abs)
    ppy = periods_per_year(timeframe.nanoseconds)

    perf = compute_performance(times, values, [], ppy)

    ref = _reference(r, ppy)
    root = math.sqrt(ppy)
    mdd = abs(ref["max_drawdown"])
    scales = {
        "total_return": 1 + abs(ref["total_return"]),
        "annual_return": (1 + abs(ref["annual_return"])) * ppy / len(r),
        # dispersions are judged against the size of the returns they measure (annualised): a
        # constant series' float noise is no disagreement, a real difference in dispersion still is
        "annual_volatility": mean_abs * root,
        "sharpe": mean_abs / std * root if std > 0 else 0.0,
        "sortino": mean_abs * ppy / ref["downside_risk"] if ref["downside_risk"] > 0 else 0.0,
        "downside_risk": mean_abs * root,
        "calmar": (1 + abs(ref["annual_return"])) * ppy / len(r) / mdd if mdd > 0 else 0.0,
        "max_drawdown": 1.0,
    }
    for name, value in ref.items():
        _assert_matches(name, getattr(perf, name), value, scales[name])


def test_metrics_when_flat_curve_then_undefined_ratios_are_nan_like_empyrical() -> None:
    values = np.full(10, 1000.0)
    times = np.arange(10, dtype=np.int64) * HOUR

    perf = compute_performance(times, values, [], PPY_1H)

    ref = _reference(periodic_returns(values), PPY_1H)
    for name in ("sharpe", "sortino", "calmar"):
        assert math.isnan(getattr(perf, name)) and math.isnan(ref[name]), name
    assert perf.total_return == ref["total_return"] == 0.0
    assert perf.max_drawdown == ref["max_drawdown"] == 0.0
    assert perf.max_drawdown_duration_ns == 0


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # 100 % an hour: CAGR overflows
def test_metrics_when_constant_positive_returns_then_infinite_sharpe_and_sortino_like_empyrical() -> None:
    values = 2.0 ** np.arange(6)  # returns exactly 1.0 each: zero dispersion, no downside
    times = np.arange(6, dtype=np.int64) * HOUR

    perf = compute_performance(times, values, [], PPY_1H)

    ref = _reference(periodic_returns(values), PPY_1H)
    assert perf.sharpe == ref["sharpe"] == math.inf
    assert perf.sortino == ref["sortino"] == math.inf
    assert math.isnan(perf.calmar) and math.isnan(ref["calmar"])


# ---------------------------------------------------------------- conventions, by hand
def test_periods_per_year_when_bar_sizes_then_365_day_years() -> None:
    assert periods_per_year(HOUR) == 8760.0
    assert periods_per_year(Timeframe.D1.nanoseconds) == 365.0
    assert periods_per_year(Timeframe.M1.nanoseconds) == 525_600.0
    assert YEAR_NS == 365 * 86_400 * 10**9
    with pytest.raises(ValueError, match="positive"):
        periods_per_year(0)


def test_drawdown_duration_when_recovered_then_peak_to_recovery_time() -> None:
    times = np.array([0, 10, 20, 35, 50, 60, 90], dtype=np.int64)
    values = np.array([100.0, 110.0, 99.0, 105.0, 110.0, 108.0, 109.0])

    duration = max_drawdown_duration_ns(times, values)

    # Peak 110 at t=10, back to 110 at t=50: 40. Then peak 110 at t=50, never recovered: 90-50 = 40.
    assert duration == 40
    np.testing.assert_allclose(drawdown_series(values), [0, 0, -0.1, -5 / 110, 0, -2 / 110, -1 / 110])


def test_drawdown_duration_when_never_recovered_then_runs_to_the_last_point() -> None:
    times = np.array([0, 5, 6, 100], dtype=np.int64)

    assert max_drawdown_duration_ns(times, np.array([100.0, 120.0, 90.0, 119.0])) == 95
    assert max_drawdown_duration_ns(times, np.array([100.0, 101.0, 102.0, 103.0])) == 0


def test_compute_when_bad_curve_then_value_error() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        compute_performance([0, 0], [1.0, 2.0], [], PPY_1H)
    with pytest.raises(ValueError, match="positive"):
        compute_performance([0, 1], [1.0, 0.0], [], PPY_1H)
    with pytest.raises(ValueError, match="one timestamp per equity value"):
        compute_performance([0, 1, 2], [1.0, 2.0], [], PPY_1H)


# ---------------------------------------------------------------- round trips, by hand
def _fill(side: Side, price: str, qty: str, fee: str, asset: str, ts: int, order: str = "o", symbol: str = "BTCUSDT") -> Fill:  # fmt: skip
    return Fill(ClientOrderId(order), f"{order}-{ts}", Symbol(symbol), side, Decimal(price), Decimal(qty),
                Decimal(fee), asset, Liquidity.TAKER, ts)  # fmt: skip


@pytest.fixture(scope="module")
def btcusdt(info: ExchangeInfo) -> Instrument:
    return info.get("BTCUSDT")


def test_round_trips_when_partial_fills_and_binance_fees_then_pnl_net_of_every_fee(btcusdt: Instrument) -> None:
    fills = [
        _fill(Side.BUY, "100", "1.0", "0.001", "BTC", 1, "buy-1"),  # one order, two partial fills
        _fill(Side.BUY, "102", "1.0", "0.001", "BTC", 2, "buy-1"),
        _fill(Side.SELL, "110", "1.5", "0.165", "USDT", 3, "sell-1"),  # the exit, also in two fills
        _fill(Side.SELL, "108", "0.49", "0.05292", "USDT", 4, "sell-1"),
    ]

    (trip,) = round_trips(fills, [btcusdt])

    held = Decimal("1.998")  # 2 bought less 0.002 base commission
    cost = Decimal(202)  # a base fee is paid in kind: cost is the notional alone
    first = Decimal(165) - Decimal("0.165") - cost * Decimal("1.5") / held
    second = Decimal("52.92") - Decimal("0.05292") - (cost - cost * Decimal("1.5") / held) * Decimal("0.49") / (held - Decimal("1.5"))  # fmt: skip
    assert trip.pnl == first + second
    assert trip.fees == Decimal("0.100") + Decimal("0.102") + Decimal("0.165") + Decimal("0.05292")
    assert (trip.entry_ns, trip.exit_ns, trip.fills) == (1, 4, 4)
    assert trip.quantity == Decimal(2)
    assert trip.entry_price == Decimal(101)
    assert trip.exit_price == (Decimal(165) + Decimal("52.92")) / Decimal("1.99")


def test_round_trips_when_dust_left_then_next_buy_opens_a_new_trip_and_last_stays_open(btcusdt: Instrument) -> None:
    fills = [
        _fill(Side.BUY, "100", "1", "0.001", "BTC", 1),
        _fill(Side.SELL, "101", "0.99", "0.09999", "USDT", 2),  # 0.009 BTC of dust stays held
        _fill(Side.BUY, "99", "1", "0.001", "BTC", 3),
    ]

    first, second = round_trips(fills, [btcusdt])

    assert first.closed and not second.closed
    assert (second.entry_ns, second.exit_ns, second.exit_price, second.pnl) == (3, None, None, Decimal(0))
    perf = compute_performance([0, 4], [1000.0, 1001.0], [first, second], PPY_1H)
    assert (perf.trades, perf.open_trades, perf.win_rate) == (1, 1, 1.0)
    assert perf.exposure == 0.5  # held over [1, 2] and [3, end=4] of the curve's [0, 4]


def test_round_trips_when_sell_before_any_buy_then_position_error(btcusdt: Instrument) -> None:
    with pytest.raises(PositionError, match="before any BUY"):
        round_trips([_fill(Side.SELL, "100", "1", "0.1", "USDT", 1)], [btcusdt])


def test_round_trips_when_fee_in_bnb_then_valued_by_the_caller(btcusdt: Instrument) -> None:
    fills = [_fill(Side.BUY, "100", "1", "0.0005", "BNB", 1), _fill(Side.SELL, "110", "1", "0.0005", "BNB", 2)]

    with pytest.raises(PositionError, match="needs its USDT value"):
        round_trips(fills, [btcusdt])
    (trip,) = round_trips(fills, [btcusdt], third_asset_fee_value=lambda f: f.commission * Decimal(300))

    assert trip.fees == Decimal("0.3")
    assert trip.pnl == Decimal(110) - Decimal("0.15") - (Decimal(100) + Decimal("0.15"))


def test_trade_stats_when_two_pairs_overlap_then_exposure_is_the_union_and_counts_per_pair(info: ExchangeInfo) -> None:
    ethusdt, btcusdt = info.get("ETHUSDT"), info.get("BTCUSDT")
    fills = [
        _fill(Side.BUY, "100", "1", "0.001", "BTC", 10),
        _fill(Side.BUY, "10", "1", "0.001", "ETH", 20, symbol="ETHUSDT"),
        _fill(Side.SELL, "90", "0.999", "0.0899", "USDT", 40),
        _fill(Side.SELL, "12", "0.999", "0.011988", "USDT", 60, symbol="ETHUSDT"),
        _fill(Side.BUY, "100", "1", "0.001", "BTC", 80),
        _fill(Side.SELL, "100", "0.999", "0.0999", "USDT", 90),
    ]

    trips = round_trips(fills, [btcusdt, ethusdt])
    perf = compute_performance([0, 100], [1000.0, 1000.5], trips, PPY_1H)

    assert perf.trades_per_pair == {"BTCUSDT": 2, "ETHUSDT": 1}
    assert perf.exposure == (60 - 10 + 90 - 80) / 100  # [10, 60] and [80, 90]: overlap counted once
    losses = [t.pnl for t in trips if t.pnl < 0]
    gains = [t.pnl for t in trips if t.pnl > 0]
    assert len(gains) == 1 and len(losses) == 2
    assert perf.profit_factor == float(gains[0]) / -float(sum(losses, Decimal(0)))
    assert perf.win_rate == 1 / 3


def test_trade_stats_when_no_losing_or_no_closed_trade_then_infinite_or_undefined(btcusdt: Instrument) -> None:
    winner = round_trips([_fill(Side.BUY, "100", "1", "0.001", "BTC", 1),
                          _fill(Side.SELL, "200", "0.999", "0.1998", "USDT", 2)], [btcusdt])  # fmt: skip

    assert compute_performance([0, 3], [1.0, 2.0], winner, PPY_1H).profit_factor == math.inf
    empty = compute_performance([0, 3], [1.0, 2.0], [], PPY_1H)
    assert math.isnan(empty.win_rate) and math.isnan(empty.expectancy) and math.isnan(empty.profit_factor)
    assert (empty.trades, empty.exposure, empty.total_fees, empty.trades_per_pair) == (0, 0.0, 0.0, {})
