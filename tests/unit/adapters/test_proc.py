"""A process's peak memory is its own, not the peak of the process that started it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from thunes.adapters.proc import peak_rss_bytes

MB = 2**20
CHILD = "from thunes.adapters.proc import peak_rss_bytes; print(peak_rss_bytes())"


def test_peak_rss_when_started_by_a_large_parent_then_only_the_childs_own_peak() -> None:
    ballast = bytearray(400 * MB)  # the parent's peak goes past 400 MB (pages touched below)
    ballast[::4096] = b"x" * len(range(0, len(ballast), 4096))
    done = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True, text=True)
    child = int(done.stdout)

    assert peak_rss_bytes() >= 400 * MB
    assert 5 * MB < child < 150 * MB  # a bare interpreter with one module, not the 400 MB it was forked from
    del ballast


FAULTS = """
import resource, sys
import numpy as np
from thunes.adapters.proc import keep_freed_memory
tuned = keep_freed_memory() if sys.argv[1] == "keep" else False
np.ones(500_000)  # 4 MB, allocated and freed once first
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    np.ones(500_000)
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[bool, int]:
    done = subprocess.run([sys.executable, "-c", FAULTS, mode], check=True, capture_output=True, text=True)
    tuned, faults = done.stdout.split()
    return tuned == "True", int(faults)


def test_keep_freed_memory_when_arrays_of_one_size_come_and_go_then_their_pages_are_reused() -> None:
    tuned, faults = _faults("keep")
    if not tuned:
        pytest.skip("not glibc: the allocator cannot be told")
    _, default_faults = _faults("default")

    assert faults < 200  # 20 arrays of ~1,000 pages each: served from the kept memory
    assert default_faults > faults  # glibc by default gives some back and faults them in again
