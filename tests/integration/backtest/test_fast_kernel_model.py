"""The compiled kernel reads the replay model (``simvenue/replay_model.py``) as data, and writes none of it
a second time: on random bars its trade times, prices and sizes, and the average price it derives, are
the model's, for the model every replay uses and for variants of it; with the model every replay uses,
its quote and average price are the venue's after the real replay."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.app.composition import strategy_for
from thunes.app.config import load_settings
from thunes.backtest import fast_layout as k
from thunes.backtest import fast_market as km
from thunes.backtest.fast_plan import kernel_plan, replay_params
from thunes.backtest.fast_scope import EngineModel, engine_model
from thunes.backtest.parts import EngineParts
from thunes.domain import Side, Timeframe
from thunes.features.ohlcv import OHLCV, iter_bars, to_ticks
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay import bar_plans, feed_plan
from thunes.simvenue.replay_model import CLOSE, HIGH, LOW, OPEN, REPLAY, ReplayModel

INFO = builtin_exchange_info()
BTC = INFO.get("BTCUSDT")
TICK, STEP = BTC.tick_size, BTC.step_size
SETTINGS = load_settings(env={})
MS = 1_000_000
VARIANTS = {
    "the replay's": REPLAY,
    "uneven times": ReplayModel(fractions=(0, 1, 3, 4), shifts_ns=(0, 7 * MS, 0, -2 * MS)),
    "three points, a third of the volume each": ReplayModel(
        rising=(OPEN, HIGH, CLOSE), falling=(OPEN, LOW, CLOSE), fractions=(0, 1, 2), denominator=2,
        shifts_ns=(0, 0, -MS), volume_parts=3,
    ),
    "six points, high first": ReplayModel(
        rising=(OPEN, HIGH, LOW, HIGH, LOW, CLOSE), falling=(OPEN, LOW, HIGH, LOW, HIGH, CLOSE),
        fractions=(0, 1, 2, 3, 4, 6), denominator=6, shifts_ns=(0, 0, 0, 0, 0, -MS), volume_parts=9, quote_ticks=3,
    ),
}  # fmt: skip


def _engine() -> EngineModel:
    engine = engine_model(EngineParts.of(SETTINGS), INFO, strategy_for(SETTINGS, TICK), BTC)
    assert isinstance(engine, EngineModel), engine
    return engine


def _kernel_inputs(bars: OHLCV, model: ReplayModel) -> tuple[k.Bars, k.IntArray, k.FloatArray]:
    """The kernel's market columns and parameters for ``bars``, with ``model`` written in."""
    plan = kernel_plan(BTC, bars, np.arange(len(bars)), deposit=Decimal(1000), engine=_engine())
    params = plan.params.tolist()
    replay_params(model, bars.timeframe.nanoseconds, params)
    columns = (bars.open, bars.high, bars.low, bars.close, bars.volume)
    market = (bars.open_time_ns.astype(np.int64), *(np.ascontiguousarray(c, dtype=np.float64) for c in columns))
    return market, np.array(params, dtype=np.int64), plan.fparams


def _bars(seed: int, timeframe: Timeframe, volume: float) -> OHLCV:
    bars = generate_ohlcv("BTCUSDT", timeframe, 60, seed=seed)
    thin = np.round(bars.volume * volume, 5)
    return OHLCV.from_arrays(bars.symbol, bars.timeframe, bars.open_time_ns, bars.open, bars.high, bars.low,
                             bars.close, thin)  # fmt: skip


def _ticks(bars: OHLCV, row: int) -> tuple[int, int, int, int]:
    o, h, lo, c = (int(to_ticks(col[row : row + 1], TICK)[0]) for col in (bars.open, bars.high, bars.low, bars.close))
    return o, h, lo, c


def _model_avg_ticks(bars: OHLCV, row: int, model: ReplayModel) -> int:
    """The venue's average price at ``row``'s close, fed the trades ``model`` makes of bars 0..row."""
    clock = [0]
    venue = SimVenue({BTC.symbol: BTC}, lambda: clock[0], seed=0, user_stream=False)
    span = bars.timeframe.nanoseconds
    for bar in iter_bars(bars.slice(0, row + 1), TICK):
        part = model.part(bar.volume, STEP)
        for ts, price in model.points(bar.open_time_ns, span, bar.open, bar.high, bar.low, bar.close):
            clock[0] = max(clock[0], ts)
            if part > 0:
                venue.on_trade("BTCUSDT", price, part)
    clock[0] = int(bars.open_time_ns[row]) + span
    average = venue.avg_price("BTCUSDT")
    return -1 if average is None else int(average / TICK)


