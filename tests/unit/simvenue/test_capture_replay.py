"""Recorded captures as replay events, on the real 2024-08-08/09 BTCUSDT capture, and the recorded book."""

from __future__ import annotations

import gzip
import json
from collections import Counter, deque
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain.instrument import Instrument
from thunes.simvenue.book import DiffResult
from thunes.simvenue.capture import BookTickerEvent, DepthDiffEvent, SnapshotEvent, TradeEvent, read_capture
from thunes.simvenue.capture_replay import RecordedDepth, capture_events
from thunes.simvenue.replay import ReplayDepthDiff, ReplayDepthSnapshot, ReplayEvent, ReplayQuote, ReplayTrade

pytestmark = pytest.mark.slow  # a costly module-scoped setup: its tests stay on one xdist worker

D = Decimal


@pytest.fixture(scope="module")
def btcusdt() -> Instrument:
    return builtin_exchange_info().get("BTCUSDT")


@pytest.fixture(scope="module")
def paths(shared_data: Path) -> list[Path]:
    root = shared_data / "binance" / "ws_capture_hftbacktest"
    return [root / "spot_btcusdt_20240808.gz", root / "spot_btcusdt_20240809.gz"]


@pytest.fixture(scope="module")
def events(paths: list[Path], btcusdt: Instrument) -> list[ReplayEvent]:
    return list(capture_events(paths, "btcusdt", btcusdt))


def test_capture_events_when_both_days_then_every_message_once_by_kind(events: list[ReplayEvent]) -> None:
    counts = Counter(type(e) for e in events)

    # data/README.md: 3451 + 3044 diffs, 28040 + 45134 bookTickers, 9757 + 10147 trades, one REST snapshot
    assert counts == {
        ReplayDepthDiff: 6_495,
        ReplayQuote: 73_174,
        ReplayTrade: 19_904,
        ReplayDepthSnapshot: 1,
    }
    assert {e.symbol for e in events} == {"BTCUSDT"}


def test_capture_events_when_read_then_file_order_and_receive_times(
    events: list[ReplayEvent], paths: list[Path]
) -> None:
    raw = list(read_capture(paths, "BTCUSDT"))

    assert [e.ts_ns for e in events] == [r.recv_ns for r in raw]
    kinds = {BookTickerEvent: ReplayQuote, TradeEvent: ReplayTrade, DepthDiffEvent: ReplayDepthDiff,
             SnapshotEvent: ReplayDepthSnapshot}  # fmt: skip
    assert [type(e) for e in events] == [kinds[type(r)] for r in raw]
    stamps = [e.ts_ns for e in events]
    assert stamps == sorted(stamps)  # the recorder's receive clock never went back
    assert events[0].ts_ns == 1_723_161_253_937_085_768  # first line of 2024-08-08


def test_capture_events_when_first_lines_then_fields_as_recorded(events: list[ReplayEvent]) -> None:
    first_diff, snapshot = events[0], events[7]
    first_quote = next(e for e in events if isinstance(e, ReplayQuote))
    first_trade = next(e for e in events if isinstance(e, ReplayTrade))

    assert isinstance(first_diff, ReplayDepthDiff)
    assert (first_diff.first_update_id, first_diff.final_update_id) == (50_093_239_189, 50_093_239_202)
    assert first_diff.bids[0] == ("61737.63000000", "0.00000000")  # the wire text, untouched
    assert isinstance(snapshot, ReplayDepthSnapshot)
    assert snapshot.last_update_id == 50_093_239_218
    assert snapshot.ts_ns == 1_723_161_254_206_652_067
    assert len(snapshot.bids) == len(snapshot.asks) == 1000
    assert first_quote == ReplayQuote("BTCUSDT", 1_723_161_254_087_891_268, 50_093_239_212, D("61837.63"),
                                      D("3.78826"), D("61837.64"), D("1.54698"))  # fmt: skip
    assert first_trade == ReplayTrade("BTCUSDT", 1_723_161_254_087_896_568, 3_735_683_259, D("61837.63"),
                                      D("0.02"), buyer_is_maker=True)  # fmt: skip


def test_capture_events_when_diffs_then_update_ids_contiguous_across_the_two_files(
    events: list[ReplayEvent],
) -> None:
    diffs = [e for e in events if isinstance(e, ReplayDepthDiff)]

    breaks = [(a.final_update_id, b.first_update_id) for a, b in pairwise(diffs)
              if b.first_update_id != a.final_update_id + 1]  # fmt: skip

    assert breaks == []


def test_capture_events_when_instrument_of_another_symbol_then_value_error(paths: list[Path]) -> None:
    ethusdt = builtin_exchange_info().get("ETHUSDT")

    with pytest.raises(ValueError, match="does not match"):
        next(capture_events(paths, "BTCUSDT", ethusdt))


