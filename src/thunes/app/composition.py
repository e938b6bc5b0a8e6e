"""Building blocks shared by every mode (backtest, paper, live): the strategy and the risk limits
from settings, so the modes cannot drift apart on how they are configured."""

from __future__ import annotations

from decimal import Decimal

from thunes.app.config import Settings
from thunes.risk import RiskLimits
from thunes.strategy import RsiReversion, SmaCross, Strategy

__all__ = ["risk_limits", "strategy_for"]


def strategy_for(settings: Settings, tick: Decimal) -> Strategy:
    s = settings.strategy
    if s.name == "sma_cross":
        return SmaCross(s.sma_fast, s.sma_slow, tick_size=tick)
    return RsiReversion(s.rsi_period, s.rsi_oversold, s.rsi_overbought, s.rsi_stop_loss, tick_size=tick)


def risk_limits(settings: Settings) -> RiskLimits:
    r = settings.risk
    return RiskLimits(max_order_notional=r.max_order_notional, max_daily_loss=r.max_daily_loss,
                      max_open_positions=r.max_open_positions, cool_down_s=r.cool_down_minutes * 60,
                      one_position_per_symbol=r.one_position_per_symbol)  # fmt: skip
