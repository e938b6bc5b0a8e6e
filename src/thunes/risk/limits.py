"""The risk limits (SPEC §2): every number a configurable default, frozen once built.

All amounts are in the quote currency (USDT by default). The optional ``*_equity_fraction`` forms
express a limit as a share of account equity (``Decimal("0.05")`` = 5 %); when one is set and the
engine knows the equity, the *smaller* of the absolute and the relative limit applies, so adding a
relative limit can only tighten the gate, never loosen it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["RiskLimits"]

ZERO = Decimal(0)
ONE = Decimal(1)


def _fraction(name: str, value: Decimal | None) -> None:
    if value is not None and not ZERO < value <= ONE:
        raise ValueError(f"{name} must be in (0, 1], got {value}")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade limits; build once at start-up and hand to the :class:`~thunes.risk.engine.RiskEngine`.

    - ``max_order_notional``: largest entry order, quote units (MARKET orders are priced at the
      intent's reference price).
    - ``max_daily_loss``: realised loss of the UTC day at which entries stop and the kill-switch
      turns on (reaching the limit counts as breaching it).
    - ``max_open_positions``: open positions plus BUY orders still working on new symbols.
    - ``cool_down_s``: no entry for this long after a losing close; a winning close clears it.
    - ``one_position_per_symbol``: a second entry on a held (or reserved) symbol is refused.
    - ``dust_notional``: a SELL that leaves less than this (valued at its fill price) closes the
      position; what is left cannot be sold under Binance's usual 5 USDT NOTIONAL minimum anyway.
    - ``exit_buffer``: the adverse move an entry's exit must survive (exit feasibility, SPEC §1).
    - ``quote_asset``: the currency of every amount here; also splits ``BTCUSDT`` into base/quote
      when a fill arrives for an order the engine saw without an instrument.
    """

    max_order_notional: Decimal = Decimal(15)
    max_daily_loss: Decimal = Decimal(20)
    max_open_positions: int = 3
    cool_down_s: int = 3600
    one_position_per_symbol: bool = True
    max_order_notional_equity_fraction: Decimal | None = None
    max_daily_loss_equity_fraction: Decimal | None = None
    dust_notional: Decimal = Decimal(5)
    exit_buffer: Decimal = Decimal("0.05")
    quote_asset: str = "USDT"

    def __post_init__(self) -> None:
        if self.max_order_notional <= 0 or self.max_daily_loss <= 0:
            raise ValueError("max_order_notional and max_daily_loss must be positive")
        if self.max_open_positions < 1:
            raise ValueError("max_open_positions must be at least 1")
        if self.cool_down_s < 0:
            raise ValueError("cool_down_s must be >= 0")
        if self.dust_notional < 0:
            raise ValueError("dust_notional must be >= 0")
        if not ZERO <= self.exit_buffer < ONE:
            raise ValueError("exit_buffer must be in [0, 1)")
        if not self.quote_asset:
            raise ValueError("quote_asset must be named")
        _fraction("max_order_notional_equity_fraction", self.max_order_notional_equity_fraction)
        _fraction("max_daily_loss_equity_fraction", self.max_daily_loss_equity_fraction)

    def order_notional_cap(self, equity: Decimal | None) -> Decimal:
        """The order notional limit in force for ``equity`` (``None``: equity unknown, absolute only)."""
        return _capped(self.max_order_notional, self.max_order_notional_equity_fraction, equity)

    def daily_loss_cap(self, equity: Decimal | None) -> Decimal:
        """The daily realised-loss limit (a positive amount) in force for ``equity``."""
        return _capped(self.max_daily_loss, self.max_daily_loss_equity_fraction, equity)


def _capped(absolute: Decimal, fraction: Decimal | None, equity: Decimal | None) -> Decimal:
    if fraction is None or equity is None:
        return absolute
    return min(absolute, max(ZERO, equity) * fraction)
