"""``thunes venue serve`` as its own process for a test: started on a spare port, waited for until it
answers ``/api/v3/ping``, stopped (SIGTERM) when the test is done."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.ports import spare_port

__all__ = ["THUNES", "venue_process"]

THUNES = str(Path(sys.executable).with_name("thunes"))


@contextlib.contextmanager
def venue_process(args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float = 60.0) -> Iterator[str]:
    """The venue's base URL while ``thunes venue serve ARGS --port P`` runs (a failed start fails the test)."""
    port = spare_port()
    process = subprocess.Popen(
        [THUNES, "venue", "serve", *args, "--port", str(port)],
        env=dict(env), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v3/ping", timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"venue did not start: {process.stderr.read().decode() if process.stderr else ''}")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
