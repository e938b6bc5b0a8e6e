"""Operator requests to a running trader (kill-switch on/off), through a file in its data directory.

Why a file and not the risk state itself: the running trader rewrites ``risk.json`` on every fill,
so a CLI writing it directly could be overwritten a moment later. Requests are instead appended
here (one JSON line each, numbered, fsynced); the trader applies the ones it has not applied yet,
between bars, and remembers the last number it applied. A trader that is not running applies them
when it starts, so a request is never lost.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

__all__ = ["ControlAction", "ControlFile", "ControlRequest"]


class ControlAction(StrEnum):
    KILL_SWITCH_ON = "KILL_SWITCH_ON"
    KILL_SWITCH_OFF = "KILL_SWITCH_OFF"


@dataclass(frozen=True, slots=True)
class ControlRequest:
    seq: int
    action: ControlAction
    by: str
    reason: str
    wall_ns: int


class ControlFile:
    """``control.jsonl`` (the requests) and ``control.applied`` (the last one applied)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.requests_path = directory / "control.jsonl"
        self.applied_path = directory / "control.applied"
        self._seen_size = -1

    def post(self, action: ControlAction, by: str, reason: str, wall_ns: int) -> int:
        """Append one request and return its number (durable when this returns)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.requests_path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # two CLI calls at once still get distinct numbers
            handle.seek(0)
            text = handle.read()
            seq = 1 + max((r.seq for r in _parse(text)), default=0)
            line = {"seq": seq, "action": action.value, "by": by, "reason": reason, "wall_ns": wall_ns}
            torn = bool(text) and not text.endswith("\n")  # end a line a crash left unfinished
            handle.write(("\n" if torn else "") + json.dumps(line, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return seq

    def applied(self) -> int:
        try:
            return int(self.applied_path.read_text(encoding="utf-8").strip() or 0)
        except FileNotFoundError:
            return 0

    def pending(self) -> list[ControlRequest]:
        """Requests after the last applied one, oldest first (cheap when the file has not grown)."""
        try:
            size = self.requests_path.stat().st_size
        except FileNotFoundError:
            return []
        if size == self._seen_size:
            return []
        text = self.requests_path.read_text(encoding="utf-8")
        done = self.applied()
        pending = [r for r in _parse(text) if r.seq > done]
        if not pending:
            self._seen_size = size
        return pending

    def mark_applied(self, seq: int) -> None:
        tmp = self.applied_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(str(seq))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.applied_path)


def _parse(text: str) -> list[ControlRequest]:
    """Every complete, well-formed line; a torn last line (crash mid-write) is not a request yet."""
    out = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
            out.append(ControlRequest(int(data["seq"]), ControlAction(data["action"]), str(data["by"]),
                                      str(data["reason"]), int(data["wall_ns"])))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            continue
    return out
