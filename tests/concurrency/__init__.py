"""Race tests: real threads released together, against the real risk components.

With the GIL a thread is preempted only every few microseconds at best, so a short unguarded
read-modify-write would almost never be interleaved in a test, and a missing lock would go
unnoticed until production (or a free-threaded interpreter). ``preemptive`` makes the races bite
without changing the code under test: inside ``thunes.risk`` every executed line may hand the GIL
to another thread (a trace hook calling ``time.sleep(0)``), as a preemptive scheduler could.
``SlowStore`` writes slowly, as an fsync does. Threads start at a barrier followed by a short
spin to a common instant, so they really overlap.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

import thunes.risk
from thunes.risk import InMemoryRiskStore, RiskSnapshot

T = TypeVar("T")

SWITCH_INTERVAL_S = 1e-6
START_SPIN_S = 0.002


_RISK_DIR = os.path.dirname(thunes.risk.__file__) + os.sep


@contextmanager
def preemptive(probability: float = 0.3, interval_s: float = SWITCH_INTERVAL_S) -> Iterator[None]:
    """Let any line of ``thunes.risk`` yield the GIL (with ``probability``) in threads started inside.

    Also shortens the interpreter's switch interval. Only frames of ``thunes.risk`` are traced, so
    the tests' own code runs at normal speed.
    """

    def line_hook(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and random.random() < probability:
            time.sleep(0)
        return line_hook

    def call_hook(frame: FrameType, event: str, arg: Any) -> Any:
        return line_hook if frame.f_code.co_filename.startswith(_RISK_DIR) else None

    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    threading.settrace(call_hook)
    try:
        yield
    finally:
        threading.settrace(None)
        sys.setswitchinterval(previous)


class _StartLine:
    """A barrier, then a short spin to a common instant: threads woken one by one by the barrier
    would otherwise start microseconds apart and a short check could finish before the next begins."""

    def __init__(self, n: int, timeout_s: float = 20.0) -> None:
        self._go = 0.0
        self._barrier = threading.Barrier(n, action=self._set_go, timeout=timeout_s)

    def _set_go(self) -> None:
        self._go = time.perf_counter() + START_SPIN_S

    def wait(self) -> None:
        self._barrier.wait()
        while time.perf_counter() < self._go:
            pass


def race(n: int, work: Callable[[int], T], timeout_s: float = 20.0) -> list[T]:
    """Run ``work(0..n-1)`` on ``n`` threads that all start together; results in thread order."""
    line = _StartLine(n, timeout_s)

    def run(i: int) -> T:
        line.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(run, i) for i in range(n)]
        return [f.result(timeout=timeout_s) for f in futures]


def race_async(n: int, work: Callable[[int], T]) -> list[T]:
    """``n`` asyncio tasks, each calling the (blocking) ``work`` through ``asyncio.to_thread``, released together."""
    line = _StartLine(n)

    def run(i: int) -> T:
        line.wait()
        return work(i)

    async def main() -> list[T]:
        # The default executor has min(32, cpus + 4) threads: too few for a barrier of ``n``.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=n))
        return list(await asyncio.gather(*(asyncio.to_thread(run, i) for i in range(n))))

    return asyncio.run(main())


class Ticket:
    """A global order of events across threads (``next`` on ``itertools.count`` is atomic)."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def __call__(self) -> int:
        return next(self._counter)


class SlowStore(InMemoryRiskStore):
    """An in-memory store whose write takes ``delay_s`` (like an fsync) and keeps every snapshot."""

    def __init__(self, delay_s: float = 0.0002) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.history: list[RiskSnapshot] = []
        self._history_lock = threading.Lock()

    def save(self, snapshot: RiskSnapshot) -> None:
        time.sleep(self.delay_s)
        super().save(snapshot)
        with self._history_lock:
            self.history.append(snapshot)
