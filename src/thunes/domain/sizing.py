"""Entry sizing that guarantees the exit (SPEC §1, exit feasibility).

A spot BUY whose commission is taken in the base asset leaves less than was bought, and the sale
must then round down to the step again. If what is left is worth less than the notional minimum,
it can never be sold: dust. We therefore size entries so that the *exit* clears every filter, and
report dust instead of retrying it forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, getcontext

from thunes.domain.enums import OrderType
from thunes.domain.instrument import Instrument
from thunes.domain.rules import ceil_to_step, round_quantity

__all__ = ["EntrySize", "exit_quantity", "is_exit_feasible", "min_entry_quantity", "size_entry"]

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class EntrySize:
    """A feasible entry quantity, or ``None`` with the reason it cannot be done."""

    quantity: Decimal | None
    reason: str = ""


def exit_quantity(
    instrument: Instrument, entry_quantity: Decimal, fee_rate: Decimal, *, fee_in_base: bool = True
) -> Decimal:
    """What a MARKET SELL can offer after an entry of ``entry_quantity``: net of base fee, on the step."""
    held = entry_quantity * (ONE - fee_rate) if fee_in_base else entry_quantity
    return round_quantity(instrument, held, OrderType.MARKET)


class _LastMinSellable:
    """The last :func:`_min_sellable` answer. An entry asks it twice for the same exit price (sizing, then
    the risk gate's exit-feasibility rule): the second is a lookup. Only the very same instrument, exit
    price (same digits: ``compare_total``) and decimal precision and rounding hit, so the answer is the
    one computing it would give."""

    entry: tuple[Instrument | None, Decimal, int, str, Decimal] = (None, ZERO, 0, "", ZERO)  # replaced whole


def _min_sellable(instrument: Instrument, exit_price: Decimal) -> Decimal:
    """Smallest quantity a MARKET SELL at ``exit_price`` may have (lot minimums and notional floor)."""
    context = getcontext()
    last_instrument, last_price, prec, rounding, last_answer = _LastMinSellable.entry
    if (
        last_instrument is instrument
        and prec == context.prec
        and rounding == context.rounding
        and exit_price.compare_total(last_price) == 0
    ):
        return last_answer
    answer = _compute_min_sellable(instrument, exit_price)
    _LastMinSellable.entry = (instrument, exit_price, context.prec, context.rounding, answer)
    return answer


def _compute_min_sellable(instrument: Instrument, exit_price: Decimal) -> Decimal:
    floor = instrument.lot_size.min_qty
    if instrument.market_lot_size is not None:
        floor = max(floor, instrument.market_lot_size.min_qty)
    min_notional = instrument.min_notional_for(OrderType.MARKET)
    if min_notional > 0:
        floor = max(floor, min_notional / exit_price)
    step = instrument.lot_size.step_size
    return ceil_to_step(floor, step) if step else floor


def is_exit_feasible(
    instrument: Instrument,
    entry_quantity: Decimal,
    exit_price: Decimal,
    fee_rate: Decimal,
    *,
    fee_in_base: bool = True,
) -> bool:
    """True when the position an entry opens can be sold at ``exit_price`` within every filter."""
    if exit_price <= 0:
        raise ValueError("exit_price must be positive")
    qty = exit_quantity(instrument, entry_quantity, fee_rate, fee_in_base=fee_in_base)
    return qty > 0 and qty >= _min_sellable(instrument, exit_price)


def min_entry_quantity(
    instrument: Instrument, exit_price: Decimal, fee_rate: Decimal, *, fee_in_base: bool = True
) -> Decimal:
    """The smallest step-aligned entry whose exit is feasible at ``exit_price``."""
    need = _min_sellable(instrument, exit_price)
    gross = need / (ONE - fee_rate) if fee_in_base else need
    qty = ceil_to_step(gross, instrument.lot_size.step_size)
    step = instrument.lot_size.step_size or qty * Decimal("1e-8")
    if exit_price <= 0:  # as is_exit_feasible refuses it
        raise ValueError("exit_price must be positive")
    # Rounding the net quantity down may cost one step; a few steps up always clears it. Each try is
    # is_exit_feasible with ``need`` computed once.
    for _ in range(4):
        left = exit_quantity(instrument, qty, fee_rate, fee_in_base=fee_in_base)
        if left > 0 and left >= need:
            return qty
        qty += step
    raise ArithmeticError(f"{instrument.symbol}: no feasible entry near {qty}")  # unreachable for sane filters


def size_entry(
    instrument: Instrument,
    quote_budget: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    *,
    exit_buffer: Decimal = Decimal("0.05"),
    fee_in_base: bool = True,
    order_type: OrderType = OrderType.MARKET,
) -> EntrySize:
    """Largest quantity ``quote_budget`` buys at ``price`` whose exit stays feasible.

    ``exit_buffer`` is the adverse move (fraction) the exit must survive: a position that could
    be sold only at today's price becomes dust on the first dip.
    """
    if quote_budget <= 0 or price <= 0:
        return EntrySize(None, "budget and price must be positive")
    cap = quote_budget / price
    for lot in (instrument.lot_size, instrument.market_lot_size if order_type is OrderType.MARKET else None):
        if lot is not None and lot.max_qty > 0:
            cap = min(cap, lot.max_qty)
    qty = round_quantity(instrument, cap, order_type)
    exit_price = price * (ONE - exit_buffer)
    needed = min_entry_quantity(instrument, exit_price, fee_rate, fee_in_base=fee_in_base)
    if qty < needed:
        return EntrySize(
            None,
            f"{quote_budget} {instrument.quote_asset} buys {qty} {instrument.base_asset}; "
            f"a sellable exit needs at least {needed}",
        )
    return EntrySize(qty.normalize())
