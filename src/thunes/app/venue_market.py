"""What ``thunes venue serve`` replays: one or several symbols' candles or captures, merged on one clock.

Several symbols replay the time range they all have (the overlap of their candles, after ``--start`` and
``--end``), not the union with the missing ones quiet: over the whole replay every symbol has a price,
a book and candles, so an order on any of them can always fill, and a trader's indicators warm up on
every symbol together. The cost is history cut from the symbols with more of it (BTCUSDT's 1h data
goes back to 2024-01, BNBUSDT's to 2024-09: together they replay from 2024-09-14).

Listing symbols (``--symbols``) asks for real data: a symbol without candles in the store or the shared
recorded data is an error, not the synthetic market a lone ``--symbol`` falls back to (a portfolio
replay with one invented price series would look real and be meaningless); ``--synthetic N`` gives
every symbol a synthetic market (its own seed each).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thunes.app.config import DataSettings
from thunes.app.errors import fail
from thunes.app.sources import common_range, load_bars
from thunes.domain.instrument import Instrument
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV
from thunes.simvenue.capture import CaptureError
from thunes.simvenue.capture_replay import capture_events
from thunes.simvenue.replay import ReplayEvent, bar_events, between, merged

__all__ = ["BarRequest", "bar_market", "market_events", "recorded_market", "symbol_list"]

DEFAULT_SYMBOL = "BTCUSDT"


def symbol_list(symbol: str | None, symbols: str | None) -> list[str]:
    """The symbols to replay: ``--symbol`` (default BTCUSDT) or the ``--symbols`` list, not both; the
    list must name each symbol once and have no empty item."""
    if symbols is None:
        return [DEFAULT_SYMBOL if symbol is None else symbol]
    if symbol is not None:
        fail("give --symbol (one symbol) or --symbols (a list), not both")
    names = [name.strip() for name in symbols.split(",")]
    if not all(names):
        fail(f"--symbols expects a comma-separated list of symbols like BTCUSDT,ETHUSDT, got {symbols!r}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        fail(f"--symbols names {', '.join(twice)} more than once")
    return names


def _window(bars: OHLCV, start_ns: int | None, end_ns: int | None) -> OHLCV:
    times = bars.open_time_ns
    first = 0 if start_ns is None else int(np.searchsorted(times, start_ns, side="left"))
    last = len(bars) if end_ns is None else int(np.searchsorted(times, end_ns, side="left"))
    return bars.slice(first, last)


@dataclass(frozen=True, slots=True)
class BarRequest:
    """Which candles to replay: ``path`` (one symbol's file), ``synthetic`` bars, else the data settings'."""

    timeframe: Timeframe
    data: DataSettings
    path: Path | None
    synthetic: int | None
    start_ns: int | None
    end_ns: int | None
    warmup: int
    listed: bool  # the symbols came from --symbols: each needs real data unless synthetic


def bar_market(instruments: list[Instrument], request: BarRequest) -> tuple[Iterable[ReplayEvent], str]:
    """The merged candle events of ``instruments`` over their common time range, and a label.

    Raises what loading a candle file raises (``DataFileError``, ``ValueError``); fails on the rest.
    """
    if request.path is not None and len(instruments) > 1:
        fail("--data is one symbol's candle file: replay several symbols from the store or the shared data")
    loaded = []
    for seed, instrument in enumerate(instruments):
        bars = load_bars(instrument, request.timeframe, request.data, path=request.path,
                         synthetic_bars=request.synthetic, seed=seed)  # fmt: skip
        if request.listed and request.synthetic is None and bars.fallback:
            fail(f"no {request.timeframe.value} candles of {instrument.symbol} in the store or the shared data"
                 " (--symbols replays real data only; --synthetic N for a synthetic market)")  # fmt: skip
        window = _window(bars.bars, request.start_ns, request.end_ns)  # whole candles: select by open time
        if len(window) == 0:
            fail(f"no {instrument.symbol} candles between --start and --end")
        loaded.append((instrument, window, bars.source))
    try:
        windows, _ = common_range([bars for _, bars, _ in loaded])
    except ValueError as e:
        fail(str(e))
    common = [(instrument, window, source) for (instrument, _, source), window in zip(loaded, windows, strict=True)]
    count = len(common[0][1])
    if request.warmup >= count:
        fail(f"--warmup {request.warmup} leaves none of the {count} bars to replay: give a smaller --warmup")
    events = market_events([(i, bars) for i, bars, _ in common])
    if len(common) == 1:
        return events, common[0][2]
    label = "; ".join(f"{i.symbol} {source}" for i, _, source in common)
    return events, f"{label} ({count} common candles)"


def market_events(market: Sequence[tuple[Instrument, OHLCV]]) -> Iterable[ReplayEvent]:
    """The replay events of each instrument's candles, merged on one clock (one symbol: its own)."""
    streams = [bar_events(bars, i.tick_size, i.step_size) for i, bars in market]
    return streams[0] if len(streams) == 1 else merged(streams)


def recorded_market(
    capture: list[Path], instruments: list[Instrument], start_ns: int | None, end_ns: int | None
) -> tuple[Iterable[ReplayEvent], str]:
    """The capture files' events for ``instruments``, merged, and a label; fails on a missing or
    unreadable file and on a symbol without one event (read lazily after the first, as the replay goes)."""
    missing = [str(p) for p in capture if not p.is_file()]
    if missing:
        fail(f"capture file not found: {missing[0]}")
    streams = []
    for instrument in instruments:
        recorded = iter(between(capture_events(capture, instrument.symbol, instrument), start_ns, end_ns))
        try:
            head = next(recorded, None)
        except CaptureError as e:
            fail(str(e))
        if head is None:
            files = ", ".join(str(p) for p in capture)
            fail(f"no {instrument.symbol} event in --capture {files} (between --start and --end)")
        streams.append(itertools.chain([head], recorded))
    return merged(streams), f"capture {', '.join(p.name for p in capture)}"
