"""Waiting in tests: on a condition, polled, with a deadline generous enough for a loaded machine.

Never a fixed sleep standing in for "long enough": on a busy 2-core CI runner "long enough" is not.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

__all__ = ["until"]


def until(
    check: Callable[[], bool],
    what: str,
    timeout_s: float = 120.0,
    *,
    process: subprocess.Popen[bytes] | None = None,
    every_s: float = 0.05,
) -> None:
    """Return as soon as ``check()`` is true; fail naming ``what`` after ``timeout_s``, or at once
    when ``process`` (the thing being waited on) has exited."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(every_s)
