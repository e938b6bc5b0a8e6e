"""run_returning hands back the coroutine's value without Python 3.11's asyncio.run repr-ing it (that
repr cost seconds on a million-bar backtest)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest

from thunes.app.aio import run_returning


class _Result:
    """A result that counts how often it is turned into a string."""

    reprs = 0

    def __repr__(self) -> str:
        _Result.reprs += 1
        return "_Result()"


async def _produce() -> _Result:
    await asyncio.sleep(0)
    return _Result()


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler, as a fresh process has it: asyncio.run installs its handler (the one
    whose lookup reprs the task) only over that one, and a test run in the same worker before may have
    left another (a session's CLI in process)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.usefixtures("default_sigint")
def test_asyncio_run_when_it_returns_the_result_then_python_reprs_it() -> None:
    """The cause, pinned: if a Python release stops doing this, run_returning can go."""
    _Result.reprs = 0
    asyncio.run(_produce())
    assert _Result.reprs >= 1


@pytest.mark.usefixtures("default_sigint")
def test_run_returning_when_the_coroutine_returns_then_the_value_and_no_repr() -> None:
    _Result.reprs = 0
    result = run_returning(_produce())
    assert isinstance(result, _Result)
    assert _Result.reprs == 0


def test_run_returning_when_the_coroutine_raises_then_the_error_propagates() -> None:
    async def fail() -> int:
        raise LookupError("no such bar")

    with pytest.raises(LookupError, match="no such bar"):
        run_returning(fail())
