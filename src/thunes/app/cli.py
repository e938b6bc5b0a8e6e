"""The ``thunes`` command line: one entry point, sub-commands mounted from their own modules."""

from __future__ import annotations

import typer

from thunes import __version__
from thunes.app.cli_audit import audit_app
from thunes.app.cli_backtest import backtest
from thunes.app.cli_capital import capital_app
from thunes.app.cli_config import config_app
from thunes.app.cli_data import data_app
from thunes.app.cli_optimize import optimize, walk_forward
from thunes.app.cli_params import params_app
from thunes.app.cli_parity import parity
from thunes.app.cli_report import report_app
from thunes.app.cli_research import lookahead
from thunes.app.cli_research import report as backtest_report
from thunes.app.cli_risk import kill_switch_app
from thunes.app.cli_secrets import secrets_app
from thunes.app.cli_session import orders, positions, status
from thunes.app.cli_trade import trade
from thunes.app.cli_venue import venue_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="thunes",
    help="THUNES: a crypto trading system whose backtests and live trading share one engine core.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(venue_app, name="venue")
app.add_typer(kill_switch_app, name="kill-switch")
app.add_typer(audit_app, name="audit")
app.add_typer(params_app, name="params")
app.add_typer(secrets_app, name="secrets")
app.add_typer(capital_app, name="capital")
report_app.command("backtest")(backtest_report)
app.add_typer(report_app, name="report")
app.command("lookahead")(lookahead)
app.command("parity")(parity)
app.command("optimize")(optimize)
app.command("walk-forward")(walk_forward)
app.command("backtest")(backtest)
app.command("trade")(trade)
app.command("status")(status)
app.command("positions")(positions)
app.command("orders")(orders)


@app.command()
def version() -> None:
    """Print the THUNES version."""
    typer.echo(f"thunes {__version__}")


def main() -> None:
    """Console-script entry point."""
    app()