def test_recorded_depth_when_whole_capture_then_synced_and_equal_to_every_comparable_book_ticker(
    events: list[ReplayEvent], btcusdt: Instrument
) -> None:
    depth = RecordedDepth(btcusdt)
    book = depth.book
    waiting: deque[ReplayQuote] = deque()
    compared = mismatched = 0
    for event in events:
        if isinstance(event, ReplayQuote):
            waiting.append(event)  # a ticker usually arrives before the diff that contains its update id
            continue
        if isinstance(event, ReplayDepthSnapshot):
            depth.on_snapshot(event)
        elif isinstance(event, ReplayDepthDiff):
            depth.on_diff(event)
        else:
            continue
        last = book.last_update_id
        while waiting and last is not None and book.synced and waiting[0].update_id <= last:
            quote = waiting.popleft()
            if quote.update_id == last:
                bid, ask = book.best_bid(), book.best_ask()
                assert bid is not None and ask is not None
                shown = (book.price(bid[0]), book.qty(bid[1]), book.price(ask[0]), book.qty(ask[1]))
                compared += 1
                mismatched += shown != (quote.bid, quote.bid_qty, quote.ask, quote.ask_qty)

    assert book.synced and depth.gaps == 0 and depth.pending == 0
    assert book.last_update_id == 50_093_696_318
    assert compared == 1_072  # as CaptureBookReplay counts them: the other tickers fall inside a diff
    assert mismatched == 0


def test_recorded_depth_when_diffs_before_snapshot_then_buffered_and_newer_ones_applied(
    events: list[ReplayEvent], btcusdt: Instrument
) -> None:
    depth = RecordedDepth(btcusdt)
    early = [e for e in events[:7] if isinstance(e, ReplayDepthDiff)]

    results = [depth.on_diff(d) for d in early]
    pending_before = depth.pending
    snapshot = events[7]
    assert isinstance(snapshot, ReplayDepthSnapshot)
    depth.on_snapshot(snapshot)

    assert results == [DiffResult.UNSYNCED] * 3
    assert pending_before == 3
    assert depth.pending == 0 and depth.book.synced
    assert depth.book.last_update_id == 50_093_239_224  # the third diff (U=...208, u=...224) brackets ...218


def test_recorded_depth_when_gap_then_unsynced_until_next_snapshot(tmp_path: Path, btcusdt: Instrument) -> None:
    path = tmp_path / "gap.gz"
    lines = [
        {"lastUpdateId": 10, "bids": [["100.00", "1.00000000"]], "asks": [["100.01", "2.00000000"]]},
        {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 11, "u": 12,
                                                    "b": [["100.00", "1.5"]], "a": []}},
        {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 2, "s": "BTCUSDT", "U": 15, "u": 16,
                                                    "b": [], "a": [["100.02", "0.12345678"]]}},
        {"lastUpdateId": 15, "bids": [["99.99", "1.00000000"]], "asks": [["100.01", "2.00000000"]]},
    ]  # fmt: skip
    with gzip.open(path, "wt") as fh:
        fh.writelines(f"{1_000 + i} {json.dumps(m)}\n" for i, m in enumerate(lines))
    replayed = list(capture_events([path], "BTCUSDT", btcusdt))
    depth = RecordedDepth(btcusdt)

    depth.on_snapshot(replayed[0])  # type: ignore[arg-type]
    applied = depth.on_diff(replayed[1])  # type: ignore[arg-type]
    gap = depth.on_diff(replayed[2])  # type: ignore[arg-type]
    synced_after_gap = depth.book.synced
    depth.on_snapshot(replayed[3])  # type: ignore[arg-type]

    assert (applied, gap, synced_after_gap, depth.gaps) == (DiffResult.APPLIED, DiffResult.GAP, False, 1)
    assert depth.book.synced and depth.book.last_update_id == 16 and depth.pending == 0
    # 0.12345678 is off the 0.00001 step: kept exactly in the 8-decimal wire unit
    assert depth.book.depth(5)[1] == [(10_001, 200_000_000), (10_002, 12_345_678)]


def test_between_when_bounds_given_then_only_events_inside_and_stops_at_end() -> None:
    from thunes.simvenue.replay import between

    def trades() -> Iterator[ReplayTrade]:
        for ts in range(10):
            yield ReplayTrade("BTCUSDT", ts, ts, Decimal(1), Decimal(1), buyer_is_maker=False)
        raise AssertionError("read past the end bound")

    kept = [e.ts_ns for e in between(trades(), 3, 7)]

    assert kept == [3, 4, 5, 6]
