"""The ``thunes`` command line: one entry point, sub-commands mounted from their own modules.

Only the module of the sub-command asked for is imported: all of them together (ccxt, the venue
server, Optuna, the report libraries) take seconds to import, and ``thunes status`` or ``thunes
backtest`` should not wait for them. ``thunes --help`` (or an unknown command) mounts them all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import Any

import typer

from thunes import __version__
from thunes.adapters.proc import keep_freed_memory
from thunes.app.collector import settle_process
from thunes.app.errors import OneLineErrors
from thunes.app.speedups import install

__all__ = ["BACKTEST_COMMANDS", "COMMANDS", "ENGINE_COMMANDS", "build_app", "main"]

# name -> (module, attribute, kind): "group" is a Typer mounted under the name, "command" a function.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "config": ("thunes.app.cli.config", "config_app", "group"),
    "data": ("thunes.app.cli.data", "data_app", "group"),
    "venue": ("thunes.app.cli.venue", "venue_app", "group"),
    "kill-switch": ("thunes.app.cli.risk", "kill_switch_app", "group"),
    "audit": ("thunes.app.cli.audit", "audit_app", "group"),
    "events": ("thunes.app.cli.events", "events_app", "group"),
    "params": ("thunes.app.cli.params", "params_app", "group"),
    "secrets": ("thunes.app.cli.secrets", "secrets_app", "group"),
    "capital": ("thunes.app.cli.capital", "capital_app", "group"),
    "report": ("thunes.app.cli.report", "report_app", "group"),
    "schema": ("thunes.app.cli.schema", "schema_app", "group"),
    "shadow": ("thunes.app.cli.shadow", "shadow_app", "group"),
    "lookahead": ("thunes.app.cli.research", "lookahead", "command"),
    "parity": ("thunes.app.cli.parity", "parity", "command"),
    "optimize": ("thunes.app.cli.optimize", "optimize", "command"),
    "walk-forward": ("thunes.app.cli.optimize", "walk_forward", "command"),
    "backtest": ("thunes.app.cli.backtest", "backtest", "command"),
    "new-strategy": ("thunes.app.cli.new_strategy", "new_strategy", "command"),
    "trade": ("thunes.app.cli.trade", "trade", "command"),
    "status": ("thunes.app.cli.session", "status", "command"),
    "positions": ("thunes.app.cli.session", "positions", "command"),
    "portfolio": ("thunes.app.cli.portfolio", "portfolio", "command"),
    "orders": ("thunes.app.cli.session", "orders", "command"),
}
ENGINE_COMMANDS = frozenset(
    {"venue", "report", "lookahead", "parity", "optimize", "walk-forward", "backtest", "trade", "shadow"}
)
"""The commands that run the engine: place orders (on the embedded venue, in a backtest, or live), or
decide them without placing any (shadow)."""
BACKTEST_COMMANDS = frozenset({"report", "lookahead", "parity", "optimize", "walk-forward", "backtest"})
"""The commands that run backtests: arrays of the series' size allocated and freed run after run."""


def _report_group(report_app: typer.Typer) -> typer.Typer:
    """``thunes report`` also holds ``report backtest`` (the research report), mounted once."""
    if not any(c.name == "backtest" for c in report_app.registered_commands):
        report_app.command("backtest")(import_module("thunes.app.cli.research").report)
    return report_app


def version() -> None:
    """Print the THUNES version."""
    typer.echo(f"thunes {__version__}")


def build_app(only: str | None = None) -> typer.Typer:
    """The ``thunes`` app with every sub-command, or with ``only`` that one (and ``version``)."""
    app = typer.Typer(
        name="thunes",
        help="THUNES: a crypto trading system whose backtests and live trading share one engine core.",
        cls=OneLineErrors,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for name, (module, attribute, kind) in COMMANDS.items():
        if only is not None and name != only:
            continue
        target: Any = getattr(import_module(module), attribute)
        if kind == "group":
            app.add_typer(_report_group(target) if name == "report" else target, name=name)
        else:
            command: Callable[..., Any] = target
            app.command(name)(command)
    app.command("version")(version)  # also keeps a one-command app a group: `thunes backtest` keeps its name
    return app


def _asked(argv: list[str]) -> str | None:
    """The sub-command named on the command line, when it is one of :data:`COMMANDS`."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


@cache
def _whole() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole command line (tests and tools that drive it in-process), built on first use."""
    if name != "app":
        raise AttributeError(name)
    return _whole()


def main() -> None:
    """Console-script entry point: mounts only what the command line asks for.

    What is alive once the command is mounted (modules, their tables, typer's tree) lives as long as the
    process: :func:`~thunes.app.collector.settle_process` takes it out of the cycle collector's passes
    and spaces those out, which a backtest or a session (every order and fill kept) would otherwise
    make walk the whole heap again and again. A command that runs the engine gets the faster
    constructors of what an order builds (:func:`thunes.app.speedups.install`); the others skip their
    imports (about 0.2 s). A backtest's allocator keeps the memory it frees (``keep_freed_memory``: no
    page faults again for every array of a run); a long-running session's does not (its RSS stays
    what it uses)."""
    asked = _asked(sys.argv[1:])
    if asked in ENGINE_COMMANDS:
        install()
    command = build_app(asked)
    settle_process()
    if asked in BACKTEST_COMMANDS:
        keep_freed_memory()
    command()
