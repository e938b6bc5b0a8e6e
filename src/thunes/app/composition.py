"""Building blocks shared by every mode (backtest, paper, live): the strategy and the risk limits
from settings, so the modes cannot drift apart on how they are configured."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from thunes.app.config import Settings, StrategySettings
from thunes.app.config_portfolio import pair_strategy
from thunes.domain.identifiers import Symbol, VenueId
from thunes.engine.kernel import KernelSpec
from thunes.risk import RiskLimits
from thunes.strategy import RsiReversion, SmaCross, Strategy
from thunes.strategy.loader import build_user_strategy, is_builtin, load_strategy_class

__all__ = [
    "Pair",
    "build_strategy",
    "capped_limits",
    "check_strategy",
    "kernel_spec",
    "one_pair",
    "portfolio_pairs",
    "risk_limits",
    "strategy_for",
    "strategy_label",
]

_PROBE_TICK = Decimal("0.01")  # any positive tick: parameters never depend on it


@dataclass(frozen=True, slots=True)
class Pair:
    """One (symbol, strategy settings) pair of the portfolio, resolved against ``[strategy]``."""

    symbol: Symbol
    strategy: StrategySettings


def portfolio_pairs(settings: Settings) -> tuple[Pair, ...]:
    """What the session or backtest trades: ``[[portfolio]]``'s pairs in their order, else the single
    ``backtest.symbol`` with ``[strategy]`` (every command's default)."""
    if not settings.portfolio:
        return (Pair(settings.backtest.symbol, settings.strategy),)
    return tuple(Pair(p.symbol, pair_strategy(settings.strategy, p)) for p in settings.portfolio)


def one_pair(settings: Settings, symbol: str | None, command: str) -> Settings:
    """The settings of a run of one pair: ``symbol``'s pair of the portfolio (its strategy and parameters
    as ``[strategy]``, its symbol as ``backtest.symbol``, no ``[[portfolio]]`` left), the only pair of a
    portfolio of one, or ``settings`` as they are without a portfolio. ValueError telling the user to
    pick one with --symbol when several pairs remain, or naming the pairs when ``symbol`` is not one."""
    if not settings.portfolio:
        return settings
    pairs = portfolio_pairs(settings)
    names = ", ".join(p.symbol for p in pairs)
    if symbol is None and len(pairs) > 1:
        raise ValueError(f"{command} runs one pair and the portfolio has {len(pairs)} ({names}): "
                         "pick one with --symbol")  # fmt: skip
    chosen = [p for p in pairs if symbol is None or p.symbol == symbol.upper()]
    if not chosen:
        raise ValueError(f"--symbol {symbol} is not in the portfolio ({names}): pick one of them")
    pair = chosen[0]
    backtest = settings.backtest.model_copy(update={"symbol": pair.symbol})
    return settings.model_copy(update={"strategy": pair.strategy, "backtest": backtest, "portfolio": []})


def strategy_for(settings: Settings, tick: Decimal) -> Strategy:
    """The ``[strategy]`` settings' strategy (a single-pair run)."""
    return build_strategy(settings.strategy, tick)


def check_strategy(settings: Settings) -> str:
    """Load and build every configured strategy (``[strategy]`` and each pair's) once, before a command
    creates or changes anything, so a bad spec or parameter is refused up front (ValueError); the
    ``[strategy]`` one's name, for titles and study names."""
    for pair in portfolio_pairs(settings):
        build_strategy(pair.strategy, _PROBE_TICK)
    return build_strategy(settings.strategy, _PROBE_TICK).name


def strategy_label(settings: Settings) -> str:
    """The strategy's own name: the built-in's, or the user class's ``name`` (not its file path)."""
    name = settings.strategy.name
    return name if is_builtin(name) else load_strategy_class(name).name


def build_strategy(s: StrategySettings, tick: Decimal) -> Strategy:
    """A strategy from its settings, its prices at ``tick``: a built-in, or the user's loaded by its spec
    (docs/strategy-api.md). ValueError (a :class:`~thunes.strategy.loader.StrategyLoadError` or a bad
    parameter) in one line."""
    if s.name == "sma_cross":
        return SmaCross(s.sma_fast, s.sma_slow, tick_size=tick)
    if s.name == "rsi_reversion":
        return RsiReversion(s.rsi_period, s.rsi_oversold, s.rsi_overbought, s.rsi_stop_loss, tick_size=tick)
    return build_user_strategy(load_strategy_class(s.name), s.params, tick)


def risk_limits(settings: Settings, max_capital: Decimal | None = None) -> RiskLimits:
    """The configured limits; with ``max_capital`` (a live session), capped by :func:`capped_limits`,
    so the limits the live checks verify are exactly the ones the session's RiskEngine enforces."""
    r = settings.risk
    limits = RiskLimits(max_order_notional=r.max_order_notional, max_daily_loss=r.max_daily_loss,
                        max_open_positions=r.max_open_positions, cool_down_s=r.cool_down_minutes * 60,
                        one_position_per_symbol=r.one_position_per_symbol)  # fmt: skip
    return limits if max_capital is None else capped_limits(limits, max_capital)


def kernel_spec(settings: Settings, venue: VenueId, *, max_capital: Decimal | None = None,
                settle_window_s: float = 0.0, remote: bool = False) -> KernelSpec:  # fmt: skip
    """The kernel every mode builds from the settings: the limits (capped for a live session), the fee
    rate the backtests' venue charges; ``remote``: a venue over the network, whose calls feed its breaker."""
    return KernelSpec(venue, risk_limits(settings, max_capital), settings.backtest.fee_rate,
                      settle_window_s=settle_window_s, breaker_counts_calls=remote)  # fmt: skip


def capped_limits(limits: RiskLimits, max_capital: Decimal) -> RiskLimits:
    """``limits`` tightened so that at most ``max_capital`` is ever at risk: no order above it,
    no more positions than it can fund, no daily loss above it. Hand these to the RiskEngine."""
    order = min(limits.max_order_notional, max_capital)
    positions = max(1, min(limits.max_open_positions, int(max_capital // order)))
    return replace(limits, max_order_notional=order, max_open_positions=positions,
                   max_daily_loss=min(limits.max_daily_loss, max_capital))  # fmt: skip
