"""Per-symbol market state inside the simulated venue: prices, liquidity and resting orders.

Liquidity for a taker comes, in order of preference, from a synced L2 book (walked level by
level), else the best bid/ask (with bar slippage), else the last trade price (with slippage).
Resting limit orders fill only when a market trade goes *through* their price (SPEC §8).

Resting orders are indexed by integer ticks, best first, and the best price of each side is kept
at hand, so a market trade that crosses no resting order costs two comparisons whatever the
number of orders resting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import islice
from typing import Literal, Protocol

from sortedcontainers import SortedList

from thunes.domain.enums import OrderType, Side
from thunes.domain.fastfilters import FastFilters
from thunes.domain.instrument import Instrument
from thunes.simvenue.models import SimOrder
from thunes.simvenue.replay_model import MS_PER_MINUTE, REPLAY
from thunes.simvenue.slippage import Slippage, SlippageSpec

__all__ = ["DepthBook", "Level", "MarketState", "PricingSpec"]

# Enum members as module constants: on Python 3.11 ``Side.BUY`` costs ~70 ns more than a global read,
# and the order path reads a dozen of them per order.
_BUY, _LIMIT_MAKER, _SELL = Side.BUY, OrderType.LIMIT_MAKER, Side.SELL

Level = tuple[Decimal, Decimal]  # (price, quantity)
Trade = tuple[int, Decimal, Decimal]  # (time ms, price, quantity)
NS_PER_MS = 1_000_000
_CATCH_UP_EVERY = 4096
_FACTOR_CACHE_SIZE = 4096
_ZERO = Decimal(0)
_NO_BUY, _NO_SELL = Decimal("-9E+999999"), Decimal("9E+999999")  # finite: an infinite price is never "inside"
_ONE = Decimal(1)
_BPS = Decimal(10_000)


class DepthBook(Protocol):
    """What the venue needs of an L2 book (see ``simvenue.book``)."""

    @property
    def synced(self) -> bool: ...

    def walk(self, side_taken: Literal["ask", "bid"], lots: int, limit_ticks: int | None) -> list[tuple[int, int]]: ...

    def consume(self, side_taken: Literal["ask", "bid"], fills: list[tuple[int, int]]) -> None: ...

    def best_bid(self) -> tuple[int, int] | None: ...

    def best_ask(self) -> tuple[int, int] | None: ...

    def to_ticks(self, price: Decimal | str) -> int: ...

    def to_lots(self, quantity: Decimal | str) -> int: ...

    def price(self, ticks: int) -> Decimal: ...

    def qty(self, lots: int) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class PricingSpec:
    """How the venue prices a taker's order on a symbol: what code reproducing it must match."""

    fee_rate: Decimal
    slippage: SlippageSpec
    avg_price_window_ms: int
    depth_book: bool  # an L2 book is walked instead of the quote and the slippage model


