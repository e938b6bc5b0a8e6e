"""How the CLI reports a bad input: one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import errno
import sys
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from thunes.adapters.storage.errors import DatabaseOpenError
from thunes.strategy.loader import strategy_fault

__all__ = ["EXIT_STRATEGY", "EXIT_USAGE", "OneLineErrors", "fail", "os_error_message"]

EXIT_USAGE = 2
EXIT_STRATEGY = 3  # the run started and a user strategy raised (1 is a verdict: look-ahead found, NO-GO)
# click's UsageError, whether typer vendors click or uses it: the one base every parse error shares.
_USAGE_ERROR: type[Exception] = typer.BadParameter.__bases__[0]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: <message>`` to stderr and exit with ``code``."""
    first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    print(f"error: {first_line}", file=sys.stderr)  # noqa: T201 - the CLI's own error channel
    raise typer.Exit(code)


def os_error_message(error: OSError) -> str:
    """``<path>: <reason>`` for a file the system refused (missing, a directory, no space, read-only...)."""
    where = " -> ".join(str(f) for f in (error.filename, error.filename2) if f is not None)
    reason = error.strerror or str(error) or type(error).__name__
    return f"{where}: {reason}" if where else reason


class OneLineErrors(TyperGroup):
    """The ``thunes`` group: what a command let through from a bad input (a bad or missing option, a file
    the system refused, a database that cannot be opened, a number too large for a count) ends as one
    ``error:`` line with exit 2 instead of a box or a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _USAGE_ERROR as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `thunes audit` alone: the help is the answer
                raise
            where = getattr(getattr(e, "ctx", None), "command_path", None)
            message: str = e.format_message()  # type: ignore[attr-defined]
            fail(f"{message} (see `{where} --help`)" if where else message)
        except OSError as e:
            if e.errno == errno.EPIPE:  # the reader went away (`| head`): click's own quiet exit
                raise
            fail(os_error_message(e))
        except DatabaseOpenError as e:
            fail(str(e))
        except OverflowError as e:  # `--limit 1e40`: Python takes the int, the array or C call under it does not
            fail(f"a number is out of range: {e}")
        except Exception as e:  # a user strategy's own bug: where in its file, not the engine's traceback
            fault = strategy_fault(e)
            if fault is None:
                raise
            fail(f"the strategy failed: {fault}", EXIT_STRATEGY)
