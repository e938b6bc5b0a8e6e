"""A fast yes for orders that pass every symbol filter, in ``Decimal`` or in integer ticks and lots.

The venue's answer to a bad order must be Binance's exact ``-1013 Filter failure: NAME`` for the
*first* broken filter, and that stays the job of :func:`thunes.domain.rules.check_order`. Nearly every
order passes, though, so the venue (and the risk gate, for its ``FILTERS_<NAME>`` denials) first asks
:class:`FastFilters`, which only answers "passes every filter" (``True``) or "ask the full check"
(``False``). A ``False`` costs one full check, never a different error; a ``True`` must mean the full
check finds nothing, which the unit tests hold it to over the whole real exchangeInfo dump.

Bounds are digested once per symbol (and once per average price for PERCENT_PRICE*). In ticks and
lots every rule is an exact integer comparison: ``price >= minPrice`` is ``ticks >= ceil(minPrice / tick)``,
``notional >= minNotional`` is ``ticks * lots >= ceil(minNotional / (tick * step))``, and a multiple of
the tick or step is one by construction. MAX_POSITION needs the account's position: always the full check.
"""

from __future__ import annotations

from decimal import Decimal
from math import gcd

from thunes.domain.enums import OrderType, Side
from thunes.domain.exact import multiply
from thunes.domain.instrument import Instrument

__all__ = ["FastFilters"]

# Enum members as module constants: on Python 3.11 ``Side.BUY`` costs ~70 ns more than a global read,
# and the order path reads a dozen of them per order.
_BUY, _MARKET = Side.BUY, OrderType.MARKET

_INF = Decimal("Infinity")
_EXACT = 10**27  # integers below this convert to Decimal (28 digits) without rounding, with room to spare
_NONE = (1, 0)  # an empty interval: nothing passes


def _ratio(value: Decimal) -> tuple[int, int]:
    num, den = value.as_integer_ratio()
    return num, den


def _coefficient(value: Decimal) -> int:
    """The significant digits of ``value`` as an integer (``Decimal("0.0150")`` -> 15).

    A product of such values is exact in 28-digit ``Decimal`` while the product of their coefficients
    stays below ``_EXACT`` (trailing zeros a rounding drops change the representation, not the value).
    """
    return max(int("".join(map(str, value.normalize().as_tuple().digits))), 1)


