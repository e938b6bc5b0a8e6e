"""Recorded Binance WebSocket captures as replay events, and the recorded book those events drive.

``capture_events`` turns ``read_capture`` output into the replay vocabulary, every event stamped with its
local receive time: ``trade`` becomes ``ReplayTrade``, ``bookTicker`` ``ReplayQuote`` (update id ``u``), the
REST depth snapshot ``ReplayDepthSnapshot`` and each ``depthUpdate`` ``ReplayDepthDiff`` with its original
``U``/``u``. ``RecordedDepth`` keeps one symbol's ``L2Book`` in sync with those depth events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

from thunes.domain.instrument import Instrument
from thunes.simvenue.book import DiffResult, L2Book
from thunes.simvenue.capture import WIRE_QTY_UNIT, BookTickerEvent, DepthDiffEvent, TradeEvent, read_capture
from thunes.simvenue.replay import ReplayDepthDiff, ReplayDepthSnapshot, ReplayEvent, ReplayQuote, ReplayTrade

__all__ = ["RecordedDepth", "capture_events"]


def capture_events(paths: Sequence[Path], symbol: str, instrument: Instrument) -> Iterator[ReplayEvent]:
    """``symbol``'s events from the capture files ``paths`` (in the order given), in file order.

    ``ts_ns`` is the local receive time, so trades, quotes and depth interleave as the recorder saw them.
    ``instrument`` is the venue's instrument for ``symbol`` (``ValueError`` if it names another symbol);
    the events carry its symbol. Raises ``CaptureError`` on an unreadable line.
    """
    name = str(instrument.symbol)
    if name != symbol.upper():
        raise ValueError(f"instrument {name} does not match the captured symbol {symbol}")
    for e in read_capture(paths, name):
        if isinstance(e, BookTickerEvent):
            yield ReplayQuote(name, e.recv_ns, e.update_id, e.bid_price, e.bid_qty, e.ask_price, e.ask_qty)
        elif isinstance(e, TradeEvent):
            yield ReplayTrade(name, e.recv_ns, e.trade_id, e.price, e.qty, e.buyer_is_maker)
        elif isinstance(e, DepthDiffEvent):
            yield ReplayDepthDiff(name, e.recv_ns, e.first_update_id, e.final_update_id, e.bids, e.asks)
        else:
            yield ReplayDepthSnapshot(name, e.recv_ns, e.last_update_id, e.bids, e.asks)


class RecordedDepth:
    """One symbol's book rebuilt from recorded snapshots and diffs by Binance's procedure.

    ``web-socket-streams.md``, "How to manage a local order book correctly": diffs that arrive while the
    book has no valid snapshot (before the first one, or after a gap) wait in a bounded buffer; when a
    snapshot comes, those newer than it are applied in order. Quantities use the 8-decimal wire unit
    (``WIRE_QTY_UNIT``) because recorded levels may sit off the current ``stepSize`` (see ``L2Book``).
    ``gaps`` counts sequence breaks in the recording; each leaves the book unsynced until the next snapshot.
    """

    __slots__ = ("_pending", "book", "gaps")

    def __init__(self, instrument: Instrument, *, max_buffered: int = 10_000) -> None:
        self.book = L2Book.for_instrument(instrument, qty_unit=WIRE_QTY_UNIT)
        self._pending: deque[ReplayDepthDiff] = deque(maxlen=max_buffered)
        self.gaps = 0

    @property
    def pending(self) -> int:
        """Diffs waiting for a snapshot."""
        return len(self._pending)

    def on_snapshot(self, snapshot: ReplayDepthSnapshot) -> None:
        """Replace the book, then apply the buffered diffs that follow the snapshot."""
        self.book.apply_snapshot(snapshot.last_update_id, snapshot.bids, snapshot.asks)
        waiting, self._pending = self._pending, deque(maxlen=self._pending.maxlen)
        for diff in waiting:
            self.on_diff(diff)

    def on_diff(self, diff: ReplayDepthDiff) -> DiffResult:
        """Apply ``diff`` (or buffer it while the book is unsynced); what ``L2Book.apply_diff`` did with it."""
        if not self.book.synced:
            self._pending.append(diff)
            return DiffResult.UNSYNCED
        result = self.book.apply_diff(diff.first_update_id, diff.final_update_id, diff.bids, diff.asks)
        if result is DiffResult.GAP:
            self.gaps += 1
            self._pending.append(diff)
        return result
