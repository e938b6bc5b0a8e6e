"""numba's disk cache never serves a stale kernel: an entry point is keyed on the source of every module
its compiled code is made of (``backtest/fast_jit.py``), so changing a helper in another module
compiles it again, where numba alone keys a function on its own file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from thunes.backtest import fast_jit
from thunes.backtest.fast_jit import FINGERPRINT, KERNEL_MODULES, entry, fingerprint
from thunes.backtest.fast_kernel import simulate
from thunes.backtest.fast_series import equity_units, sma_cross_rows

BACKTEST = Path(fast_jit.__file__).parent
SRC = BACKTEST.parent.parent

HELPERS = """
from thunes.backtest.fast_jit import helper


@helper
def bump(x):
    return x + {step}
"""
ENTRY = """
from pathlib import Path

from helpers import bump
from thunes.backtest.fast_jit import entry, fingerprint

SOURCES = fingerprint([Path(__file__).with_name("helpers.py"), Path(__file__)])


@entry(SOURCES)
def run(fingerprint):
    def run(x):
        fingerprint
        return bump(x)

    return run


if __name__ == "__main__":
    print(run(1), sum(run.stats.cache_hits.values()), sum(run.stats.cache_misses.values()))
"""


def _run(directory: Path) -> tuple[int, int, int]:
    """The entry point's answer for 1, and its disk cache hits and misses, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "entry.py"], cwd=directory, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": f"{directory}:{SRC}"})  # fmt: skip
    value, hits, misses = map(int, done.stdout.split())
    return value, hits, misses


def test_entry_when_a_helper_in_another_module_changes_then_it_compiles_again(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text(HELPERS.format(step=1))
    (tmp_path / "entry.py").write_text(ENTRY)

    assert _run(tmp_path) == (2, 0, 1)  # compiled, and cached
    assert _run(tmp_path) == (2, 1, 0)  # from the disk cache
    (tmp_path / "helpers.py").write_text(HELPERS.format(step=2))  # entry.py itself is untouched

    assert _run(tmp_path) == (3, 0, 1)  # compiled again, with the new helper
    assert _run(tmp_path) == (3, 1, 0)


def test_entry_when_it_does_not_read_its_fingerprint_then_refused() -> None:
    def make(fingerprint: str) -> object:
        def forgetful(x: int) -> int:
            return x + 1

        return forgetful

    with pytest.raises(TypeError, match="does not read its fingerprint"):
        entry("abc")(make)  # type: ignore[arg-type]


def test_fingerprint_when_any_kernel_module_changes_then_it_changes(tmp_path: Path) -> None:
    files = [tmp_path / "a.py", tmp_path / "b.py"]
    for path in files:
        path.write_text("x = 1\n")
    before = fingerprint(files)
    files[1].write_text("x = 2\n")

    assert before is not None and fingerprint(files) not in (before, None)
    assert fingerprint([tmp_path / "missing.py"]) is None  # unreadable: nothing is cached


def test_kernel_fingerprint_when_read_then_covers_every_module_of_compiled_code() -> None:
    compiled = {path.stem for path in BACKTEST.glob("*.py")
                if re.search(r"^(from|import) (numba|thunes\.backtest\.fast_jit)\b", path.read_text(), re.M)}  # fmt: skip

    assert compiled <= set(KERNEL_MODULES)
    assert all((BACKTEST / f"{name}.py").is_file() for name in KERNEL_MODULES)
    assert FINGERPRINT == fingerprint(BACKTEST / f"{name}.py" for name in KERNEL_MODULES) is not None
    for dispatcher in (simulate, sma_cross_rows, equity_units):
        cells = [cell.cell_contents for cell in dispatcher.py_func.__closure__ or ()]
        assert FINGERPRINT in cells  # in numba's cache key
