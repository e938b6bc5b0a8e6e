"""``thunes new-strategy NAME``: write a working strategy on the strategy API to start from.

The file is the template of :mod:`thunes.strategy.template`: ``thunes backtest --strategy
DIR/NAME.py:ClassName`` runs it as written. An existing file is never overwritten (the user's work).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from thunes.adapters.storage.durable import create_atomically
from thunes.app.cli.options import output_location
from thunes.app.errors import fail
from thunes.strategy.template import class_name, render_template, strategy_name_problem

__all__ = ["new_strategy"]


_NAME_HELP = "The strategy's name in lower_case: the file NAME.py, the class in CamelCase."


def new_strategy(
    name: Annotated[str, typer.Argument(help=_NAME_HELP)],
    directory: Annotated[Path, typer.Option("--dir", help="Folder of the new file (made when missing).")] = Path("."),
) -> None:
    """Write DIR/NAME.py, a commented strategy (a breakout) that backtests as is, to change into your own."""
    problem = strategy_name_problem(name)
    if problem is not None:
        fail(problem)
    path = directory / f"{name}.py"
    output_location(path, "--dir", directory=False)
    if path.exists() or path.is_symlink():
        fail(f"{path} exists: new-strategy never overwrites a file (choose another NAME or --dir)")
    text = render_template(name, str(path)).encode()
    directory.mkdir(parents=True, exist_ok=True)
    try:  # never replaces: a file that appeared since the check is kept too
        create_atomically(path, text)
    except FileExistsError:
        fail(f"{path} exists: new-strategy never overwrites a file (choose another NAME or --dir)")
    spec = f"{path}:{class_name(name)}"
    typer.echo(f"wrote {path} (class {class_name(name)}, strategy API template)")
    typer.echo(f"run it:  thunes backtest --strategy {spec} --synthetic 2000")
    typer.echo(f"check:   thunes lookahead --strategy {spec} --synthetic 2000")
