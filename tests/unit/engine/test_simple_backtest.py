from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyarrow import feather

from thunes.domain import Instrument, Timeframe, parse_exchange_info
from thunes.engine import BacktestConfig, run_backtest
from thunes.features import OHLCV
from thunes.strategy import RsiReversion, SmaCross


@pytest.fixture(scope="module")
def btcusdt(exchange_info_path: Path) -> Instrument:
    return parse_exchange_info(json.loads(exchange_info_path.read_text())).get("BTCUSDT")


@pytest.fixture(scope="module")
def btc_1h(shared_data: Path) -> OHLCV:
    table = feather.read_table(shared_data / "binance/ohlcv/marketlab_2024-09_2026-02/BTC_USDT-1h.feather")
    cols = [table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")]
    return OHLCV.from_arrays("BTCUSDT", Timeframe.H1, table.column("date").cast("int64").to_numpy(), *cols)


def _series(closes: list[float], opens: list[float]) -> OHLCV:
    n = len(closes)
    hi = [max(a, b) for a, b in zip(opens, closes, strict=True)]
    lo = [min(a, b) for a, b in zip(opens, closes, strict=True)]
    return OHLCV.from_arrays(
        "BTCUSDT", Timeframe.H1, np.arange(n) * 3_600_000_000_000, opens, hi, lo, closes, [1.0] * n
    )


def test_run_when_one_round_trip_then_fills_at_next_open_with_exact_fees(btcusdt: Instrument) -> None:
    closes = [100.0] * 5 + [110.0] * 3 + [90.0] * 4
    opens = [100.0] * 6 + [111.0, 110.0, 110.0, 95.0, 90.0, 90.0]
    config = BacktestConfig(initial_cash=Decimal(1000), fee_rate=Decimal("0.001"), stake_fraction=Decimal("0.5"))

    result = run_backtest(SmaCross(2, 4, tick_size=btcusdt.tick_size), _series(closes, opens), btcusdt, config)

    # ENTER decided at row 5's close, filled at row 6's open (111); EXIT at row 8 -> row 9's open (95).
    (trade,) = result.trades
    qty = Decimal("4.50450")  # 500 / 111 rounded down to the 0.00001 step
    assert trade.entry_price == Decimal(111)
    assert trade.quantity == qty
    assert trade.exit_price == Decimal(95)
    held = qty - Decimal("0.00450450")  # base commission 0.1 %
    sold = Decimal("4.49999")  # rounded down to the step; the rest is dust
    sell_fee = (sold * 95 * Decimal("0.001")).quantize(Decimal("1e-8"), rounding="ROUND_UP")
    assert result.final_cash == Decimal(1000) - qty * 111 + sold * 95 - sell_fee
    assert result.final_position.quantity == held - sold
    assert trade.pnl == sold * 95 - sell_fee - (qty * 111) * sold / held


def test_run_when_real_data_then_cash_plus_basis_equals_initial_plus_realized(
    btcusdt: Instrument, btc_1h: OHLCV
) -> None:
    for strategy in (SmaCross(tick_size=btcusdt.tick_size), RsiReversion(tick_size=btcusdt.tick_size)):
        result = run_backtest(strategy, btc_1h, btcusdt)

        pos = result.final_position
        assert len(result.trades) > 50
        # Exact but for the 28-digit Decimal division of a partial close (dust left behind).
        assert abs(result.final_cash + pos.cost_basis - (result.initial_cash + pos.realized_pnl)) < Decimal("1e-18")
        closed = sum((t.pnl for t in result.trades if t.pnl is not None), Decimal(0))
        assert abs(closed - pos.realized_pnl) < Decimal("1e-12")
        assert result.skipped == {}


def test_metrics_when_real_run_then_match_pandas_reference(btcusdt: Instrument, btc_1h: OHLCV) -> None:
    result = run_backtest(SmaCross(tick_size=btcusdt.tick_size), btc_1h, btcusdt)
    equity = pd.Series(result.equity)
    returns = equity.pct_change().dropna()
    periods = 365 * 24

    sharpe = returns.mean() / returns.std() * np.sqrt(periods)
    drawdown = (equity / equity.cummax() - 1).min()
    pnls = pd.Series([float(t.pnl) for t in result.trades if t.pnl is not None])

    m = result.metrics
    assert m.sharpe == pytest.approx(sharpe, rel=1e-9)
    assert m.max_drawdown == pytest.approx(drawdown, rel=1e-9)
    assert m.total_return == pytest.approx(equity.iloc[-1] / equity.iloc[0] - 1, rel=1e-9)
    assert m.win_rate == pytest.approx((pnls > 0).mean(), rel=1e-12)
    assert m.profit_factor == pytest.approx(pnls[pnls > 0].sum() / -pnls[pnls < 0].sum(), rel=1e-9)
    assert float(result.final_equity) == pytest.approx(equity.iloc[-1], rel=1e-9)


def test_run_when_budget_below_a_sellable_size_then_entries_skipped_with_reason(btcusdt: Instrument) -> None:
    closes = [100.0] * 5 + [110.0] * 3 + [90.0] * 4
    config = BacktestConfig(initial_cash=Decimal(5), stake_fraction=Decimal(1))

    result = run_backtest(SmaCross(2, 4, tick_size=btcusdt.tick_size), _series(closes, closes), btcusdt, config)

    assert result.trades == ()
    assert result.skipped == {"EXIT_INFEASIBLE": 1}
    assert result.final_equity == Decimal(5)


@pytest.mark.parametrize(
    "kwargs", [{"initial_cash": Decimal(0)}, {"fee_rate": Decimal(1)}, {"stake_fraction": Decimal("1.5")}]
)
def test_config_when_out_of_range_then_value_error(kwargs: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError, match="must be"):
        BacktestConfig(**kwargs)
