"""Recorded Binance spot captures (hftbacktest format) read as typed events and replayed into an ``L2Book``.

Gzip text, one ``<local receive time> <raw JSON>`` per line: a combined-stream message ``{"stream", "data"}``
(``depth@100ms``, ``bookTicker``, ``trade``) or a bare REST depth snapshot ``{"lastUpdateId", "bids", "asks"}``.
"""

from __future__ import annotations

import gzip
import json
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeGuard

from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol
from thunes.domain.market import QuoteTick, TradeTick
from thunes.simvenue.book import DiffResult, L2Book

__all__ = [
    "WIRE_QTY_UNIT", "BookTickerEvent", "CaptureBookReplay", "CaptureError", "CaptureEvent", "DepthDiffEvent",
    "RawLevel", "ReplayStats", "SnapshotEvent", "TickerMismatch", "TradeEvent", "read_capture"
]  # fmt: skip

RawLevel = tuple[str, str]
"""A ``(price, quantity)`` level exactly as Binance sent it; ``L2Book`` parses it onto its integer grid."""

WIRE_QTY_UNIT = Decimal("0.00000001")
"""Binance prints quantities with 8 decimals; recorded books hold levels off the current ``stepSize``."""

_NS_PER_MS = 1_000_000
_MS_BELOW = 10**14  # 1e14 ms is year 5138; 1e14 ns is 1970-01-02: a ms clock is below, µs and ns above
_US_BELOW = 10**17  # 1e17 µs is year 5138; 1e17 ns is 1973
_MISMATCHES_KEPT = 100


class CaptureError(ValueError):
    """A capture line that cannot be read; names the file and 1-based line so it can be inspected."""

    def __init__(self, path: Path, line_number: int, reason: str) -> None:
        super().__init__(f"{path}:{line_number}: {reason}")
        self.path = path
        self.line_number = line_number


@dataclass(frozen=True, slots=True)
class SnapshotEvent:
    """A REST depth snapshot. It names no symbol: it is given the symbol of the file's stream messages."""

    recv_ns: int
    symbol: Symbol | None
    last_update_id: int
    bids: tuple[RawLevel, ...]
    asks: tuple[RawLevel, ...]


@dataclass(frozen=True, slots=True)
class DepthDiffEvent:
    """A ``depthUpdate`` diff covering book update ids ``first_update_id..final_update_id`` (``U``..``u``)."""

    recv_ns: int
    symbol: Symbol
    event_time_ms: int
    first_update_id: int
    final_update_id: int
    bids: tuple[RawLevel, ...]
    asks: tuple[RawLevel, ...]


@dataclass(frozen=True, slots=True)
class BookTickerEvent:
    """Best bid and ask after book update ``update_id`` (``bookTicker`` carries no exchange time)."""

    recv_ns: int
    symbol: Symbol
    update_id: int
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal

    def to_quote(self) -> QuoteTick:
        """As a domain quote stamped with the local receive time."""
        return QuoteTick(
            self.symbol, self.bid_price, self.bid_qty, self.ask_price, self.ask_qty, self.recv_ns, self.update_id
        )


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """One public trade; ``buyer_is_maker`` (Binance ``m``) true means the seller was the taker."""

    recv_ns: int
    symbol: Symbol
    event_time_ms: int
    trade_time_ms: int
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_is_maker: bool

    def to_trade_tick(self) -> TradeTick:
        """As a domain trade stamped with the exchange trade time ``T``."""
        taker = Side.SELL if self.buyer_is_maker else Side.BUY
        return TradeTick(self.symbol, self.trade_id, self.price, self.qty, taker, self.trade_time_ms * _NS_PER_MS)


CaptureEvent = SnapshotEvent | DepthDiffEvent | BookTickerEvent | TradeEvent


def read_capture(paths: Sequence[Path], symbol: str | None = None) -> Iterator[CaptureEvent]:
    """Stream the events of ``paths`` in file order, keeping only ``symbol`` if given.

    Receive times are converted to ns whatever the file's unit (ms, µs as in the 2023 capture, or ns),
    judged by magnitude. Streams other than depth diffs, ``bookTicker`` and ``trade`` are skipped, as are
    subscription acknowledgements. Raises ``CaptureError`` on a line that cannot be parsed.
    """
    wanted = None if symbol is None else Symbol(symbol.upper())
    for path in paths:
        yield from _read_file(Path(path), wanted)


def _read_file(path: Path, wanted: Symbol | None) -> Iterator[CaptureEvent]:
    parser = _LineParser()
    pending: SnapshotEvent | None = None  # a snapshot seen before any stream message names the symbol
    line_number = 0
    with _open(path) as lines:
        try:
            for line_number, line in enumerate(lines, 1):
                event = _parse_line(parser, line, path, line_number)
                if event is None:
                    continue
                if pending is not None:
                    named = replace(pending, symbol=parser.last_symbol)
                    pending = None
                    if wanted is None or named.symbol == wanted:
                        yield named
                if isinstance(event, SnapshotEvent) and event.symbol is None:
                    pending = event
                elif wanted is None or event.symbol == wanted:
                    yield event
        except (OSError, EOFError) as e:
            raise CaptureError(path, line_number + 1, f"unreadable: {e}") from e
    if pending is not None and wanted is None:
        yield pending


