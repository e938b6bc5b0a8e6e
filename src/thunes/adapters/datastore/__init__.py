"""The local market-data store: file loaders (``loaders``), the partitioned Parquet store (``store``),
synthetic candles (``synthetic``) and their errors (``errors``).

Nothing is imported here: the loaders pull in pyarrow and the store duckdb, which a process that
only trades (or only reports an error) should not pay for in memory.
"""
