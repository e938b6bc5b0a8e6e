"""``asyncio.run`` for coroutines that return large results (a backtest's every fill).

On Python 3.11, ``asyncio.run`` in the main thread installs a SIGINT handler that holds the main
task, and on the way out ``signal.getsignal`` tries to map that handler to the ``Handlers`` enum:
the failed lookup formats ``repr(handler)``, which reprs the finished task and so its *result*.
For a backtest of a million bars that is seconds of string building thrown away. Here the task
returns nothing and the result travels beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_returning"]

T = TypeVar("T")


def run_returning(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``'s value, without the task ever holding it."""
    out: list[T] = []

    async def main() -> None:
        out.append(await coro)

    asyncio.run(main())
    return out[0]