def _open(path: Path) -> AbstractContextManager[Iterable[bytes]]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _parse_line(parser: _LineParser, line: bytes, path: Path, line_number: int) -> CaptureEvent | None:
    if not line.strip():
        return None
    try:
        return parser.parse(line)
    except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as e:
        reason = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise CaptureError(path, line_number, reason) from e


class _LineParser:
    """Turns one line into an event; remembers symbols (interned) to name bare snapshots."""

    __slots__ = ("_symbols", "last_symbol")

    def __init__(self) -> None:
        self._symbols: dict[str, Symbol] = {}
        self.last_symbol: Symbol | None = None

    def parse(self, line: bytes) -> CaptureEvent | None:
        stamp, _, payload = line.partition(b" ")
        recv_ns = _to_ns(int(stamp))
        message = json.loads(payload)
        if not isinstance(message, dict):
            raise TypeError("not a JSON object")
        data = message.get("data")
        if data is None:
            return self._bare(recv_ns, message)
        kind = data.get("e")
        if kind == "depthUpdate":
            return self._diff(recv_ns, data)
        if kind == "trade":
            return self._trade(recv_ns, data)
        if kind is None and message["stream"].endswith("@bookTicker"):
            return self._ticker(recv_ns, data)
        return None  # aggTrade, kline, partial depth...: not part of an L2 replay

    def _bare(self, recv_ns: int, message: dict[str, Any]) -> SnapshotEvent | None:
        if "lastUpdateId" in message:
            bids, asks = _levels(message["bids"]), _levels(message["asks"])
            return SnapshotEvent(recv_ns, self.last_symbol, _int(message["lastUpdateId"]), bids, asks)
        if "result" in message and "id" in message:
            return None  # subscription acknowledgement
        raise ValueError("neither a stream message nor a depth snapshot")

    def _diff(self, recv_ns: int, d: dict[str, Any]) -> DepthDiffEvent:
        first, final = _int(d["U"]), _int(d["u"])
        if first > final:
            raise ValueError(f"depth diff with U={first} > u={final}")
        return DepthDiffEvent(
            recv_ns, self._symbol(d["s"]), _int(d["E"]), first, final, _levels(d["b"]), _levels(d["a"])
        )

    def _ticker(self, recv_ns: int, d: dict[str, Any]) -> BookTickerEvent:
        symbol = self._symbol(d["s"])
        return BookTickerEvent(recv_ns, symbol, _int(d["u"]), _dec(d["b"]), _dec(d["B"]), _dec(d["a"]), _dec(d["A"]))

    def _trade(self, recv_ns: int, d: dict[str, Any]) -> TradeEvent:
        maker = d["m"]
        if type(maker) is not bool:
            raise TypeError(f"trade field m must be a boolean, got {maker!r}")
        symbol = self._symbol(d["s"])
        return TradeEvent(recv_ns, symbol, _int(d["E"]), _int(d["T"]), _int(d["t"]), _dec(d["p"]), _dec(d["q"]), maker)

    def _symbol(self, raw: str) -> Symbol:
        symbol = self._symbols.get(raw)
        if symbol is None:
            symbol = self._symbols[raw] = Symbol(raw)  # validates, IdentifierError is a ValueError
        self.last_symbol = symbol
        return symbol


def _to_ns(stamp: int) -> int:
    return stamp * (_NS_PER_MS if stamp < _MS_BELOW else 1_000 if stamp < _US_BELOW else 1)


def _int(raw: object) -> int:
    if type(raw) is not int:
        raise TypeError(f"expected an integer, got {raw!r}")
    return raw


def _dec(raw: object) -> Decimal:
    """A Binance decimal string; floats are refused because they would not be exact."""
    if not _is_plain_decimal(raw):
        raise ValueError(f"expected a plain decimal string, got {raw!r}")
    return Decimal(raw)


def _levels(raw: list[list[object]]) -> tuple[RawLevel, ...]:
    levels: list[RawLevel] = []
    for price, qty in raw:
        if not (_is_plain_decimal(price) and _is_plain_decimal(qty)):
            raise ValueError(f"level is not a pair of plain decimal strings: {[price, qty]!r}")
        levels.append((price, qty))
    return tuple(levels)


def _is_plain_decimal(raw: object) -> TypeGuard[str]:
    """``"123.45"``-shaped text: what Binance sends, and what ``Grid.from_str`` parses without ``Decimal``."""
    return type(raw) is str and raw.replace(".", "", 1).isdecimal()


@dataclass(frozen=True, slots=True)
class TickerMismatch:
    """A ``bookTicker`` that disagrees with the replayed book at the same update id, as ``(ticks, lots)``."""

    recv_ns: int
    update_id: int
    ticker_bid: tuple[int, int]
    book_bid: tuple[int, int]
    ticker_ask: tuple[int, int]
    book_ask: tuple[int, int]


