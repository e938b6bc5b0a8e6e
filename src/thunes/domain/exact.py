"""Exact ``Decimal`` arithmetic for the exchange rules, whatever the thread's context says.

Python's default context keeps 28 digits, so ``a * b``, ``a + b`` and ``a % b`` round (or raise
``DivisionImpossible``) once a result needs more: ``0.6666999…9 / 0.0001`` rounds up to ``6667`` and a
notional of ``4.999…875`` to ``5``. Here every operation first runs in a 28-digit context that traps
any rounding (the common case costs what plain operators cost), and only when that trap fires runs
again with exactly as many digits as the operands need. Operands so far apart that this would need
more than :data:`MAX_DIGITS` digits (``1e-5000`` against a step of 1) raise :class:`OutOfRangeError`, which the
rules turn into a filter violation. Inputs must be finite; callers check that first.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, DivisionByZero, Inexact, InvalidOperation

__all__ = ["MAX_DIGITS", "TRAPPING", "OutOfRangeError", "add", "floor_div", "is_multiple", "multiply", "normalize"]

MAX_DIGITS = 10_000  # libmpdec divides 10k-digit numbers in microseconds; no order needs a tenth of it
_TRAPS = [Inexact, InvalidOperation, DivisionByZero]
_FAST = Context(prec=28, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=_TRAPS)
#: The 28-digit context that raises (an ArithmeticError) instead of rounding: a result it returns is
#: exact. Hot paths call it inline and fall back to this module's functions when it raises.
TRAPPING = _FAST
_ONE = Decimal(1)


class OutOfRangeError(ArithmeticError):
    """Operands too far apart in magnitude to compute exactly within :data:`MAX_DIGITS` digits."""


def _context(digits: int) -> Context:
    if digits > MAX_DIGITS:
        raise OutOfRangeError(f"needs {digits} significant digits (limit {MAX_DIGITS})")
    return Context(prec=max(digits, 28), Emax=MAX_EMAX, Emin=MIN_EMIN, traps=_TRAPS)


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or infinity: a caller's bug, reported as Decimal would
        raise InvalidOperation(f"exact arithmetic on {value}")
    return exponent


def _digits(value: Decimal) -> int:
    _exponent(value)
    return len(value.as_tuple().digits)


def _span(a: Decimal, b: Decimal) -> int:
    """Digits from the highest leading digit of ``a``, ``b`` down to their lowest trailing one, plus room."""
    return max(a.adjusted(), b.adjusted()) - min(_exponent(a), _exponent(b)) + 2


def multiply(a: Decimal, b: Decimal) -> Decimal:
    """``a * b`` exactly."""
    try:
        return _FAST.multiply(a, b)
    except ArithmeticError:
        return _context(_digits(a) + _digits(b)).multiply(a, b)


def add(a: Decimal, b: Decimal) -> Decimal:
    """``a + b`` exactly."""
    try:
        return _FAST.add(a, b)
    except ArithmeticError:
        return _context(_span(a, b)).add(a, b)


def floor_div(value: Decimal, step: Decimal) -> tuple[Decimal, bool]:
    """``(floor(value / step) * step, value is a multiple of step)`` exactly, for ``step > 0``."""
    try:
        quotient, remainder = _FAST.divmod(value, step)
        context = _FAST
    except ArithmeticError:
        context = _context(_span(value, step))
        quotient, remainder = context.divmod(value, step)
    exact = not remainder
    if not exact and value < 0:  # divmod truncates toward zero; floor goes one step lower
        quotient = context.subtract(quotient, _ONE)
    try:
        return context.multiply(quotient, step), exact
    except ArithmeticError:
        return multiply(quotient, step), exact


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is an integer multiple of ``step > 0``, exactly.

    Operands too far apart to tell within :data:`MAX_DIGITS` answer False: for a filter, off the step.
    """
    try:
        return not _FAST.remainder(value, step)
    except ArithmeticError:
        try:
            return not _context(_span(value, step)).remainder(value, step)
        except OutOfRangeError:
            return False


def normalize(value: Decimal) -> Decimal:
    """``value.normalize()`` (trailing zeros stripped) without rounding a long coefficient to 28 digits."""
    try:
        return _FAST.normalize(value)
    except ArithmeticError:
        return _context(_digits(value)).normalize(value)
