"""Slippage on bar data (SPEC §8): a square-root impact, scaled by volatility and capped.

``slip_bps = base_bps * sqrt(order volume / bar volume) * (bar range / reference range)``, at most
``cap_bps``. A tiny order in a deep bar barely moves; one that is a large share of the bar's
volume on a violent bar pays a lot. With an L2 book the venue walks the book instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["SlippageModel"]


@dataclass(frozen=True, slots=True)
class SlippageModel:
    base_bps: float = 5.0
    cap_bps: float = 50.0
    reference_range: float = 0.01  # a bar whose high-low is 1 % of its close scales by 1

    def bps(self, order_qty: Decimal, bar_volume: Decimal | None, bar_range: float | None) -> float:
        """Adverse price move in basis points for ``order_qty`` against a bar of ``bar_volume``."""
        if bar_volume is None or bar_volume <= 0:
            return self.base_bps if order_qty > 0 else 0.0  # no bar context: the base cost only
        share = float(order_qty / bar_volume)
        scale = (bar_range / self.reference_range) if bar_range is not None else 1.0
        return min(self.cap_bps, self.base_bps * math.sqrt(share) * scale)
