"""The peer-comparison workload (issue 16): seeded synthetic 1-minute bars and an SMA 10/30 crossover
in which every signal becomes an order, the same for THUNES, backtesting.py and the references.

Why the limits are opened: the default risk limits (a 60-minute cool-down after a losing close, a
20 USDT daily loss) deny a large share of the signals, and a path that denies an order does less
work than a peer that places it. With these settings every signal after the warm-up trades
(``TraderStats.denied`` stays empty; :mod:`peer_table` checks the order counts agree).

Sizing is the one THUNES uses, so every path buys the same lots: a fixed quote budget
(``BUDGET``, THUNES's ``TraderConfig.quote_per_trade``) floored to the lot step at the signal
bar's close; the fee is ``FEE_RATE`` of the notional on every fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

N_BARS = 1_000_000  # one symbol
N_SYMBOL_BARS = 250_000  # each of the four symbols
FAST, SLOW = 10, 30
WARMUP = 100  # THUNES's default warm-up: signals before this bar are not traded by any path
BUDGET = 12.0  # quote per entry: THUNES's TraderConfig.quote_per_trade (the risk cap below is above it)
FEE_RATE = 0.001
DEPOSIT = 10_000.0


@dataclass(frozen=True, slots=True)
class Market:
    """One symbol of the workload: its synthetic series' seed and start price, and its filters."""

    symbol: str
    seed: int
    start_price: float
    tick: float
    step: float


MARKETS = (
    Market("BTCUSDT", 0, 40_000.0, 0.01, 0.00001),
    Market("ETHUSDT", 1, 3_000.0, 0.01, 0.0001),
    Market("BNBUSDT", 2, 600.0, 0.1, 0.001),
    Market("SOLUSDT", 3, 150.0, 0.01, 0.01),
)
SHAPES = {"1x1M": ((MARKETS[0], N_BARS),), "4x250k": tuple((m, N_SYMBOL_BARS) for m in MARKETS)}

# Every signal trades: no daily-loss stop, no cool-down, room for every position; the order cap is the
# entry budget's ceiling (the trader sizes min(budget, cap)).
RISK_OPEN = {
    "max_order_notional": "15",
    "max_daily_loss": "1000000000",
    "max_open_positions": 1000,
    "cool_down_minutes": 0,
}


def risk_env() -> dict[str, str]:
    """``RISK_OPEN`` as ``THUNES_RISK__*`` variables, for the ``thunes`` command."""
    return {f"THUNES_RISK__{key.upper()}": str(value) for key, value in RISK_OPEN.items()}


def settings() -> Any:
    """THUNES settings of the workload (SMA 10/30, opened limits, the fee rate, the warm-up)."""
    from thunes.app.config import load_settings

    return load_settings(
        env={"THUNES_LOGGING__LEVEL": "WARNING"},
        overrides={
            "strategy": {"name": "sma_cross", "sma_fast": FAST, "sma_slow": SLOW},
            "risk": RISK_OPEN,
            "backtest": {"fee_rate": Decimal(str(FEE_RATE)), "warmup_bars": WARMUP,
                         "initial_cash": Decimal(str(DEPOSIT))},
        },
    )  # fmt: skip


def bars(market: Market, n: int) -> Any:
    """The seeded synthetic 1-minute series of ``market`` (an ``OHLCV``)."""
    from thunes.adapters.datastore.synthetic import generate_ohlcv
    from thunes.domain import Timeframe

    return generate_ohlcv(market.symbol, Timeframe.M1, n, seed=market.seed, start_price=market.start_price,
                          tick_size=market.tick)  # fmt: skip


def close_ticks(close: np.ndarray, tick: float) -> np.ndarray:
    """Closes in integer ticks, as THUNES compares its averages (exactly, no float ties)."""
    return np.rint(close / tick).astype(np.int64)
