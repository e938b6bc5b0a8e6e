"""A process's peak memory is its own, not the peak of the process that started it."""

from __future__ import annotations

import subprocess
import sys

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
