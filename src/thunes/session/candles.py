"""The closed candles of every symbol of the portfolio, handed to the trader one close time at a time,
in portfolio order.

Each symbol has its own kline subscription (its own connection and backfill), so candles closing at
the same time arrive in any order. The portfolio decides in one order in every mode (a backtest hands
a close time's bars in the pair order, and ``thunes parity`` compares the two order by order), so the
candles of one close time are gathered first. A close time is complete once every symbol has delivered
its candle of that time or already one after it (a symbol with a hole in its data never holds the
others). A symbol whose stream stalls holds the others ``patience_s`` wall seconds at most; its late
candle then goes alone, still in its own symbol's order. No patience in lockstep: there the venue
itself waits for the trader, and a close time is always completed by its candles.

Lockstep (:class:`BarGate`): after each closed candle the embedded venue waits until the trader has
taken it. A candle that does not complete its close time is taken at once, so the venue publishes the
next symbol's candle of that time; the one that completes it is taken once the trader has acted on
the whole close time, so the venue's next event (the next bar's first price) comes after the orders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass

from thunes.domain.identifiers import Symbol
from thunes.domain.market import Bar
from thunes.simvenue.replay import BarClosed

__all__ = ["BarGate", "CloseTimes"]


class BarGate:
    """Lockstep between the embedded venue's replay and the trader: after each closed candle the
    replay waits here until the trader has taken that symbol's candle."""

    def __init__(self) -> None:
        self.taken: dict[str, int] = {}  # symbol -> open time of its last candle taken
        self._changed = asyncio.Event()

    async def wait(self, closed: BarClosed) -> None:
        while self.taken.get(closed.symbol, -1) < closed.bar.open_time_ns:
            self._changed.clear()
            await self._changed.wait()

    def done(self, bar: Bar) -> None:
        symbol = str(bar.symbol)
        self.taken[symbol] = max(self.taken.get(symbol, -1), bar.open_time_ns)
        self._changed.set()


@dataclass(slots=True)
class _Pending:
    bars: dict[Symbol, Bar]
    since: float  # wall monotonic time its first candle arrived


_END = 2**63  # a stream that ended has moved past every close time


class CloseTimes:
    """Batches of candles of one close time, in portfolio order (``streams``' order), each candle once."""

    def __init__(self, streams: Mapping[Symbol, AsyncIterator[Bar]], gate: BarGate | None,
                 patience_s: float | None) -> None:  # fmt: skip
        self.streams, self.gate, self.patience_s = dict(streams), gate, patience_s
        self.order = {symbol: i for i, symbol in enumerate(self.streams)}
        self._latest: dict[Symbol, int] = dict.fromkeys(self.streams, -1)  # close time of each one's newest
        self._pending: dict[int, _Pending] = {}

    async def batches(self) -> AsyncGenerator[list[Bar], None]:
        """Each close time's candles, oldest first; after each batch the caller calls :meth:`taken`."""
        queue: asyncio.Queue[tuple[Symbol, Bar | None] | BaseException] = asyncio.Queue()
        pumps = [asyncio.ensure_future(self._pump(s, stream, queue)) for s, stream in self.streams.items()]
        try:
            while True:
                try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the session's cancellation
                    async with asyncio.timeout(self._timeout()):
                        item = await queue.get()
                except TimeoutError:  # a stalled stream: the oldest close time goes as it is
                    yield self._hand(min(self._pending))
                    continue
                if isinstance(item, BaseException):
                    raise item
                symbol, bar = item
                if not self._add(symbol, bar):
                    return  # every stream ended
                while (ready := self._ready()) is not None:
                    yield self._hand(ready)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    @staticmethod
    async def _pump(symbol: Symbol, stream: AsyncIterator[Bar],
                    queue: asyncio.Queue[tuple[Symbol, Bar | None] | BaseException]) -> None:  # fmt: skip
        try:
            async for bar in stream:
                queue.put_nowait((symbol, bar))
            queue.put_nowait((symbol, None))
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # the session fails as a lone stream's error would make it
            queue.put_nowait(e)

    def _add(self, symbol: Symbol, bar: Bar | None) -> bool:
        """Take one arrival; False once every stream has ended."""
        if bar is None:
            self._latest[symbol] = _END
            return any(t < _END for t in self._latest.values()) or bool(self._pending)
        close = bar.close_time_ns
        self._latest[symbol] = max(self._latest[symbol], close)
        pending = self._pending.setdefault(close, _Pending({}, time.monotonic()))
        pending.bars[symbol] = bar
        if self.gate is not None and any(t < close for t in self._latest.values()):
            self.gate.done(bar)  # its close time waits for other symbols: the venue may publish them
        return True

    def _ready(self) -> int | None:
        """The oldest close time every symbol has reached, if any."""
        if not self._pending:
            return None
        oldest = min(self._pending)
        return oldest if all(t >= oldest for t in self._latest.values()) else None

    def _timeout(self) -> float | None:
        if self.patience_s is None or not self._pending:
            return None
        waited = time.monotonic() - min(p.since for p in self._pending.values())
        return max(0.0, self.patience_s - waited)

    def _hand(self, close_ns: int) -> list[Bar]:
        return sorted(self._pending.pop(close_ns).bars.values(), key=lambda b: self.order[b.symbol])

    def taken(self, bars: list[Bar]) -> None:
        """The trader acted on ``bars``: the venue (lockstep) may go on."""
        if self.gate is not None:
            for bar in bars:
                self.gate.done(bar)
