"""Progress bars for long replays and searches: on stderr, and only when it is a terminal.

Why: stdout carries the command's result (tables, ``--json``) and a pipe, a log or a test must receive
that and nothing else; a person at a terminal wants to see that a long parity replay or optimisation moves.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, ProgressColumn

__all__ = ["progress_bar"]


def progress_bar(*columns: str | ProgressColumn) -> Progress:
    """A transient progress bar on stderr, disabled (it draws nothing) unless stderr is a terminal."""
    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
