"""Money and quantities as the instrument writes them, for the live view and summaries.

Why: a Decimal carries every digit its arithmetic produced (a realised PnL of 26 digits); a person reads
prices at the tick size, quantities at the lot step and quote amounts (PnL, fees, equity) at the quote
asset's precision. Quantized as Decimals, never through a float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

__all__ = ["at_precision", "at_step"]


def at_step(value: Decimal | None, step: Decimal | None, *, grouped: bool = True) -> str:
    """``value`` rounded to a multiple of ``step`` (a tick or lot size), shown with the step's decimals."""
    if value is None:
        return "-"
    if step is None or not step.is_finite() or step <= 0:
        return _text(value.normalize() if value.is_finite() else value, grouped)
    exponent = step.normalize().as_tuple().exponent
    quantum = Decimal(1).scaleb(min(0, exponent if isinstance(exponent, int) else 0))  # 0.01 -> 2 decimals
    steps = (value / step).to_integral_value(rounding=ROUND_HALF_EVEN)
    return _text((steps * step).quantize(quantum, rounding=ROUND_HALF_EVEN), grouped)


def at_precision(value: Decimal | None, digits: int | None, *, grouped: bool = True) -> str:
    """``value`` with ``digits`` decimals (an asset's precision), rounded half to even."""
    if value is None:
        return "-"
    if digits is None or not value.is_finite():
        return _text(value.normalize() if value.is_finite() else value, grouped)
    return _text(value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN), grouped)


def _text(value: Decimal, grouped: bool) -> str:
    text = f"{value:,f}" if grouped else f"{value:f}"
    return "0" + text[2:] if text.startswith("-0") and not any(c in "123456789" for c in text) else text