@pytest.mark.parametrize("name", VARIANTS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 5_000),
    timeframe=st.sampled_from([Timeframe.M1, Timeframe.M5, Timeframe.H1]),
    volume=st.sampled_from([1.0, 3e-4, 2e-5]),
    row=st.integers(0, 59),
    horizon_back_ms=st.integers(-1, 400_000),
)
def test_kernel_when_any_bar_then_its_trades_times_sizes_and_average_are_the_models(
    name: str, seed: int, timeframe: Timeframe, volume: float, row: int, horizon_back_ms: int
) -> None:
    model = VARIANTS[name]
    bars = _bars(seed, timeframe, volume)
    market, p, fp = _kernel_inputs(bars, model)
    span, start = bars.timeframe.nanoseconds, int(bars.open_time_ns[row])
    close_ms = (start + span) // MS
    horizon = close_ms - horizon_back_ms
    o, h, lo, c = _ticks(bars, row)
    points = model.points(start, span, o, h, lo, c)
    counted = [price - c for ts, price in points if ts // MS >= horizon]

    assert [km.trade_ms(start, i, p) for i in range(len(points))] == [ts // MS for ts, _ in points]
    assert km.bar_trades(row, horizon, c, market, p, fp) == (sum(counted), len(counted))
    assert km.part_lots(float(bars.volume[row]), p) == int(
        model.part(Decimal(repr(float(bars.volume[row]))), STEP) / STEP
    )
    assert km.avg_price(row, close_ms, c, market, p, fp) == _model_avg_ticks(bars, row, model)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 5_000),
    timeframe=st.sampled_from([Timeframe.M1, Timeframe.M5, Timeframe.H1]),
    volume=st.sampled_from([1.0, 3e-4, 2e-5]),
    row=st.integers(0, 59),
    lots=st.integers(1, 3_000),
    buy=st.booleans(),
)
def test_kernel_when_the_replay_leaves_a_close_then_its_quote_and_average_are_the_venues(
    seed: int, timeframe: Timeframe, volume: float, row: int, lots: int, buy: bool
) -> None:
    bars = _bars(seed, timeframe, volume)
    market, p, fp = _kernel_inputs(bars, REPLAY)
    clock = [0]
    venue = SimVenue({BTC.symbol: BTC}, lambda: clock[0], seed=0, user_stream=False)
    plans = bar_plans(bars, TICK, STEP)
    for _ in range(row + 1):
        feed_plan(venue, next(plans), TICK, lambda ns: clock.__setitem__(0, max(clock[0], ns)))
    close, now_ms = _ticks(bars, row)[3], clock[0] // MS
    level = venue.market("BTCUSDT").quote_levels(Side.BUY if buy else Side.SELL, lots * STEP, None)
    average = venue.avg_price("BTCUSDT")

    price, filled = km.level(row, buy, lots, close, market, p, fp)
    if price == -k.B_SLIPPAGE:  # the float lands too close to a tick: the kernel stops rather than guess
        return
    assert (price, filled) == (int(level[0][0] / TICK), int(level[0][1] / STEP))
    assert km.avg_price(row, now_ms, close, market, p, fp) == (-1 if average is None else int(average / TICK))


def test_replay_model_when_its_path_or_times_break_the_bar_then_refused() -> None:
    with pytest.raises(ValueError, match="from its open to its close"):
        ReplayModel(rising=(OPEN, LOW, HIGH, HIGH))
    with pytest.raises(ValueError, match="in time order"):
        ReplayModel(fractions=(0, 2, 1, 4))
    with pytest.raises(ValueError, match="within the bar"):
        ReplayModel(shifts_ns=(0, 0, 0, 0))
    with pytest.raises(ValueError, match="as many points"):
        ReplayModel(fractions=(0, 1, 4))
    assert REPLAY.points(0, 60_000 * MS, 10, 14, 8, 12) == ((0, 10), (15_000 * MS, 8), (30_000 * MS, 14),
                                                            (59_999 * MS, 12))  # fmt: skip
    assert CLOSE == 3
