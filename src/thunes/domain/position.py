"""A long-only spot position with average cost and PnL net of every fee.

Accounting (all in the quote asset):
- the cost basis is what was paid for the held quantity, entry fees included, so the average
  price already carries them;
- a fee in the base asset shrinks the quantity received (BUY) or adds to the quantity given up
  (SELL); a fee in the quote asset adds to cost or subtracts from proceeds; a fee in a third asset
  (e.g. BNB) needs its quote value from the caller, because only the caller knows the rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol
from thunes.domain.orders import Fill

__all__ = ["Position", "PositionError"]

ZERO = Decimal(0)
_BUY = Side.BUY  # a global read: cheaper than the enum's attribute, on every fill


class PositionError(ValueError):
    """A fill that the position cannot absorb (selling more than is held, unknown fee value)."""


@dataclass(frozen=True, slots=True)
class Position:
    """Holdings of ``base_asset`` bought with ``quote_asset``. Immutable: fills return a new one."""

    symbol: Symbol
    base_asset: str
    quote_asset: str
    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_quote: Decimal = ZERO
    opened_ns: int | None = None

    @property
    def is_open(self) -> bool:
        return self.quantity > 0

    @property
    def average_price(self) -> Decimal | None:
        """Cost per unit held, entry fees included; ``None`` when flat."""
        return self.cost_basis / self.quantity if self.quantity else None

    def unrealized_pnl(self, mark_price: Decimal) -> Decimal:
        """Mark-to-market gain of the held quantity over its fee-inclusive cost."""
        return self.quantity * mark_price - self.cost_basis

    def fee_in_quote(self, fill: Fill, third_asset_value: Decimal | None) -> tuple[Decimal, Decimal]:
        """Split the commission into (base units, quote value)."""
        if fill.commission_asset == self.base_asset:
            return fill.commission, fill.commission * fill.price
        if fill.commission_asset == self.quote_asset:
            return ZERO, fill.commission
        if fill.commission == 0:
            return ZERO, ZERO
        if third_asset_value is None:
            raise PositionError(f"fee of {fill.commission} {fill.commission_asset} needs its {self.quote_asset} value")
        return ZERO, third_asset_value

    def apply(self, fill: Fill, *, third_asset_fee_value: Decimal | None = None) -> Position:
        """The position after ``fill``; ``third_asset_fee_value`` is the quote value of a third-asset fee.

        Written as one function with positional constructors (no helper calls, no ``replace``): the
        engine applies every fill twice (its position and the risk ledger's)."""
        symbol, quantity, cost_basis = self.symbol, self.quantity, self.cost_basis
        if fill.symbol != symbol:
            raise PositionError(f"fill for {fill.symbol} applied to position {symbol}")
        commission, asset = fill.commission, fill.commission_asset
        if asset == self.base_asset:  # fee_in_quote, its two common cases inlined
            fee_base, fee_quote = commission, commission * fill.price
        elif asset == self.quote_asset:
            fee_base, fee_quote = ZERO, commission
        else:
            fee_base, fee_quote = self.fee_in_quote(fill, third_asset_fee_value)
        if fill.side is _BUY:
            received = fill.quantity - fee_base
            paid = fill.price * fill.quantity + (ZERO if fee_base else fee_quote)
            return Position(symbol, self.base_asset, self.quote_asset, quantity + received, cost_basis + paid,
                            self.realized_pnl, self.fees_quote + fee_quote,
                            self.opened_ns if quantity > 0 else fill.ts_ns)  # fmt: skip
        given_up = fill.quantity + fee_base
        if given_up > quantity:
            raise PositionError(f"{symbol}: selling {given_up} but only {quantity} is held")
        remaining = quantity - given_up
        # Closing in full removes the whole basis exactly; a partial close removes its share.
        removed = cost_basis if remaining == 0 else cost_basis * given_up / quantity
        proceeds = fill.price * fill.quantity - (ZERO if fee_base else fee_quote)
        return Position(symbol, self.base_asset, self.quote_asset, remaining, cost_basis - removed,
                        self.realized_pnl + proceeds - removed, self.fees_quote + fee_quote,
                        self.opened_ns if remaining else None)  # fmt: skip
