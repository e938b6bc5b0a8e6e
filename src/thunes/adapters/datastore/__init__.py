"""The local market-data store: file loaders, the partitioned Parquet store and synthetic candles."""

from thunes.adapters.datastore.loaders import (
    DataFileError,
    format_ns,
    infer_symbol_timeframe,
    load_ohlcv,
    normalise_symbol,
)
from thunes.adapters.datastore.store import DataStoreError, Gap, ParquetStore, StoreEntry, WriteResult, find_gaps
from thunes.adapters.datastore.synthetic import REGIMES, Regime, generate_ohlcv

__all__ = [
    "REGIMES",
    "DataFileError",
    "DataStoreError",
    "Gap",
    "ParquetStore",
    "Regime",
    "StoreEntry",
    "WriteResult",
    "find_gaps",
    "format_ns",
    "generate_ohlcv",
    "infer_symbol_timeframe",
    "load_ohlcv",
    "normalise_symbol",
]
