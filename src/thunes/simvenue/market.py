"""Per-symbol market state inside the simulated venue: prices, liquidity and resting orders.

Liquidity for a taker comes, in order of preference, from a synced L2 book (walked level by
level), else the best bid/ask (with bar slippage), else the last trade price (with slippage).
Resting limit orders fill only when a market trade goes *through* their price (SPEC §8).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import islice, takewhile
from typing import Literal, Protocol

from sortedcontainers import SortedList

from thunes.domain.enums import Side
from thunes.domain.instrument import Instrument
from thunes.simvenue.models import SimOrder
from thunes.simvenue.slippage import SlippageModel

__all__ = ["DepthBook", "Level", "MarketState"]

Level = tuple[Decimal, Decimal]  # (price, quantity)
NS_PER_MS = 1_000_000
_CATCH_UP_EVERY = 4096


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


@dataclass(slots=True)
class MarketState:
    """Everything the venue knows about one symbol's market."""

    instrument: Instrument
    fee_rate: Decimal
    slippage: SlippageModel
    book: DepthBook | None = None
    bid: Decimal | None = None
    bid_qty: Decimal | None = None
    ask: Decimal | None = None
    ask_qty: Decimal | None = None
    last_price: Decimal | None = None
    bar_volume: Decimal | None = None
    bar_range: float | None = None
    window: deque[tuple[int, Decimal, Decimal]] = field(default_factory=deque)  # (time ms, price, qty)
    unsummed: int = 0
    window_qty: Decimal = Decimal(0)
    window_notional: Decimal = Decimal(0)
    buys: SortedList[tuple[int, int, int]] = field(default_factory=SortedList)  # (-price ticks, sequence, id)
    sells: SortedList[tuple[int, int, int]] = field(default_factory=SortedList)  # (price ticks, sequence, id)
    next_order_id: int = 1
    next_trade_id: int = 1

    # --- prices -------------------------------------------------------------------------------
    def ticks(self, price: Decimal) -> int:
        return int(price / self.instrument.tick_size)

    def record_trade(self, price: Decimal, qty: Decimal, time_ms: int) -> None:
        """Remember a market trade for ``avgPrice`` and as the last price (hot path: an append)."""
        self.last_price = price
        self.window.append((time_ms, price, qty))
        self.unsummed += 1
        if self.unsummed > _CATCH_UP_EVERY:  # keep memory flat on long replays without orders
            self._catch_up()
            self._expire(time_ms)

    def _catch_up(self) -> None:
        """Fold the trades appended since the last call into the running sums."""
        for _, price, qty in islice(reversed(self.window), self.unsummed):
            self.window_qty += qty
            self.window_notional += price * qty
        self.unsummed = 0

    def _expire(self, now_ms: int) -> None:
        mins = self.instrument.notional.avg_price_mins if self.instrument.notional is not None else 5
        horizon, window = now_ms - mins * 60_000, self.window
        while window and window[0][0] < horizon:
            _, price, qty = window.popleft()
            self.window_qty -= qty
            self.window_notional -= price * qty

    def avg_price(self, now_ms: int) -> Decimal | None:
        """Volume-weighted price over ``avgPriceMins`` (filters.md); the last price when no trade is recent.

        Running sums, exact in ``Decimal`` and updated lazily: O(1) amortised per trade and per order.
        """
        self._catch_up()
        self._expire(now_ms)
        if not self.window or self.window_qty == 0:
            return self.last_price
        tick = self.instrument.tick_size
        return (self.window_notional / self.window_qty / tick).to_integral_value(ROUND_FLOOR) * tick

    def reference_price(self, side: Side) -> Decimal | None:
        """Best price a taker on ``side`` would meet, before slippage."""
        quote = self.ask if side is Side.BUY else self.bid
        return quote if quote is not None else self.last_price

    # --- taking liquidity ------------------------------------------------------------------------
    def _slipped(self, price: Decimal, side: Side, qty: Decimal) -> Decimal:
        bps = self.slippage.bps(qty, self.bar_volume, self.bar_range)
        factor = Decimal(1) + (Decimal(str(bps)) / 10_000 if side is Side.BUY else -Decimal(str(bps)) / 10_000)
        tick = self.instrument.tick_size
        rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR  # always against the taker
        return (price * factor / tick).to_integral_value(rounding) * tick

    def quote_levels(self, side: Side, qty: Decimal, limit: Decimal | None) -> list[Level]:
        """Liquidity for a taker of ``qty`` on ``side``, best first, never beyond ``limit``."""
        book = self.book
        if book is not None and book.synced:
            limit_ticks = None if limit is None else book.to_ticks(limit)
            levels = book.walk("ask" if side is Side.BUY else "bid", book.to_lots(qty), limit_ticks)
            return [(book.price(t), book.qty(n)) for t, n in levels]
        reference = self.reference_price(side)
        if reference is None:
            return []
        price = self._slipped(reference, side, qty)
        if limit is not None and ((side is Side.BUY and price > limit) or (side is Side.SELL and price < limit)):
            # Slippage pushed past the limit: the limit itself still trades if the quote is inside it.
            if (side is Side.BUY and reference > limit) or (side is Side.SELL and reference < limit):
                return []
            price = limit
        available = self.ask_qty if side is Side.BUY else self.bid_qty
        return [(price, qty if available is None else min(qty, available))]

    def consume(self, side: Side, fills: list[Level]) -> None:
        """Remove taken liquidity from the L2 book (or the top-of-book quantity)."""
        book = self.book
        if book is not None and book.synced:
            book.consume("ask" if side is Side.BUY else "bid", [(book.to_ticks(p), book.to_lots(q)) for p, q in fills])
            return
        taken = sum((q for _, q in fills), Decimal(0))
        if side is Side.BUY and self.ask_qty is not None:
            self.ask_qty = max(Decimal(0), self.ask_qty - taken)
        elif side is Side.SELL and self.bid_qty is not None:
            self.bid_qty = max(Decimal(0), self.bid_qty - taken)

    # --- resting orders --------------------------------------------------------------------------
    def rest(self, order: SimOrder) -> None:
        if order.side is Side.BUY:
            self.buys.add((-order.price_ticks, order.sequence, order.order_id))
        else:
            self.sells.add((order.price_ticks, order.sequence, order.order_id))

    def unrest(self, order: SimOrder) -> None:
        key = (
            (-order.price_ticks, order.sequence, order.order_id)
            if order.side is Side.BUY
            else (order.price_ticks, order.sequence, order.order_id)
        )
        (self.buys if order.side is Side.BUY else self.sells).discard(key)

    def crossed_by_trade(self, price_ticks: int) -> tuple[list[int], list[int]]:
        """Resting order ids a trade at ``price_ticks`` goes through: buys above it, sells below it."""
        buys = [key[2] for key in takewhile(lambda k: -k[0] > price_ticks, self.buys)] if self.buys else []
        sells = [key[2] for key in takewhile(lambda k: k[0] < price_ticks, self.sells)] if self.sells else []
        return buys, sells

    def would_take(self, side: Side, price: Decimal) -> bool:
        """True when a limit order at ``price`` would trade immediately (LIMIT_MAKER guard)."""
        book = self.book
        if book is not None and book.synced:
            best = book.best_ask() if side is Side.BUY else book.best_bid()
            if best is None:
                return False
            best_price = book.price(best[0])
        else:
            quote = self.reference_price(side)  # the quote, else the last trade price
            if quote is None:
                return False
            best_price = quote
        return price >= best_price if side is Side.BUY else price <= best_price
