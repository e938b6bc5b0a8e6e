"""The data store's errors, in a module of their own: a command that only reports them must not
load pyarrow and duckdb (tens of MB) to do so."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DataFileError", "DataStoreError", "SeriesNotFoundError"]

_MAX_PROBLEM = 300


class DataFileError(ValueError):
    """A candle file that cannot be loaded; ``str()`` is one line: ``<path>: <problem>``."""

    def __init__(self, path: Path, problem: str) -> None:
        lines = problem.strip().splitlines()
        first = lines[0].strip() if lines else "unknown problem"
        self.path = path
        self.problem = first if len(first) <= _MAX_PROBLEM else first[: _MAX_PROBLEM - 3] + "..."
        super().__init__(f"{path}: {self.problem}")


class DataStoreError(ValueError):
    """The store cannot do what was asked (absent series, bad name, unreadable partition)."""


class SeriesNotFoundError(DataStoreError):
    """The store holds no candles for the requested series (a normal outcome, unlike a corrupt file)."""
