"""Shared fixtures (where the real market data lives, and a skip when it is absent); how pytest-xdist runs the
suite (workers, slow tests first); the chaos scenarios' measures in the run's summary."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

_SHARED = Path(os.environ.get("THUNES_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real Binance dumps); skipped only when it is truly absent and not in CI."""
    if not _SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {_SHARED} (CI must have it)")
        pytest.skip(f"shared data not found at {_SHARED}")
    return _SHARED


@pytest.fixture(scope="session")
def exchange_info_path(shared_data: Path) -> Path:
    return shared_data / "binance" / "exchange_info" / "exchangeInfo_spot_full_2023-09-08.json"


WORKERS = 6  # pytest-xdist workers for a whole run: most slow tests wait on processes, sockets and sessions


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): ``WORKERS`` when a directory is run (``make test``, ``pytest``,
    ``pytest tests/chaos``), none when only files or tests are named (a helper's quick run starts no
    workers) or with ``-s``; ``$PYTEST_XDIST_AUTO_NUM_WORKERS`` or ``-n N`` decide otherwise."""
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if chosen:
        return int(chosen)
    if config.getoption("capture") == "no":  # -s: the output is wanted on the terminal, which workers do not reach
        return 0
    paths = [Path(arg.split("::", 1)[0]) for arg in config.args] or [Path(config.rootpath, "tests")]
    return WORKERS if any(path.is_dir() for path in paths) else 0


def _shares(total: int, workers: int) -> list[int]:
    """How many tests pytest-xdist's worksteal scheduler first sends each worker: in turn, what is left
    divided by the workers still without a share (``WorkStealingScheduling.check_schedule``)."""
    sizes = []
    for remaining in range(workers, 0, -1):
        sizes.append((total - sum(sizes)) // remaining)
    return sizes


def _slow_units(slow: list[pytest.Item]) -> list[list[pytest.Item]]:
    """The slow tests, one by one, except a module marked slow as a whole (``pytestmark``), whose tests
    share a costly module-scoped setup: those stay together, so that only one worker pays for it."""
    units: list[list[pytest.Item]] = []
    for item in slow:
        module = item.getparent(pytest.Module)
        whole = module is not None and any(mark.name == "slow" for mark in module.own_markers)
        if whole and units and units[-1][0].getparent(pytest.Module) is module:
            units[-1].append(item)
        else:
            units.append([item])
    return units


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the slow tests (marked ``slow``) open the workers' first shares, dealt one
    share after the other: they start at once on different workers, and none is left to start last
    alone (each worker otherwise runs a contiguous slice of the collection, and idle ones steal from the
    end of the others' queues, never its start)."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
    slow = [item for item in items if item.get_closest_marker("slow")]
    if workers < 2 or not slow:
        return
    rest = [item for item in items if not item.get_closest_marker("slow")]
    units = _slow_units(slow)
    dealt: list[list[pytest.Item]] = [[item for unit in units[k::workers] for item in unit] for k in range(workers)]
    ordered: list[pytest.Item] = []
    for first, size in zip(dealt, _shares(len(items), workers), strict=True):
        take = max(0, size - len(first))
        ordered += first + rest[:take]
        rest = rest[take:]
    items[:] = ordered + rest


# Show what every chaos scenario measured (its counts and recovery times) in the run's summary, passed or
# not: CI's log is where the closing note's table comes from. Here, not in tests/chaos/conftest.py: under
# pytest-xdist the reports reach the controller, which loads only this conftest.
_MEASURE = re.compile(r"^[a-z0-9-]+: [a-z_]+=")  # "scenario: key=value ..." lines (logs are left out)
_LINES: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "tests/chaos/" in report.nodeid.replace("\\", "/"):
        for line in report.capstdout.splitlines():
            if _MEASURE.match(line):
                _LINES.append((report.nodeid.rsplit("::", 1)[-1], line.strip()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section("chaos scenarios: counts and recovery")
        for test, line in _LINES:
            terminalreporter.write_line(f"{line}    [{test}]")
