"""The trading process loads every command (``thunes.app.cli.main``); heavy libraries that only some
commands need must stay out of it, or the 200 MB soak budget (SPEC §7) is gone."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pyarrow", "duckdb", "pandas", "matplotlib", "plotly", "optuna", "scipy", "boto3", "empyrical", "numba")


def test_cli_import_when_loaded_then_no_heavy_research_or_file_library_is_imported() -> None:
    code = f"import sys, json, thunes.app.cli.main; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)

    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
