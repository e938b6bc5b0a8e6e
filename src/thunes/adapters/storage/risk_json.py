"""The risk engine's state in one JSON file, replaced atomically: the kill-switch survives a crash.

File I/O lives here, in adapters; ``thunes.risk`` keeps only the pure snapshot codec.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from thunes.adapters.storage.durable import fsync_dir
from thunes.risk.state import RiskSnapshot
from thunes.risk.store import RiskStoreError, snapshot_from_dict, snapshot_to_dict

__all__ = ["JsonFileRiskStore"]


class JsonFileRiskStore:
    """One JSON file, replaced atomically on every save."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> RiskSnapshot | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:  # no permission, a directory, not UTF-8
            raise RiskStoreError(f"{self.path}: unreadable risk state ({e}); fix or remove it by hand") from e
        try:
            return snapshot_from_dict(json.loads(text))
        except (ValueError, ArithmeticError, KeyError, TypeError, RecursionError) as e:
            # Never start from a blank state over a damaged one: it could switch the kill-switch off.
            raise RiskStoreError(f"{self.path}: unreadable risk state ({e}); fix or remove it by hand") from e

    def save(self, snapshot: RiskSnapshot) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(snapshot_to_dict(snapshot), indent=2, sort_keys=True).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(self.path.parent)
