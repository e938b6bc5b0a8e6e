"""``thunes config``: show the effective settings (secrets masked) and export their JSON Schema.

Why: an operator checks what the process will actually run with (file, environment and defaults merged) before
starting it, and editors validate ``thunes.toml`` against the schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from thunes.app.config import ConfigError, load_settings, render_settings, settings_json_schema
from thunes.app.errors import fail

__all__ = ["config_app"]

config_app = typer.Typer(
    help="Inspect the configuration: effective settings and their JSON Schema.",
    no_args_is_help=True,
    add_completion=False,
)


def _to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False)


@config_app.command("show")
def show(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML file to read (default: $THUNES_CONFIG, else ./thunes.toml if present).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Print the effective settings as JSON: file, THUNES_* environment and defaults merged, secrets masked."""
    try:
        settings = load_settings(config)
    except ConfigError as err:
        fail(str(err))
    typer.echo(_to_json(render_settings(settings)))


@config_app.command("schema")
def schema(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema to this file instead of stdout.", dir_okay=False),
    ] = None,
) -> None:
    """Print the JSON Schema of the settings (every key with its type, default, bounds and unit)."""
    text = _to_json(settings_json_schema()) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        fail(f"{output}: cannot write schema: {err.strerror}")
    typer.echo(f"wrote {output}", err=True)
