"""Performance metrics over an equity curve and a trade list (numeric research code: floats).

Conventions (those of quantstats/empyrical, so results can be cross-checked): simple per-bar
returns, risk-free rate 0, Sharpe = mean / std (ddof = 1) * sqrt(periods per year), Sortino's
downside deviation = sqrt(mean(min(r, 0)^2)), drawdown from the running peak of equity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Metrics", "compute_metrics", "max_drawdown"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Headline figures of one run; ratios are fractions (0.05 = 5 %)."""

    total_return: float
    annual_return: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_bars: int
    win_rate: float
    profit_factor: float
    expectancy: float
    exposure: float
    trades: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def max_drawdown(equity: FloatArray) -> tuple[float, int]:
    """Deepest fall from a running peak (a negative fraction) and the longest bars spent below a peak."""
    if equity.size == 0:
        return 0.0, 0
    peak = np.maximum.accumulate(equity)
    drawdown = equity / peak - 1.0
    under = drawdown < 0
    longest, run = 0, 0
    for flag in under.tolist():  # run lengths; plain loop is clear and fast enough at report time
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return float(drawdown.min()), longest


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or not math.isfinite(denominator):
        return math.inf if numerator > 0 else 0.0
    return numerator / denominator


def compute_metrics(
    equity: FloatArray, trade_pnls: FloatArray, in_market: npt.NDArray[np.bool_], periods_per_year: float
) -> Metrics:
    """Metrics of an equity curve sampled once per bar and of closed-trade net PnLs (quote)."""
    returns = np.diff(equity) / equity[:-1] if equity.size > 1 else np.zeros(0)
    total = float(equity[-1] / equity[0] - 1.0) if equity.size else 0.0
    years = len(returns) / periods_per_year
    annual = (1.0 + total) ** (1.0 / years) - 1.0 if years > 0 and total > -1 else 0.0
    std = float(returns.std(ddof=1)) if returns.size > 1 else 0.0
    sharpe = _ratio(float(returns.mean()), std) * math.sqrt(periods_per_year) if returns.size > 1 else 0.0
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2))) if returns.size else 0.0
    sortino = _ratio(float(returns.mean()), downside) * math.sqrt(periods_per_year) if returns.size else 0.0
    mdd, mdd_bars = max_drawdown(equity)
    wins = trade_pnls[trade_pnls > 0]
    losses = trade_pnls[trade_pnls < 0]
    return Metrics(
        total_return=total,
        annual_return=annual,
        sharpe=sharpe,
        sortino=sortino,
        calmar=_ratio(annual, abs(mdd)),
        max_drawdown=mdd,
        max_drawdown_bars=mdd_bars,
        win_rate=float(wins.size / trade_pnls.size) if trade_pnls.size else 0.0,
        profit_factor=_ratio(float(wins.sum()), abs(float(losses.sum()))),
        expectancy=float(trade_pnls.mean()) if trade_pnls.size else 0.0,
        exposure=float(in_market.mean()) if in_market.size else 0.0,
        trades=int(trade_pnls.size),
    )
