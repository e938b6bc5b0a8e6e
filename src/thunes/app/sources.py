"""Where a run's candles and instruments come from, decided in one place.

Order of preference: an explicit file, the local store, the real recorded data in
``../shared/data`` (when present), and finally the deterministic synthetic market, so that a
fresh machine with no data still runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info, load_exchange_info
from thunes.app.config import DataSettings, ExchangeRulesSettings
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV

__all__ = ["LoadedBars", "find_shared_data", "load_bars", "load_exchange_info_source", "load_instrument"]

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
