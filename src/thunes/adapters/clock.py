"""The wall clock, for live drivers and operator commands (logic layers take a ``Clock``)."""

from __future__ import annotations

import time

__all__ = ["SystemClock"]


class SystemClock:
    """Unix time in ns from the operating system."""

    def now_ns(self) -> int:
        return time.time_ns()
