"""Order lifecycle logic over domain types: filter caching now; idempotent submission and reconciliation next."""

from thunes.execution.instrument_cache import InstrumentCache

__all__ = ["InstrumentCache"]
