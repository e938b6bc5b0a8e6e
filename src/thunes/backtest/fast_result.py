"""The fast backtest's result: an :class:`EventBacktestResult` whose orders and fills the compiled kernel
returned as integer columns, turned into domain objects only when someone reads them.

Building thousands of ``OrderReport`` and ``Fill`` objects (a SHA-256 client order id each, frozen
dataclasses, ``Decimal`` amounts) costs far more than the backtest itself, and a parameter sweep
needs none of them: :meth:`FastBacktestResult.equity_curve` computes the equity straight from the
columns, and the counters and the final position are ready at once. Read ``orders`` or ``fills`` and
they are built, exactly as the engine core would have reported them, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from thunes.backtest.event import EventBacktestResult
from thunes.domain.enums import Liquidity, OrderStatus, OrderType, Side
from thunes.domain.identifiers import StrategyId, VenueOrderId
from thunes.domain.instrument import Instrument
from thunes.domain.orders import Fill
from thunes.domain.venue import OrderReport
from thunes.engine.trader import TraderStats
from thunes.execution.client_ids import client_order_id
from thunes.features.ohlcv import OHLCV

__all__ = ["FastBacktestResult", "KernelTrades"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
NS_PER_MS = 1_000_000
ZERO = Decimal(0)
_EXACT_FLOAT = 1 << 53  # integers below this are exact doubles


@dataclass(frozen=True, slots=True, eq=False)
class KernelTrades:
    """The orders the venue accepted, in submission order, one fill each (a MARKET order takes one level).

    Columns: the signal bar's row, side (+1 BUY, -1 SELL), order and filled quantity in lots, fill
    price in ticks, commission in units of the commission asset's precision, venue order and trade
    ids. Units: base amounts ``10**-base_exp``, quote amounts ``10**-quote_exp``; ``lot_units`` and
    ``notional_units`` are one lot and one tick-lot in them, ``base_fee_scale``/``quote_fee_scale``
    one commission unit.
    """

    rows: IntArray
    sides: IntArray
    quantities: IntArray
    filled: IntArray
    prices: IntArray
    commissions: IntArray
    order_ids: IntArray
    trade_ids: IntArray
    instrument: Instrument
    strategy_id: StrategyId
    open_time_ns: IntArray
    span_ns: int
    base_exp: int
    quote_exp: int
    lot_units: int
    notional_units: int
    base_fee_scale: int
    quote_fee_scale: int
    deposit_units: int

    def __len__(self) -> int:
        return len(self.rows)

    def fill_times_ns(self) -> IntArray:
        """When each fill happened: the venue's millisecond clock at the signal bar's close."""
        closes = self.open_time_ns[self.rows] + self.span_ns
        return np.asarray((closes // NS_PER_MS) * NS_PER_MS, dtype=np.int64)

    def fills(self) -> list[Fill]:
        """The fills, equal to what the engine core books (one an order)."""
        inst = self.instrument
        tick, step, symbol = inst.tick_size, inst.step_size, inst.symbol
        times, opens = self.fill_times_ns().tolist(), self.open_time_ns[self.rows].tolist()
        columns = (self.sides, self.quantities, self.filled, self.prices, self.commissions, self.trade_ids)
        fills: list[Fill] = []
        for i, (side_sign, lots, filled_lots, ticks, fee, trade_id) in enumerate(
            zip(*(c.tolist() for c in columns), strict=True)
        ):
            buy = side_sign > 0
            side = Side.BUY if buy else Side.SELL
            cid = client_order_id(self.strategy_id, symbol, side, f"{opens[i]}")
            taken = (lots * step).normalize() if filled_lots == lots else filled_lots * step  # less: the quote's size
            commission = Decimal(fee).scaleb(-(inst.base_precision if buy else inst.quote_precision))
            fills.append(Fill(cid, str(trade_id), symbol, side, ticks * tick, taken, commission,
                              inst.base_asset if buy else inst.quote_asset, Liquidity.TAKER, times[i]))  # fmt: skip
        return fills

    def orders(self, fills: list[Fill]) -> list[OrderReport]:
        """The final order reports, equal to what the engine core books, each with its fill of ``fills``
        (:meth:`fills`): built only when asked for, a report and its Decimals cost as much as a fill."""
        step, symbol = self.instrument.step_size, self.instrument.symbol
        orders: list[OrderReport] = []
        for lots, filled_lots, order_id, fill in zip(self.quantities.tolist(), self.filled.tolist(),
                                                     self.order_ids.tolist(), fills, strict=True):  # fmt: skip
            status = OrderStatus.FILLED if filled_lots == lots else OrderStatus.EXPIRED
            taken = fill.quantity
            orders.append(OrderReport(fill.client_order_id, VenueOrderId(str(order_id)), symbol, fill.side,
                                      OrderType.MARKET, status, (lots * step).normalize(), ZERO + taken,
                                      ZERO + fill.price * taken, None, fill.ts_ns, (fill,)))  # fmt: skip
        return orders

    def equity_curve(self, bars: OHLCV, warmup_bars: int) -> tuple[IntArray, FloatArray] | None:
        """``backtest.run.equity_curve`` of these fills, from the columns: bit for bit the same floats
        (the exact amount in integers, one correctly rounded division); None when the amounts do
        not fit the 53 bits that make that division exact (then rebuild it from the fills)."""
        from thunes.backtest.fast_series import equity_units  # numba: the columns exist, so it is there

        if warmup_bars < 0:
            raise ValueError("warmup_bars must be >= 0")
        tick = self.instrument.tick_size
        exponent = max(self.quote_exp, self.base_exp + max(0, -int(tick.normalize().as_tuple().exponent)))
        quote_scale, base_scale = 10 ** (exponent - self.quote_exp), int(tick.scaleb(exponent - self.base_exp))
        if exponent > 22 or max(quote_scale, base_scale) >= _EXACT_FLOAT:  # 10**exponent is no exact double
            return None
        units = np.array([self.deposit_units, self.lot_units, self.notional_units, self.base_fee_scale,
                          self.quote_fee_scale, quote_scale, base_scale], dtype=np.int64)  # fmt: skip
        block = np.empty((2, max(len(bars) - warmup_bars, 0)), dtype=np.float64)  # one allocation for both
        times, values = block[0].view(np.int64), block[1]
        ok = equity_units(
            np.ascontiguousarray(bars.open_time_ns, dtype=np.int64), np.ascontiguousarray(bars.close, dtype=np.float64),
            float(tick), bars.timeframe.nanoseconds, warmup_bars, self.rows, self.sides, self.filled, self.prices,
            self.commissions, units, float(10**exponent), times, values,
        )  # fmt: skip
        return (times, values) if ok else None


class FastBacktestResult(EventBacktestResult):
    """An :class:`EventBacktestResult` from :func:`~thunes.backtest.fast.run_fast_backtest`.

    ``trades`` holds the kernel's columns when the compiled kernel ran (``kernel`` is True);
    ``fallback_reason`` says why the engine core ran instead. ``orders`` and ``fills`` are built
    from the columns on first read; ``fill_count`` and :meth:`equity_curve` never need them.
    """

    __slots__ = ("_fills", "_orders", "fallback_reason", "trades")

    def __init__(
        self,
        stats: TraderStats,
        *,
        bars: int,
        position: Decimal,
        trades: KernelTrades | None = None,
        orders: list[OrderReport] | None = None,
        fills: list[Fill] | None = None,
        fallback_reason: str | None = None,
    ) -> None:
        self.stats, self.bars, self.position, self.equity = stats, bars, position, []
        self.symbols, self.venue = (), None  # the kernel keeps no venue; one symbol's counters are ``stats``
        self.trades, self.fallback_reason = trades, fallback_reason
        self._orders, self._fills = orders, fills

    @classmethod
    def of_engine_core(cls, result: EventBacktestResult, reason: str) -> FastBacktestResult:
        """The engine core's result, with the reason the kernel did not run."""
        fast = cls(result.stats, bars=result.bars, position=result.position, orders=result.orders,
                   fills=result.fills, fallback_reason=reason)  # fmt: skip
        fast.symbols, fast.venue = result.symbols, result.venue
        return fast

    @property
    def kernel(self) -> bool:
        """True when the compiled kernel produced this result."""
        return self.trades is not None

    @property
    def orders(self) -> list[OrderReport]:
        if self._orders is None:
            assert self.trades is not None  # without columns both lists were given
            self._orders = self.trades.orders(self.fills)
        return self._orders

    @orders.setter
    def orders(self, value: list[OrderReport]) -> None:
        self._orders = value

    @property
    def fills(self) -> list[Fill]:
        if self._fills is None:
            assert self.trades is not None  # without columns both lists were given
            self._fills = self.trades.fills()
        return self._fills

    @fills.setter
    def fills(self, value: list[Fill]) -> None:
        self._fills = value

    @property
    def fill_count(self) -> int:
        return len(self.trades) if self.trades is not None and self._fills is None else len(self.fills)

    def equity_curve(self, bars: OHLCV, warmup_bars: int) -> tuple[IntArray, FloatArray] | None:
        """The equity after the warm-up from the kernel's columns (see :meth:`KernelTrades.equity_curve`);
        None without columns or when they do not fit exact floats."""
        return None if self.trades is None else self.trades.equity_curve(bars, warmup_bars)
