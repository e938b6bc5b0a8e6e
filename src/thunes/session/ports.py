"""What a session needs of its venue and its store, as ports: the session runtime (the trading loop,
its jobs, recovery, the operator surface) is typed on these, never on a concrete client or database,
so the same session runs on the embedded venue, a venue server, Binance's testnet or live, over any
store that keeps the journal and the ledger. :mod:`thunes.session.venue` is the one module of the
session that names the adapters behind them (an import-linter contract holds this).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from thunes.adapters.metrics import StreamCounters
from thunes.domain.identifiers import Symbol
from thunes.domain.market import Bar, QuoteTick, Timeframe, TradeTick
from thunes.domain.orders import Fill
from thunes.engine.trader import FillLedger
from thunes.execution.ports import JournalEntry, OrderJournal, VenuePort

__all__ = [
    "KlineStream",
    "KlineStreams",
    "MarketFeed",
    "QuoteStream",
    "SessionStore",
    "SessionVenue",
    "StreamHealth",
    "TradeStream",
]


class SessionVenue(VenuePort, Protocol):
    """The venue's REST side as a session uses it: the execution port, plus the market's candles and
    clock (warm-up, recovery's last close, the market clock between candles) and the settle window."""

    @property
    def recv_window_ms(self) -> int:
        """How long after its timestamp the venue still takes a request (an answer lost in doubt is
        settled once this has passed)."""
        ...

    async def server_time_ms(self) -> int: ...

    async def klines(
        self, symbol: Symbol, timeframe: Timeframe, start_ms: int, end_ms: int | None = None
    ) -> list[Bar]: ...

    async def forming_open_ms(self, symbol: Symbol, timeframe: Timeframe) -> int: ...

    async def close(self) -> None: ...


class StreamHealth(StreamCounters, Protocol):
    """A stream's counters, with its planned renewals (a venue closes a connection after 24 h: a
    renewal is not a recovery)."""

    @property
    def rotations(self) -> int: ...


class KlineStream(Protocol):
    """Closed candles of one symbol, in order, each once, with the stream's health counters."""

    @property
    def name(self) -> str: ...

    @property
    def stats(self) -> StreamHealth: ...

    def __aiter__(self) -> AsyncIterator[Bar]: ...

    async def __anext__(self) -> Bar: ...

    async def aclose(self) -> None: ...


class KlineStreams(Protocol):
    """The venue's market streams (WebSocket), one subscription per symbol."""

    def watch_klines(self, symbol: Symbol, timeframe: Timeframe, *, since_ms: int | None = None) -> KlineStream: ...


class QuoteStream(Protocol):
    """Best bid and ask updates of one symbol (``bookTicker``), stamped with their receipt time."""

    @property
    def stats(self) -> StreamHealth: ...

    def __aiter__(self) -> AsyncIterator[QuoteTick]: ...

    async def __anext__(self) -> QuoteTick: ...

    async def aclose(self) -> None: ...


class TradeStream(Protocol):
    """Public trades of one symbol as they print, stamped with the venue's trade time (market time)."""

    @property
    def stats(self) -> StreamHealth: ...

    def __aiter__(self) -> AsyncIterator[TradeTick]: ...

    async def __anext__(self) -> TradeTick: ...

    async def aclose(self) -> None: ...


class MarketFeed(Protocol):
    """The venue's public market beyond candles, for a shadow session: the bookTicker and trade streams,
    and the REST book ticker (the reference price's fallback when a stream is silent)."""

    def watch_book_ticker(self, symbol: Symbol) -> QuoteStream: ...

    def watch_trades(self, symbol: Symbol) -> TradeStream: ...

    async def book_ticker(self, symbol: Symbol) -> QuoteTick: ...


class SessionStore(OrderJournal, FillLedger, Protocol):
    """The session's durable journal and ledger, and what recovery, reconciliation and the operator
    read back from them."""

    def orders(self, *, open_only: bool = False) -> list[dict[str, Any]]: ...

    def fills(self, symbol: str | None = None) -> list[Fill]: ...

    def booked_fills(self) -> list[Fill]: ...

    def newest_intent(self, symbol: Symbol) -> JournalEntry | None: ...

    def unbooked(self) -> list[JournalEntry]: ...

    def never_placed_unbooked(self, since_ns: int) -> list[JournalEntry]: ...

    def unresolved(self) -> Sequence[JournalEntry]: ...

    def close(self) -> None: ...
