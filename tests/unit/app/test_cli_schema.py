"""``thunes schema rl`` prints the JSON Schema that the adapter enforces: what it accepts validates, and
what it refuses (unknown fields, a non-positive quantity) is refused by the schema too."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from thunes.app.cli import main as cli
from thunes.rl import Decision, DecisionStatus, Mode

ACTION = {"ts_ns": 1, "policy_id": "ppo-1", "model_version": "v1", "symbol": "BTCUSDT", "side": "BUY",
          "order_type": "LIMIT", "qty_mode": "QUOTE", "qty_value": "50", "limit_price": "60000.1",
          "confidence": 0.8, "constraints": {"price_band_bps": 20}}  # fmt: skip


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli.build_app("schema"), ["schema", "rl", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_schema_rl_prints_every_model_with_the_schema_version() -> None:
    document = json.loads(_run())

    assert document["schema_version"] == 1
    assert set(document["models"]) == {"RLAction", "Decision", "ExecFill"}
    action = document["models"]["RLAction"]
    assert action["additionalProperties"] is False
    assert {"ts_ns", "policy_id", "symbol", "qty_value", "confidence"} <= set(action["required"])


def test_schema_rl_accepts_what_the_adapter_accepts_and_refuses_what_it_refuses() -> None:
    schema = json.loads(_run("--model", "RLAction"))
    validator = jsonschema.Draft202012Validator(schema)

    assert not list(validator.iter_errors(ACTION))
    assert list(validator.iter_errors({**ACTION, "leverage": 3}))
    assert list(validator.iter_errors({**ACTION, "qty_value": 0}))
    assert list(validator.iter_errors({**ACTION, "confidence": 2}))


def test_schema_rl_decision_validates_a_decision_the_adapter_writes(tmp_path: Path) -> None:
    out = tmp_path / "decision.json"
    _run("--model", "Decision", "--output", str(out))
    decision = Decision(action_id="a" * 32, status=DecisionStatus.REJECTED, gate="TTL", reason="TTL_EXPIRED",
                        mode=Mode.SHADOW, param_hash="0" * 64, ts_ns=5)  # fmt: skip

    validator = jsonschema.Draft202012Validator(json.loads(out.read_text()))

    assert not list(validator.iter_errors(json.loads(decision.model_dump_json())))
