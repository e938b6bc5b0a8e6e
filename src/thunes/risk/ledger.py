"""The risk engine's own book: open positions (domain ``Position``) and working entry reservations.

The gate needs to know what is held (to recognise an exit and count slots) and what each close
realised (daily loss, cool-down). It books fills with the domain's own position math, so fees and
PnL are computed exactly as everywhere else. Not thread-safe by itself: the engine's lock guards it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from thunes.domain.enums import Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import Fill
from thunes.domain.position import Position, PositionError
from thunes.risk.state import Reservation

__all__ = ["FillEffect", "Ledger"]

ZERO = Decimal(0)
_SELL = Side.SELL  # a global read: cheaper than the enum's attribute, on every fill


@dataclass(frozen=True, slots=True)
class FillEffect:
    """What one fill did to the book.

    ``realized_pnl`` is what this fill realised (quote, net of fees); ``closed`` says it closed the
    position, and then ``trip_pnl`` is the whole round trip's PnL. ``untracked`` means the ledger
    could not book it (a SELL of something it does not hold): the engine treats that as drift.
    """

    symbol: Symbol
    realized_pnl: Decimal = ZERO
    closed: bool = False
    trip_pnl: Decimal | None = None
    untracked: bool = False
    detail: str = ""


def _by_symbol(position: Position) -> Symbol:
    return position.symbol


def _by_time_and_id(reservation: Reservation) -> tuple[int, ClientOrderId]:
    return reservation.ts_ns, reservation.client_order_id


class Ledger:
    """Positions by symbol and reservations by client order id."""

    def __init__(
        self,
        quote_asset: str,
        dust_notional: Decimal,
        positions: Iterable[Position] = (),
        reservations: Iterable[Reservation] = (),
    ) -> None:
        self._quote_asset = quote_asset
        self._dust_notional = dust_notional
        self._positions: dict[Symbol, Position] = {p.symbol: p for p in positions if p.is_open}
        self._reservations: dict[ClientOrderId, Reservation] = {r.client_order_id: r for r in reservations}
        # What a close left behind, too small to sell on its own; the next entry carries it, so the
        # next exit sells it too and dust never piles up trip after trip (in memory only).
        self._dust: dict[Symbol, Position] = {}

    # --- queries ------------------------------------------------------------------------------
    def open_symbols(self) -> frozenset[Symbol]:
        """Symbols with an open position or a working entry: what the position limits count."""
        reservations = self._reservations
        if not reservations:  # between orders (every check asks)
            return frozenset(self._positions)
        return frozenset(self._positions).union([r.symbol for r in reservations.values()])

    def held(self, symbol: Symbol) -> Decimal:
        position = self._positions.get(symbol)
        return ZERO if position is None else position.quantity

    def positions(self) -> tuple[Position, ...]:
        positions = self._positions
        if len(positions) < 2:  # the usual book (every change saves a snapshot): nothing to sort
            return tuple(positions.values())
        return tuple(sorted(positions.values(), key=_by_symbol))

    def reservations(self) -> tuple[Reservation, ...]:
        reservations = self._reservations
        if len(reservations) < 2:
            return tuple(reservations.values())
        return tuple(sorted(reservations.values(), key=_by_time_and_id))

    # --- changes ------------------------------------------------------------------------------
    def reserve(self, reservation: Reservation) -> None:
        self._reservations[reservation.client_order_id] = reservation

    def release(self, client_order_id: ClientOrderId) -> bool:
        """Drop the reservation of an order that is done; False when there was none."""
        return self._reservations.pop(client_order_id, None) is not None

    def sync(self, position: Position, *, dust_price: Decimal | None = None) -> None:
        """Replace the book's view of ``position.symbol`` (reconciliation); a flat one removes it.

        ``dust_price``: the price of the SELL that left ``position``; a remainder worth less than the
        dust notional there is dust, as :meth:`apply` judged it when that fill was booked (a restart
        must not turn it back into an open position that blocks every entry on the symbol).
        """
        symbol = position.symbol
        self._dust.pop(symbol, None)
        if position.is_open and dust_price is not None and position.quantity * dust_price < self._dust_notional:
            self._positions.pop(symbol, None)
            self._dust[symbol] = Position(symbol, position.base_asset, position.quote_asset, position.quantity,
                                          position.cost_basis)  # fmt: skip
        elif position.is_open:
            self._positions[symbol] = position
        else:
            self._positions.pop(symbol, None)

    def _assets(self, fill: Fill) -> tuple[str, str] | None:
        reservation = self._reservations.get(fill.client_order_id)
        if reservation is not None and reservation.base_asset and reservation.quote_asset:
            return reservation.base_asset, reservation.quote_asset
        symbol, quote = str(fill.symbol), self._quote_asset
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
        return None

    def apply(self, fill: Fill, fee_value_quote: Decimal | None = None) -> FillEffect:
        """Book ``fill``; nothing changes when it cannot be booked (``untracked`` effect).

        Raises ``ValueError`` (before any change) for a fee in a third asset without its quote
        value: that is a caller bug, and guessing the fee would misstate the day's loss.
        """
        position = self._positions.get(fill.symbol)
        if position is None:
            if fill.side is _SELL:
                return FillEffect(
                    fill.symbol, untracked=True, detail=f"SELL fill but the ledger holds no {fill.symbol}"
                )
            assets = self._assets(fill)
            if assets is None:
                detail = f"cannot split {fill.symbol} into base/quote: give the instrument"
                return FillEffect(fill.symbol, untracked=True, detail=detail)
            position = self._dust.pop(fill.symbol, None) or Position(fill.symbol, *assets)
        known = (position.base_asset, position.quote_asset)
        if fill.commission and fill.commission_asset not in known and fee_value_quote is None:
            raise ValueError(f"fee in {fill.commission_asset} needs its {position.quote_asset} value (fee_value_quote)")
        try:
            after = position.apply(fill, third_asset_fee_value=fee_value_quote)
        except PositionError as e:
            return FillEffect(fill.symbol, untracked=True, detail=str(e))
        realized = after.realized_pnl - position.realized_pnl
        if after.quantity <= 0 or (fill.side is _SELL and after.quantity * fill.price < self._dust_notional):
            # A remainder too small to sell is dust: the position is closed for risk purposes.
            self._positions.pop(fill.symbol, None)
            if after.quantity > 0:  # is_open
                self._dust[fill.symbol] = Position(fill.symbol, after.base_asset, after.quote_asset, after.quantity,
                                                   after.cost_basis)  # fmt: skip
            return FillEffect(fill.symbol, realized, True, after.realized_pnl)  # closed, with the trip's PnL
        self._positions[fill.symbol] = after
        return FillEffect(fill.symbol, realized)
