"""Show what every chaos scenario measured (its counts and recovery times) in the run's summary,
passed or not: CI's log is where the closing note's table comes from."""

from __future__ import annotations

import re

import pytest

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
