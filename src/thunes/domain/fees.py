"""Commission arithmetic shared by every venue model, so backtest and paper charge the same cents."""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

__all__ = ["commission"]


def commission(amount: Decimal, rate: Decimal, precision: int = 8) -> Decimal:
    """``amount * rate`` rounded *up* to ``precision`` decimals: a venue never under-charges.

    Binance reports commissions with the asset's commission precision (``baseCommissionPrecision``
    / ``quoteCommissionPrecision`` in exchangeInfo, 8 for most assets).
    """
    if rate < 0:
        raise ValueError("commission rate must be >= 0")
    return (amount * rate).quantize(Decimal(1).scaleb(-precision), rounding=ROUND_UP)
