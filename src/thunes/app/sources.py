"""Where a run's candles and instruments come from, decided in one place.

Order of preference: an explicit file, the local store, the real recorded data in
``../shared/data`` (when present), and finally the deterministic synthetic market, so that a
fresh machine with no data still runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info, load_exchange_info
from thunes.app.config import DataSettings, ExchangeRulesSettings
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV

__all__ = [
    "LoadedBars",
    "PortfolioBars",
    "common_range",
    "find_shared_data",
    "load_bars",
    "load_exchange_info_source",
    "load_instrument",
    "load_portfolio_bars",
]

EXCHANGE_INFO_DUMP = Path("binance/exchange_info/exchangeInfo_spot_full_2023-09-08.json")
RECORDED_DIRS = ("marketlab_2024-09_2026-02", "ft_userdata_2024-01_2024-09", "ftrade_1m_2024-07_2024-08")


@dataclass(frozen=True, slots=True)
class LoadedBars:
    bars: OHLCV
    source: str
    fallback: bool = False  # synthetic because no data was found (not asked for)


def find_shared_data(settings: DataSettings) -> Path | None:
    """The configured shared data directory, else ``../shared/data`` beside the working directory."""
    if settings.shared_data_dir is not None:
        return settings.shared_data_dir if settings.shared_data_dir.is_dir() else None
    candidate = Path.cwd().parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def load_exchange_info_source(rules: ExchangeRulesSettings, data: DataSettings) -> tuple[ExchangeInfo, str]:
    """The best exchangeInfo available (configured file, recorded dump, built-in) and its origin."""
    if rules.exchange_info_path is not None:
        return load_exchange_info(rules.exchange_info_path), str(rules.exchange_info_path)
    shared = find_shared_data(data)
    dump = shared / EXCHANGE_INFO_DUMP if shared is not None else None
    if dump is not None and dump.is_file():
        return load_exchange_info(dump), f"exchangeInfo dump {dump.name}"
    return builtin_exchange_info(), "built-in instruments"


def load_instrument(symbol: str, rules: ExchangeRulesSettings, data: DataSettings) -> tuple[Instrument, str]:
    """The instrument for ``symbol`` with the best exchangeInfo available, and where it came from."""
    info, origin = load_exchange_info_source(rules, data)
    return info.get(symbol), origin


def _recorded_file(shared: Path, instrument: Instrument, timeframe: Timeframe) -> Path | None:
    name = f"{instrument.base_asset}_{instrument.quote_asset}-{timeframe.value}.feather"
    for folder in RECORDED_DIRS:
        path = shared / "binance" / "ohlcv" / folder / name
        if path.is_file():
            return path
    return None


def load_bars(
    instrument: Instrument,
    timeframe: Timeframe,
    data: DataSettings,
    *,
    path: Path | None = None,
    synthetic_bars: int | None = None,
    seed: int = 0,
) -> LoadedBars:
    """Candles for a run, following the order of preference in the module docstring."""
    symbol = str(instrument.symbol)
    if synthetic_bars is not None:
        bars = generate_ohlcv(symbol, timeframe, synthetic_bars, seed=seed, tick_size=float(instrument.tick_size))
        return LoadedBars(bars, f"synthetic market (seed {seed})")
    # The file readers load pyarrow (and the store duckdb): tens of MB a synthetic run does not need.
    from thunes.adapters.datastore.loaders import load_ohlcv

    if path is not None:
        return LoadedBars(load_ohlcv(path, symbol=symbol, timeframe=timeframe), str(path))
    if data.store_dir.is_dir():
        from thunes.adapters.datastore.store import ParquetStore, SeriesNotFoundError

        try:
            return LoadedBars(
                ParquetStore(data.store_dir).read("binance", symbol, timeframe), f"store {data.store_dir}"
            )
        except SeriesNotFoundError:
            pass  # nothing imported for this series: fall through to recorded data
    shared = find_shared_data(data)
    recorded = _recorded_file(shared, instrument, timeframe) if shared is not None else None
    if recorded is not None:
        return LoadedBars(load_ohlcv(recorded, symbol=symbol, timeframe=timeframe), f"recorded {recorded.name}")
    bars = generate_ohlcv(symbol, timeframe, 5000, seed=seed, tick_size=float(instrument.tick_size))
    return LoadedBars(bars, f"synthetic market (seed {seed}; no recorded data found)", fallback=True)


@dataclass(frozen=True, slots=True)
class PortfolioBars:
    """Each symbol's candles (in portfolio order) over the range all of them cover; ``cut`` says what
    was cut to get there (None when nothing was)."""

    loaded: tuple[LoadedBars, ...]
    cut: str | None

    @property
    def bars(self) -> tuple[OHLCV, ...]:
        return tuple(item.bars for item in self.loaded)


def load_portfolio_bars(
    instruments: Sequence[Instrument],
    timeframe: Timeframe,
    data: DataSettings,
    *,
    synthetic_bars: int | None = None,
    seed: int = 0,
) -> PortfolioBars:
    """Candles for each symbol of a portfolio, each from where :func:`load_bars` finds it (a synthetic
    market gets seed ``seed + i`` for the ``i``-th symbol, so the symbols do not move in lockstep), cut to
    their common time range (:func:`common_range`)."""
    loaded = []
    for i, instrument in enumerate(instruments):
        item = load_bars(instrument, timeframe, data, synthetic_bars=synthetic_bars, seed=seed + i)
        loaded.append(item)
    cut, note = common_range([item.bars for item in loaded])
    kept = tuple(LoadedBars(bars, item.source, item.fallback) for bars, item in zip(cut, loaded, strict=True))
    return PortfolioBars(kept, note)


def common_range(series: Sequence[OHLCV]) -> tuple[list[OHLCV], str | None]:
    """Each series cut to the bars opened within the time range every one of them covers (the latest
    first bar to the earliest last bar), and a note naming what was cut (None when nothing). A
    portfolio measured over different spans would compare symbols that did not trade side by side.
    ValueError when the ranges do not overlap."""
    start = max(int(b.open_time_ns[0]) for b in series)
    end = min(int(b.open_time_ns[-1]) for b in series)
    if start > end:
        spans = ", ".join(f"{b.symbol} {_day(int(b.open_time_ns[0]))}..{_day(int(b.open_time_ns[-1]))}" for b in series)
        raise ValueError(f"the symbols' candles share no time range ({spans})")
    cut, dropped = [], []
    for b in series:
        first = int(np.searchsorted(b.open_time_ns, start, side="left"))
        stop = int(np.searchsorted(b.open_time_ns, end, side="right"))
        cut.append(b if (first, stop) == (0, len(b)) else b.slice(first, stop))
        if (first, stop) != (0, len(b)):
            dropped.append(f"{b.symbol} -{first + len(b) - stop:,}")
    if not dropped:
        return cut, None
    return cut, f"cut to the common range {_day(start)} → {_day(end)} UTC ({', '.join(dropped)} bars)"


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")
