"""The peer: backtesting.py (``pip install .[bench]``) on the workload's bars and strategy.

Written as its documentation writes a strategy: ``self.I`` indicators (a rolling mean), ``crossover``
from ``backtesting.lib``, ``buy`` on a cross up when flat and ``position.close()`` on a cross down,
with the commission equal to THUNES's fee rate. backtesting.py trades whole units, so one unit here
is one lot step of the base asset (the bars' prices are scaled by the step, as its
``FractionalBacktest`` does): ``buy(size=...)`` then buys exactly the lots THUNES buys.

Why its order count is close to THUNES's but not equal: ``crossover(a, b)`` wants ``a < b`` on the
previous bar and ``a > b`` on this one; THUNES compares the averages exactly, in integer ticks, and
"above" is strict, so a pass from below through an exact tie to above is a cross up for THUNES and
no cross for backtesting.py (nor is above, tie, below a cross down). A missed entry also skips the
exit after it (nothing is held). Ties are rare on BTCUSDT's fine ticks (one in 1M bars: 2 orders) and
frequent on BNBUSDT's coarse ones (0.1 at about 600). Its orders fill at the next bar's open;
THUNES's at the venue's next price (final equities agree within a few tenths of a percent).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from workload import BUDGET, DEPOSIT, FAST, FEE_RATE, SLOW, WARMUP

os.environ.setdefault("TQDM_DISABLE", "1")  # its progress bar: not part of the work measured, nor of the output


def _sma(values: Any, window: int) -> np.ndarray:
    """Simple moving average (NaN until the window fills), the indicator of its examples."""
    import pandas as pd

    return np.asarray(pd.Series(values).rolling(window).mean())


def frame(bars: Any, step: float) -> Any:
    """The bars as backtesting.py takes them: a DataFrame of Open/High/Low/Close/Volume on a
    DatetimeIndex, prices per lot step and volume in lot steps (so its whole units are lots)."""
    import pandas as pd

    return pd.DataFrame(
        {"Open": bars.open * step, "High": bars.high * step, "Low": bars.low * step, "Close": bars.close * step,
         "Volume": bars.volume / step},
        index=pd.to_datetime(bars.open_time_ns),
    )  # fmt: skip


def strategy_class() -> type:
    """The SMA 10/30 crossover as a backtesting.py ``Strategy`` (imported only when it is measured)."""
    from backtesting import Strategy
    from backtesting.lib import crossover

    class SmaCrossPeer(Strategy):  # type: ignore[misc]
        trading = True  # a parameter (``run(trading=False)``): the same work per bar, no order

        def init(self) -> None:
            self.fast = self.I(_sma, self.data.Close, FAST)
            self.slow = self.I(_sma, self.data.Close, SLOW)
            self.placed = 0

        def next(self) -> None:
            if len(self.data) <= WARMUP:  # THUNES trades no signal of its warm-up bars
                return
            if crossover(self.fast, self.slow):
                if self.trading and not self.position:
                    lots = int(BUDGET // self.data.Close[-1])  # the close is per lot: the budget's whole lots
                    if lots > 0:
                        self.buy(size=lots)
                        self.placed += 1
            elif crossover(self.slow, self.fast) and self.trading and self.position:
                self.position.close()
                self.placed += 1

    return SmaCrossPeer


def run(data: Any, strategy: type, *, trading: bool = True) -> tuple[int, float, int]:
    """One backtesting.py run: (orders placed, final equity in quote, trades closed). ``trading=False``:
    every bar and crossover computed, no order placed (its per-bar cost)."""
    from backtesting import Backtest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open at the end": as THUNES leaves them
        stats = Backtest(data, strategy, cash=DEPOSIT, commission=FEE_RATE).run(trading=trading)
    return int(stats["_strategy"].placed), float(stats["Equity Final [$]"]), len(stats["_trades"])