@dataclass(slots=True)
class MarketState:
    """Everything the venue knows about one symbol's market.

    ``buy_top`` / ``sell_top`` are the best resting BUY and SELL prices (``ticks * tickSize``), None
    when that side is empty: a trade at or above ``buy_top`` and at or below ``sell_top`` goes
    through no resting order (see :meth:`may_cross`).
    """

    instrument: Instrument
    fee_rate: Decimal
    slippage: Slippage
    avg_price_mins: int | None = None  # None: the instrument's (``ReplayModel.avg_price_window_ms``)
    book: DepthBook | None = None
    bid: Decimal | None = None
    bid_qty: Decimal | None = None
    ask: Decimal | None = None
    ask_qty: Decimal | None = None
    last_price: Decimal | None = None
    bar_volume: Decimal | None = None
    bar_range: float | None = None
    window: deque[Trade] = field(default_factory=deque)  # (time ms, price, qty); see :meth:`trades`
    unsummed: int = 0
    window_qty: Decimal = Decimal(0)
    window_notional: Decimal = Decimal(0)
    buys: SortedList[tuple[int, int, int]] = field(default_factory=SortedList)  # (-price ticks, sequence, id)
    sells: SortedList[tuple[int, int, int]] = field(default_factory=SortedList)  # (price ticks, sequence, id)
    next_order_id: int = 1
    next_trade_id: int = 1
    buy_top: Decimal | None = field(default=None, init=False)
    sell_top: Decimal | None = field(default=None, init=False)
    filters: FastFilters = field(init=False, repr=False)
    tick_size: Decimal = field(init=False, repr=False)  # the instrument's, at hand
    base_fee_quantum: Decimal = field(init=False, repr=False)  # commission precision of the base asset
    quote_fee_quantum: Decimal = field(init=False, repr=False)
    avg_mins_ms: int = field(init=False, repr=False)
    _buy_ticks: int = field(default=0, init=False, repr=False)  # buy_top and sell_top in ticks
    _sell_ticks: int = field(default=0, init=False, repr=False)
    _avg: Decimal | None = field(default=None, init=False, repr=False)  # avg_price() answer, while valid
    _avg_dirty: bool = field(default=True, init=False, repr=False)
    _avg_until_ms: int = field(default=0, init=False, repr=False)
    # Trades already in the sums but not yet in ``window`` (:meth:`record_deferred`): they are made only
    # if something needs them one by one before they all age out; their times lie in [from, to] ms.
    _deferred: Callable[[], list[Trade]] | None = field(default=None, init=False, repr=False)
    _deferred_from_ms: int = field(default=0, init=False, repr=False)
    _deferred_to_ms: int = field(default=0, init=False, repr=False)
    _factors: tuple[dict[float, Decimal], dict[float, Decimal]] = field(
        default_factory=lambda: ({}, {}), init=False, repr=False
    )  # slippage bps -> price factor, for BUY and for SELL

    def __post_init__(self) -> None:
        self.filters = FastFilters(self.instrument)
        self.tick_size = self.instrument.tick_size
        self.base_fee_quantum = Decimal(1).scaleb(-self.instrument.base_precision)  # as domain.fees.commission
        self.quote_fee_quantum = Decimal(1).scaleb(-self.instrument.quote_precision)
        mins = self.avg_price_mins
        self.avg_mins_ms = REPLAY.avg_price_window_ms(self.instrument) if mins is None else mins * MS_PER_MINUTE

    def pricing(self) -> PricingSpec:
        return PricingSpec(self.fee_rate, self.slippage.describe(), self.avg_mins_ms, self.book is not None)

    # --- prices -------------------------------------------------------------------------------
    def ticks(self, price: Decimal) -> int:
        return int(price / self.tick_size)

    def trades(self) -> deque[Trade]:
        """The trades in the ``avgPrice`` window as of the last update, oldest first (read, never modify)."""
        if self._deferred is not None:
            self._realize()
        return self.window

    def _realize(self) -> None:
        """Make the deferred trades (the window is empty while they are pending)."""
        make, self._deferred = self._deferred, None
        if make is not None:
            self.window.extend(make())

    def record_trade(self, price: Decimal, qty: Decimal, time_ms: int) -> None:
        """Remember a market trade for ``avgPrice`` and as the last price (hot path: an append)."""
        if self._deferred is not None:
            self._realize()
        self.last_price = price
        self.window.append((time_ms, price, qty))
        self.unsummed += 1
        self._avg_dirty = True
        if self.unsummed > _CATCH_UP_EVERY:  # keep memory flat on long replays without orders
            self._expire(time_ms)
            self._catch_up()

    def record_trades(self, trades: list[tuple[int, Decimal, Decimal]]) -> None:
        """:meth:`record_trade` for each ``(time ms, price, qty)`` in time order, in one call."""
        if not trades:
            return
        if self._deferred is not None:
            self._realize()
        self.last_price = trades[-1][1]
        self.window.extend(trades)
        self.unsummed += len(trades)
        self._avg_dirty = True
        if self.unsummed > _CATCH_UP_EVERY:
            self._expire(trades[-1][0])
            self._catch_up()

    def record_summed(self, trades: list[tuple[int, Decimal, Decimal]], qty_sum: Decimal, notional_sum: Decimal,
                      now_ms: int) -> None:  # fmt: skip
        """:meth:`record_trades` at ``now_ms`` (or later) of trades whose quantities and ``price * qty`` sum
        exactly to ``qty_sum`` and ``notional_sum`` (a replay knows them in integers). When every trade
        before them has left the window by ``now_ms`` (a backtest's orders minutes apart), they join the
        running sums at once, which then equal what summing them one by one gives (exact, the same
        exponents); else they wait to be summed as any trade does."""
        if not trades:
            return
        self._expire(now_ms)
        if self.window or self._deferred is not None:
            self.record_trades(trades)
            return
        self.window.extend(trades)
        self.window_qty += qty_sum
        self.window_notional += notional_sum
        self.last_price = trades[-1][1]
        self._avg_dirty = True

    def record_deferred(self, make: Callable[[], list[Trade]], qty_sum: Decimal, notional_sum: Decimal,
                        last_price: Decimal, from_ms: int, now_ms: int) -> None:  # fmt: skip
        """:meth:`record_summed` of the trades ``make()`` returns, made only when needed one by one: a
        replay's trades mostly age out of the window before any order needs more than their sums. The
        caller vouches that ``make()`` returns trades (at least one) timed within ``from_ms..now_ms``,
        whose sums are these, the last at ``last_price``; it is called at most once."""
        self._expire(now_ms)
        if self.window or self._deferred is not None:
            self.record_trades(make())
            return
        self._deferred, self._deferred_from_ms, self._deferred_to_ms = make, from_ms, now_ms
        self.window_qty += qty_sum
        self.window_notional += notional_sum
        self.last_price = last_price
        self._avg_dirty = True

    def _catch_up(self) -> None:
        """Fold the trades appended since the last call into the running sums (newest first, in locals)."""
        if not self.unsummed:
            return
        qty_sum, notional_sum = self.window_qty, self.window_notional
        for _, price, qty in islice(reversed(self.window), self.unsummed):
            qty_sum += qty
            notional_sum += price * qty
        self.window_qty, self.window_notional, self.unsummed = qty_sum, notional_sum, 0

    def _expire(self, now_ms: int) -> None:
        """Drop the trades older than the window; only those already summed are subtracted (a trade that
        ages out before anyone asked for the average never costs a multiplication: most of a replay's)."""
        horizon, window = now_ms - self.avg_mins_ms, self.window
        if self._deferred is not None:  # the window is empty, the sums are the deferred trades'
            if self._deferred_to_ms < horizon:  # all of them leave, unmade
                self._deferred = None
                self.window_qty = self.window_notional = _ZERO
                return
            if self._deferred_from_ms >= horizon:  # none leaves
                return
            self._realize()
        summed = len(window) - self.unsummed
        if summed and window[summed - 1][0] < horizon:  # every summed trade leaves: the sums start afresh
            for _ in range(summed):
                window.popleft()
            self.window_qty = self.window_notional = _ZERO
            summed = 0
        while window and window[0][0] < horizon:
            _, price, qty = window.popleft()
            if summed:
                summed -= 1
                self.window_qty -= qty
                self.window_notional -= price * qty
            else:
                self.unsummed -= 1

    def avg_price(self, now_ms: int) -> Decimal | None:
        """Volume-weighted price over ``avgPriceMins`` (filters.md); the last price when no trade is recent.

        Running sums, exact in ``Decimal`` and updated lazily: O(1) amortised per trade and per order.
        The answer is remembered until a trade arrives or the oldest trade of the window ages out.
        """
        if not self._avg_dirty and now_ms < self._avg_until_ms:
            return self._avg
        self._expire(now_ms)
        self._catch_up()
        window, deferred = self.window, self._deferred is not None
        if (not window and not deferred) or self.window_qty == 0:
            avg = self.last_price
        else:
            tick = self.instrument.tick_size
            avg = (self.window_notional / self.window_qty / tick).to_integral_value(ROUND_FLOOR) * tick
        # _expire drops a trade once now - avg_mins_ms > its time: nothing changes before that.
        self._avg, self._avg_dirty = avg, False
        first_ms = self._deferred_from_ms if deferred else window[0][0] if window else None
        self._avg_until_ms = first_ms + self.avg_mins_ms + 1 if first_ms is not None else 1 << 62
        return avg

    def reference_price(self, side: Side) -> Decimal | None:
        """Best price a taker on ``side`` would meet, before slippage."""
        quote = self.ask if side is _BUY else self.bid
        return quote if quote is not None else self.last_price

    # --- taking liquidity ------------------------------------------------------------------------
    def _slipped(self, price: Decimal, buy: bool, qty: Decimal) -> Decimal:
        bps = self.slippage.bps(qty, self.bar_volume, self.bar_range)
        factors = self._factors[0 if buy else 1]
        factor = factors.get(bps)
        if factor is None:  # 1 ± bps / 10_000, remembered: without bar context every order has the same bps
            if len(factors) >= _FACTOR_CACHE_SIZE:
                factors.clear()
            move = Decimal(str(bps)) / _BPS
            factor = factors[bps] = _ONE + move if buy else _ONE - move
        tick = self.tick_size
        rounding = ROUND_CEILING if buy else ROUND_FLOOR  # always against the taker
        return (price * factor / tick).to_integral_value(rounding) * tick

    def quote_levels(self, side: Side, qty: Decimal, limit: Decimal | None) -> list[Level]:
        """Liquidity for a taker of ``qty`` on ``side``, best first, never beyond ``limit``."""
        book = self.book
        if book is not None and book.synced:
            limit_ticks = None if limit is None else book.to_ticks(limit)
            levels = book.walk("ask" if side is _BUY else "bid", book.to_lots(qty), limit_ticks)
            return [(book.price(t), book.qty(n)) for t, n in levels]
        buy = side is _BUY
        reference = self.ask if buy else self.bid  # reference_price(), inlined: this runs on every taker
        if reference is None:
            reference = self.last_price
            if reference is None:
                return []
        price = self._slipped(reference, buy, qty)
        if limit is not None and (price > limit if buy else price < limit):
            # Slippage pushed past the limit: the limit itself still trades if the quote is inside it.
            if reference > limit if buy else reference < limit:
                return []
            price = limit
        available = self.ask_qty if buy else self.bid_qty
        return [(price, available if available is not None and available < qty else qty)]  # min(qty, available)

    def taker_levels(
        self, side: Side, order_type: OrderType, qty: Decimal | None, price: Decimal | None, quote: Decimal | None
    ) -> list[Level]:
        """What a new order would take right now (nothing for a passive limit)."""
        if order_type is _LIMIT_MAKER:
            return []
        if price is not None and not self.would_take(side, price):
            return []  # a passive limit takes nothing now
        if quote is not None:
            reference = self.reference_price(side)
            if reference is None:
                return []
            step = self.instrument.step_size
            estimate = int(quote / reference / step) * step
            return self._trim_to_quote(self.quote_levels(side, estimate * 2, None), quote)
        assert qty is not None
        return self.quote_levels(side, qty, price)

    def _trim_to_quote(self, levels: list[Level], budget: Decimal) -> list[Level]:
        """Cut levels so their notional stays within ``budget``, quantities on the step (rest-api.md)."""
        out: list[Level] = []
        step = self.instrument.step_size
        for price, qty in levels:
            affordable = int(budget / price / step) * step
            take = min(qty, affordable)
            if take <= 0:
                break
            out.append((price, take))
            budget -= price * take
        return out

    def consume(self, side: Side, fills: list[Level]) -> None:
        """Remove taken liquidity from the L2 book (or the top-of-book quantity)."""
        book = self.book
        if book is not None and book.synced:
            book.consume("ask" if side is _BUY else "bid", [(book.to_ticks(p), book.to_lots(q)) for p, q in fills])
            return
        taken = _ZERO + fills[0][1] if len(fills) == 1 else sum((q for _, q in fills), _ZERO)
        if side is _BUY and self.ask_qty is not None:
            left = self.ask_qty - taken
            self.ask_qty = left if left > _ZERO else _ZERO  # max(0, left)
        elif side is _SELL and self.bid_qty is not None:
            left = self.bid_qty - taken
            self.bid_qty = left if left > _ZERO else _ZERO

    # --- resting orders --------------------------------------------------------------------------
    def rest(self, order: SimOrder) -> None:
        ticks = order.price_ticks
        if order.side is _BUY:
            self.buys.add((-ticks, order.sequence, order.order_id))
            if self.buy_top is None or ticks > self._buy_ticks:
                self._buy_ticks, self.buy_top = ticks, ticks * self.tick_size
        else:
            self.sells.add((ticks, order.sequence, order.order_id))
            if self.sell_top is None or ticks < self._sell_ticks:
                self._sell_ticks, self.sell_top = ticks, ticks * self.tick_size

    def unrest(self, order: SimOrder) -> None:
        ticks = order.price_ticks
        if order.side is _BUY:
            buys = self.buys
            buys.discard((-ticks, order.sequence, order.order_id))
            if ticks == self._buy_ticks:  # the best level may have emptied
                self._buy_ticks = -buys[0][0] if buys else 0
                self.buy_top = self._buy_ticks * self.tick_size if buys else None
        else:
            sells = self.sells
            sells.discard((ticks, order.sequence, order.order_id))
            if ticks == self._sell_ticks:
                self._sell_ticks = sells[0][0] if sells else 0
                self.sell_top = self._sell_ticks * self.tick_size if sells else None

    def clear_resting(self) -> None:
        self.buys.clear()
        self.sells.clear()
        self.buy_top = self.sell_top = None

    def may_cross(self, price: Decimal) -> bool:
        """False when a trade at ``price`` certainly goes through no resting order.

        Exact against :meth:`crossed_by_trade`: ``int(price / tick)`` is monotonic in ``price`` and equal
        to ``n`` at ``price == n * tick``, so ``price >= buy_top`` crosses no buy and ``price <= sell_top``
        no sell. A price that is not finite always gets the exact path (which raises, as it always did).
        """
        low = _NO_BUY if self.buy_top is None else self.buy_top
        high = _NO_SELL if self.sell_top is None else self.sell_top
        try:
            return not low <= price <= high
        except ArithmeticError:  # NaN
            return True

    def crossed_by_trade(self, price_ticks: int) -> Iterator[int]:
        """Resting order ids a trade at ``price_ticks`` goes through, best first: buys above it, then sells below.

        Lazy, so a trade that fills one order out of thousands crossed costs one step, not thousands. The
        caller may unrest the order it was just given before asking for the next one.
        """
        for side, sign in ((self.buys, -1), (self.sells, 1)):  # buys are keyed by -ticks
            i = 0
            while i < len(side):
                key = side[i]
                if key[0] >= sign * price_ticks:  # goes through buys above the trade price, sells below it
                    break
                yield key[2]
                if i < len(side) and side[i] == key:  # still resting: step past it
                    i += 1

    def would_take(self, side: Side, price: Decimal) -> bool:
        """True when a limit order at ``price`` would trade immediately (LIMIT_MAKER guard)."""
        book = self.book
        if book is not None and book.synced:
            best = book.best_ask() if side is _BUY else book.best_bid()
            if best is None:
                return False
            best_price = book.price(best[0])
        else:
            quote = self.reference_price(side)  # the quote, else the last trade price
            if quote is None:
                return False
            best_price = quote
        return price >= best_price if side is _BUY else price <= best_price
