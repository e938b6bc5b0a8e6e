"""What the operating system says about this process."""

from __future__ import annotations

import ctypes
import ctypes.util
import resource

__all__ = ["keep_freed_memory", "peak_rss_bytes"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64 bits
_TRIM_THRESHOLD = 128 << 20


def peak_rss_bytes() -> int:
    """This process's peak resident set, in bytes.

    Linux's ``VmHWM`` starts afresh at ``exec``; ``getrusage``'s ``ru_maxrss`` (the fallback elsewhere)
    keeps the peak of whatever process forked this one, so a trader started by a large parent (a
    test runner, a benchmark harness) would report the parent's peak as its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def keep_freed_memory() -> bool:
    """Have glibc's allocator serve blocks up to 32 MiB from its heap and keep up to 128 MiB it freed,
    instead of mapping each large array afresh and unmapping it when freed: a backtest allocates and
    frees arrays of the series' size run after run (a sweep, the symbols of a portfolio), and each fresh
    mapping is paid again in page faults (a third of a 4 x 250k-bar fast backtest, perf). For the process
    entry points, as ``gc.freeze``: it changes how the whole process allocates. False where the C
    library has no ``mallopt`` (not glibc): nothing changed."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
