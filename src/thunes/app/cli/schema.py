"""``thunes schema rl``: the JSON Schema of the RL wire models (SPEC §9).

Why: a policy written in another language (a notebook, a trading bot) validates the actions it emits,
and parses the decisions it gets back, against the same schema THUNES enforces; ``schema_version``
says which version of it.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from thunes.app.errors import fail
from thunes.rl.schemas import SCHEMA_VERSION, json_schemas

__all__ = ["schema_app"]

schema_app = typer.Typer(help="JSON Schemas of THUNES's wire formats.", no_args_is_help=True, add_completion=False)


class RlModel(StrEnum):
    ALL = "all"
    RLACTION = "RLAction"
    DECISION = "Decision"
    EXECFILL = "ExecFill"


def rl_document(model: RlModel = RlModel.ALL) -> dict[str, Any]:
    """One model's schema, or every model's under ``models`` with the schema version."""
    schemas = json_schemas()
    if model is not RlModel.ALL:
        return schemas[model.value]
    return {"title": "THUNES RL wire schemas", "schema_version": SCHEMA_VERSION, "models": schemas}


def _write(path: Path, text: str) -> None:
    """Atomically: a reader never sees half a schema."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@schema_app.command("rl")
def rl(
    model: Annotated[RlModel, typer.Option("--model", "-m", help="One model, or all of them.")] = RlModel.ALL,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema to this file instead of stdout.", dir_okay=False),
    ] = None,
) -> None:
    """Print the JSON Schema of RLAction, Decision and ExecFill (the actions a policy sends, the decisions
    and fills it gets back)."""
    text = json.dumps(rl_document(model), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        _write(output, text)
    except OSError as err:
        fail(f"{output}: cannot write schema: {err.strerror}")
    typer.echo(f"wrote {output}", err=True)