@dataclass(slots=True)
class ReplayStats:
    """Counters of one replay; a ticker is comparable when its ``u`` is an update id the book reached."""

    events: int = 0
    snapshots: int = 0
    trades: int = 0
    diffs: int = 0
    diffs_applied: int = 0
    diffs_stale: int = 0
    gaps: int = 0
    diffs_dropped: int = 0
    diffs_pending: int = 0
    """Diffs still waiting for a snapshot: non-zero at the end means the book never caught up."""
    tickers: int = 0
    tickers_comparable: int = 0
    tickers_matched: int = 0
    tickers_mismatched: int = 0


class CaptureBookReplay:
    """Feeds one symbol's events into an ``L2Book`` by Binance's procedure; checks it against ``bookTicker``.

    Diffs wait in a buffer for a snapshot (again after a gap), then apply in order. A ticker is compared
    when the book reaches its update id ``u``: tickers usually arrive before the diff that contains ``u``.
    """

    def __init__(
        self, tick_size: Decimal, step_size: Decimal, *, qty_unit: Decimal = WIRE_QTY_UNIT, max_buffered: int = 100_000
    ) -> None:
        self._book = L2Book(tick_size, step_size, qty_unit=qty_unit)
        self._diffs: deque[DepthDiffEvent] = deque(maxlen=max_buffered)
        self._tickers: deque[BookTickerEvent] = deque(maxlen=max_buffered)
        self._stats = ReplayStats()
        self._mismatches: list[TickerMismatch] = []

    @property
    def book(self) -> L2Book:
        return self._book

    @property
    def stats(self) -> ReplayStats:
        """A copy of the counters so far."""
        return replace(self._stats, diffs_pending=len(self._diffs))

    @property
    def mismatches(self) -> list[TickerMismatch]:
        """The first mismatches (up to 100), for diagnosis."""
        return list(self._mismatches)

    def run(self, events: Iterable[CaptureEvent]) -> ReplayStats:
        for event in events:
            self.feed(event)
        return self.stats

    def feed(self, event: CaptureEvent) -> None:
        """Process one event (of this book's symbol: filter with ``read_capture(symbol=...)``)."""
        self._stats.events += 1
        if isinstance(event, BookTickerEvent):
            self._on_ticker(event)
        elif isinstance(event, DepthDiffEvent):
            self._stats.diffs += 1
            if self._book.synced:
                self._apply(event)
            else:
                self._buffer(event)
        elif isinstance(event, TradeEvent):
            self._stats.trades += 1
        else:
            self._on_snapshot(event)

    def _on_snapshot(self, event: SnapshotEvent) -> None:
        self._stats.snapshots += 1
        self._book.apply_snapshot(event.last_update_id, event.bids, event.asks)
        self._drain_tickers()
        waiting, self._diffs = self._diffs, deque(maxlen=self._diffs.maxlen)
        for diff in waiting:
            if self._book.synced:
                self._apply(diff)
            else:
                self._buffer(diff)  # a gap inside the buffer: wait for the next snapshot

    def _apply(self, diff: DepthDiffEvent) -> None:
        result = self._book.apply_diff(diff.first_update_id, diff.final_update_id, diff.bids, diff.asks)
        if result is DiffResult.APPLIED:
            self._stats.diffs_applied += 1
            self._drain_tickers()
        elif result is DiffResult.STALE:
            self._stats.diffs_stale += 1
        else:
            self._stats.gaps += 1
            self._buffer(diff)

    def _buffer(self, diff: DepthDiffEvent) -> None:
        if len(self._diffs) == self._diffs.maxlen:
            self._stats.diffs_dropped += 1
        self._diffs.append(diff)

    def _on_ticker(self, ticker: BookTickerEvent) -> None:
        self._stats.tickers += 1
        last = self._book.last_update_id
        if self._book.synced and ticker.update_id == last:
            self._compare(ticker)
        elif last is None or ticker.update_id > last or not self._book.synced:
            self._tickers.append(ticker)
        # else: the book has moved past this ticker's update id; the state it shows is gone

    def _drain_tickers(self) -> None:
        last = self._book.last_update_id
        tickers = self._tickers
        while tickers and last is not None and tickers[0].update_id <= last:
            ticker = tickers.popleft()
            if ticker.update_id == last:
                self._compare(ticker)

    def _compare(self, ticker: BookTickerEvent) -> None:
        book = self._book
        ticker_bid = (book.to_ticks(ticker.bid_price), book.to_lots(ticker.bid_qty))
        ticker_ask = (book.to_ticks(ticker.ask_price), book.to_lots(ticker.ask_qty))
        book_bid = book.best_bid() or (0, 0)  # Binance shows an empty side as price 0, quantity 0
        book_ask = book.best_ask() or (0, 0)
        self._stats.tickers_comparable += 1
        if ticker_bid == book_bid and ticker_ask == book_ask:
            self._stats.tickers_matched += 1
            return
        self._stats.tickers_mismatched += 1
        if len(self._mismatches) < _MISMATCHES_KEPT:
            mismatch = TickerMismatch(ticker.recv_ns, ticker.update_id, ticker_bid, book_bid, ticker_ask, book_ask)
            self._mismatches.append(mismatch)
