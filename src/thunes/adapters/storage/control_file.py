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

from thunes.adapters.storage.durable import fsync_dir

__all__ = ["ControlAction", "ControlFile", "ControlFileError", "ControlRequest"]


class ControlFileError(ValueError):
    """``control.jsonl`` or ``control.applied`` holds something that is not a request: a person must
    look (a garbled line may have been a kill-switch request)."""


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
        created = not self.requests_path.exists()
        with self.requests_path.open("a+", encoding="utf-8", errors="replace") as handle:  # a garbled line stays as is
            fcntl.flock(handle, fcntl.LOCK_EX)  # two CLI calls at once still get distinct numbers
            handle.seek(0)
            text = handle.read()
            # Past the applied mark too: a request numbered at or below it would never be applied.
            seq = 1 + max(max((r.seq for r in _parse(text)), default=0), self._applied_or_zero())
            line = {"seq": seq, "action": action.value, "by": by, "reason": reason, "wall_ns": wall_ns}
            torn = bool(text) and not text.endswith("\n")  # end a line a crash left unfinished
            handle.write(("\n" if torn else "") + json.dumps(line, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            fsync_dir(self.directory)  # the new file's name is durable too
        return seq

    def applied(self) -> int:
        try:
            return int(self.applied_path.read_text(encoding="utf-8").strip() or 0)
        except FileNotFoundError:
            return 0

    def _applied_or_zero(self) -> int:
        try:
            return self.applied()
        except ValueError:
            return 0

    def check(self) -> None:
        """Read both files strictly (read-only): ``ControlFileError`` naming the first bad line.

        Only a last line without its newline is allowed: a write a crash cut short, never
        acknowledged (``post`` ends it before appending). ``OSError`` when a file cannot be read.
        """
        try:
            text = self.requests_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except UnicodeDecodeError as e:
            raise ControlFileError(f"{self.requests_path}: not UTF-8 text ({e.reason})") from None
        lines = text.split("\n")
        last = 0
        for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: after the last newline
            request = _request(line)
            if request is None:
                raise ControlFileError(f"{self.requests_path} line {number} is not a control request: {line!r:.60}")
            last = max(last, request.seq)
        try:
            applied = self.applied()
        except UnicodeDecodeError as e:
            raise ControlFileError(f"{self.applied_path}: not UTF-8 text ({e.reason})") from None
        except ValueError:
            raise ControlFileError(f"{self.applied_path} does not hold a request number") from None
        if applied > last:
            raise ControlFileError(f"{self.applied_path} says request {applied} was applied, but "
                                   f"{self.requests_path.name} ends at {last}: requests were lost")  # fmt: skip

    def pending(self) -> list[ControlRequest]:
        """Requests after the last applied one, oldest first (cheap when the file has not grown)."""
        try:
            size = self.requests_path.stat().st_size
        except FileNotFoundError:
            return []
        if size == self._seen_size:
            return []
        text = self.requests_path.read_text(encoding="utf-8", errors="replace")
        try:
            done = self.applied()
        except ValueError:  # which ones were applied is unknown: apply none (the start check reports it)
            return []
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
        fsync_dir(self.directory)


def _parse(text: str) -> list[ControlRequest]:
    """Every complete, well-formed line; a torn last line (crash mid-write) is not a request yet."""
    return [r for r in map(_request, text.splitlines()) if r is not None]


def _request(line: str) -> ControlRequest | None:
    """The request one line holds, or None when it is not exactly one (types are not coerced)."""
    try:
        data = json.loads(line)
        fields = (data["seq"], data["action"], data["by"], data["reason"], data["wall_ns"])
    except (ValueError, KeyError, TypeError):
        return None
    seq, action, by, reason, wall_ns = fields
    if not (type(seq) is int and type(wall_ns) is int and isinstance(by, str) and isinstance(reason, str)):
        return None
    try:
        return ControlRequest(seq, ControlAction(action), by, reason, wall_ns)
    except ValueError:
        return None