def _ceil_units(value: Decimal, unit: tuple[int, int]) -> int:
    """Smallest ``n`` with ``n * unit >= value`` (``unit`` as an exact ratio)."""
    num, den = _ratio(value)
    return -((-num * unit[1]) // (den * unit[0]))


def _floor_units(value: Decimal, unit: tuple[int, int]) -> int:
    """Largest ``n`` with ``n * unit <= value``."""
    num, den = _ratio(value)
    return (num * unit[1]) // (den * unit[0])


def _edge(value: Decimal, unit: tuple[int, int], *, low: bool) -> int:
    """A band edge in ticks: the first tick at or above (``low``) or last at or below ``value``."""
    if value.is_finite():
        return _ceil_units(value, unit) if low else _floor_units(value, unit)
    if value.is_nan():  # nothing compares with NaN: an empty band sends every order to the full check
        return _EXACT + 1 if low else -_EXACT - 1
    return -_EXACT - 1 if value.is_signed() else _EXACT + 1


def _notional_bounds(instrument: Instrument, market: bool) -> tuple[Decimal, Decimal | None, bool]:
    """``(lowest, highest or None, any rule)``: the NOTIONAL and MIN_NOTIONAL bounds an order type meets."""
    lows: list[Decimal] = []
    highs: list[Decimal] = []
    f = instrument.notional
    if f is not None:
        if not market or f.apply_min_to_market:
            lows.append(f.min_notional)
        if not market or f.apply_max_to_market:
            highs.append(f.max_notional)
    legacy = instrument.min_notional
    if legacy is not None and (not market or legacy.apply_to_market):
        lows.append(legacy.min_notional)
    return max(lows, default=Decimal(0)), min(highs, default=None), bool(lows or highs)


def _bands(instrument: Instrument, side: Side) -> list[tuple[Decimal, Decimal]]:
    """``(up, down)`` multipliers of the average price a ``side`` limit price must stay within."""
    out: list[tuple[Decimal, Decimal]] = []
    by_side = instrument.percent_price_by_side
    if by_side is not None:
        if side is _BUY:
            out.append((by_side.bid_multiplier_up, by_side.bid_multiplier_down))
        else:
            out.append((by_side.ask_multiplier_up, by_side.ask_multiplier_down))
    legacy = instrument.percent_price
    if legacy is not None:
        out.append((legacy.multiplier_up, legacy.multiplier_down))
    return out


class FastFilters:
    """One symbol's filters, digested for the venue's hot path (see the module docstring)."""

    __slots__ = (
        "_band_ref", "_band_ticks", "_bands", "_bands_now", "_lot", "_lot_lots", "_market_lot",
        "_market_lot_lots", "_max_orders", "_max_price", "_min_price", "_notional", "_notional_ticks",
        "_price_ticks", "_tick", "full_check_only", "tick_api",
    )  # fmt: skip

    def __init__(self, instrument: Instrument) -> None:
        pf, lot, mlot = instrument.price_filter, instrument.lot_size, instrument.market_lot_size
        self.full_check_only = instrument.max_position is not None
        self._min_price = pf.min_price if pf.min_price > 0 else None
        self._max_price = pf.max_price if pf.max_price > 0 else None
        self._tick = pf.tick_size if pf.tick_size != 0 else None
        self._lot = (lot.min_qty, lot.max_qty, lot.step_size if lot.step_size != 0 else None)
        self._market_lot = (
            None if mlot is None else (mlot.min_qty, mlot.max_qty or _INF, mlot.step_size if mlot.step_size else None)
        )
        self._notional = {m: _notional_bounds(instrument, m) for m in (False, True)}
        self._bands = {s: _bands(instrument, s) for s in Side}
        self._bands_now: dict[Side, tuple[Decimal, Decimal]] = {}
        self._band_ticks: dict[Side, tuple[int, int]] = {}
        self._band_ref: Decimal | None = None
        self._max_orders = instrument.max_num_orders.max_num_orders if instrument.max_num_orders else None
        self.tick_api = pf.tick_size > 0 and lot.step_size > 0  # prices and quantities can be ticks and lots
        self._price_ticks = self._lot_lots = self._notional_ticks = _NONE
        self._market_lot_lots: tuple[int, int, int] | None = None
        if self.tick_api:
            self._digest_ints(instrument)

    # --- Decimal -----------------------------------------------------------------------------------
    def accepts(
        self,
        side: Side,
        order_type: OrderType,
        qty: Decimal | None,
        price: Decimal | None,
        quote: Decimal | None,
        ref: Decimal | None,
        open_orders: int,
    ) -> bool:
        """True only if ``check_order`` finds no violation (and ``OrderRequest`` accepts the values).

        May raise ``ArithmeticError`` on values ``Decimal`` cannot compare (NaN): read it as False.
        """
        if self.full_check_only or (self._max_orders is not None and open_orders >= self._max_orders):
            return False
        if price is not None and not self._price_ok(side, price, ref):
            return False
        market = order_type is _MARKET
        if qty is not None and not self._qty_ok(qty, market):
            return False
        if quote is not None:
            if not 0 < quote < _INF:
                return False
            notional: Decimal | None = quote
        else:
            reference = price if price is not None else ref
            notional = None if reference is None or qty is None else multiply(reference, qty)
        return self._notional_ok(notional, market)

    def _price_ok(self, side: Side, price: Decimal, ref: Decimal | None) -> bool:
        if not 0 < price < _INF:
            return False
        low, high, tick = self._min_price, self._max_price, self._tick
        if (low is not None and price < low) or (high is not None and price > high) or (tick and price % tick):
            return False
        if ref is None:
            return True
        if ref is not self._band_ref:
            self._new_ref(ref)
        down, up = self._bands_now[side]
        return down <= price <= up

    def _qty_ok(self, qty: Decimal, market: bool) -> bool:
        if not 0 < qty < _INF:
            return False
        low, high, step = self._lot
        if qty < low or qty > high or (step and qty % step):
            return False
        mlot = self._market_lot
        if market and mlot is not None:
            low, high, step = mlot
            return low <= qty <= high and not (step and qty % step)
        return True

    def _notional_ok(self, notional: Decimal | None, market: bool) -> bool:
        low, high, any_rule = self._notional[market]
        if not any_rule:
            return True
        return notional is not None and notional >= low and (high is None or notional <= high)

    def _new_ref(self, ref: Decimal) -> None:
        """Band edges for a new average price: ``ref * down <= price <= ref * up`` for every band.

        Computed exactly as ``check_order`` computes them (exact ``Decimal`` products), then in ticks.
        """
        now: dict[Side, tuple[Decimal, Decimal]] = {}
        for side, bands in self._bands.items():
            now[side] = (
                (max(multiply(ref, d) for _, d in bands), min(multiply(ref, u) for u, _ in bands))
                if bands
                else (-_INF, _INF)
            )
        ticks: dict[Side, tuple[int, int]] = {}
        if self.tick_api and self._tick is not None:
            unit = _ratio(self._tick)
            for side, (down, up) in now.items():
                ticks[side] = (_edge(down, unit, low=True), _edge(up, unit, low=False))
        self._bands_now, self._band_ticks, self._band_ref = now, ticks, ref

    # --- ticks and lots ----------------------------------------------------------------------------

    def _digest_ints(self, instrument: Instrument) -> None:
        pf, lot, mlot = instrument.price_filter, instrument.lot_size, instrument.market_lot_size
        tick, step = _ratio(pf.tick_size), _ratio(lot.step_size)
        # Beyond these, ticks * tickSize (or the notional) would not be exact in 28 digits: full check.
        max_ticks, max_lots = _EXACT // _coefficient(pf.tick_size), _EXACT // _coefficient(lot.step_size)
        low = _ceil_units(pf.min_price, tick) if pf.min_price > 0 else 1
        high = _floor_units(pf.max_price, tick) if pf.max_price > 0 else max_ticks
        self._price_ticks = (max(low, 1), min(high, max_ticks))
        self._lot_lots = (max(_ceil_units(lot.min_qty, step), 1), min(_floor_units(lot.max_qty, step), max_lots))
        if mlot is not None:
            high = _floor_units(mlot.max_qty, step) if mlot.max_qty else max_lots
            modulus = 1  # lots * stepSize is on the market step exactly when lots is a multiple of this
            if mlot.step_size:
                m_num, m_den = _ratio(mlot.step_size)
                num, den = step[0] * m_den, step[1] * m_num  # stepSize / market stepSize
                modulus = den // gcd(num, den)
            self._market_lot_lots = (max(_ceil_units(mlot.min_qty, step), 1), min(high, max_lots), modulus)
        notional_unit = (tick[0] * step[0], tick[1] * step[1])
        limit_low, limit_high, _ = self._notional[False]
        exact = _EXACT // (_coefficient(pf.tick_size) * _coefficient(lot.step_size))
        self._notional_ticks = (
            _ceil_units(limit_low, notional_unit),
            exact if limit_high is None else min(_floor_units(limit_high, notional_unit), exact),
        )

    def accepts_ticks(
        self,
        side: Side,
        order_type: OrderType,
        lots: int,
        qty: Decimal,
        ticks: int,
        ref: Decimal | None,
        open_orders: int,
    ) -> bool:
        """:meth:`accepts` for ``qty == lots * stepSize`` at ``ticks * tickSize`` (``ticks`` ignored for MARKET).

        MARKET orders are priced at ``ref``, a ``Decimal``: their notional ``ref * qty`` is checked in
        exact ``Decimal``, as the full check does it. May raise ``ArithmeticError`` like :meth:`accepts`.
        """
        if self.full_check_only or (self._max_orders is not None and open_orders >= self._max_orders):
            return False
        low, high = self._lot_lots
        if not low <= lots <= high:
            return False
        if order_type is _MARKET:
            mlot = self._market_lot_lots
            if mlot is not None and (not mlot[0] <= lots <= mlot[1] or lots % mlot[2]):
                return False
            return self._notional_ok(None if ref is None else multiply(ref, qty), True)
        return self._limit_ticks_ok(side, lots, ticks, ref)

    def _limit_ticks_ok(self, side: Side, lots: int, ticks: int, ref: Decimal | None) -> bool:
        low, high = self._price_ticks
        if not low <= ticks <= high:
            return False
        if ref is not None:
            if ref is not self._band_ref:
                self._new_ref(ref)
            low, high = self._band_ticks[side]
            if not low <= ticks <= high:
                return False
        low, high = self._notional_ticks
        return low <= ticks * lots <= high
