"""The record: canonical JSON, exact decimals, immutability, and what the hash covers."""

from __future__ import annotations

import dataclasses
import json
import uuid
from decimal import Decimal

import pytest

from tests.unit.governance import CONTEXT, T0, record
from thunes.domain import ClientOrderId, Side, Symbol
from thunes.governance import GENESIS_HASH, AuditEvent, AuditRecordError, record_from_json
from thunes.governance.audit_schema import AuditRecord, canonical_json, compute_hash, seal, seal_json


def test_canonical_json_when_keys_unordered_then_sorted_and_compact() -> None:
    text = canonical_json({"b": 1, "a": {"d": "x", "c": None}})

    assert text == '{"a":{"c":null,"d":"x"},"b":1}'


def test_record_when_sealed_then_line_round_trips_exactly() -> None:
    original = seal(record(side=Side.BUY, reason="ok", metadata={"price": Decimal("0.00000001"), "n": [1, 2]}),
                    GENESIS_HASH)  # fmt: skip

    parsed = record_from_json(original.to_json())

    assert parsed == original
    assert parsed.metadata["price"] == "0.00000001"
    assert compute_hash(parsed) == original.hash
    assert json.loads(original.to_json())["ts_ns"] == T0


def test_record_when_built_then_has_uuid4_and_schema_version() -> None:
    r = record()

    assert uuid.UUID(r.event_id).version == 4
    assert r.schema_version == 1
    assert not r.sealed


def test_record_when_money_is_a_float_then_refused() -> None:
    with pytest.raises(AuditRecordError, match="float"):
        record(metadata={"price": 50000.01})


def test_record_when_decimal_trailing_zeros_then_kept_as_written() -> None:
    r = record(metadata={"qty": Decimal("1.50000000")})

    assert '"qty":"1.50000000"' in r.to_json()


def test_record_when_identifiers_are_typed_then_stored_as_plain_text() -> None:
    r = record(symbol=Symbol("ETHUSDT"), client_order_id=ClientOrderId("abc"))

    assert type(r.symbol) is str
    assert type(r.client_order_id) is str


def test_record_when_mutated_then_refused_deeply() -> None:
    r = record(metadata={"nested": {"a": [1]}})

    with pytest.raises(dataclasses.FrozenInstanceError):
        r.symbol = "X"  # type: ignore[misc]
    with pytest.raises(TypeError):
        r.metadata["nested"]["a"] = 2
    assert r.metadata["nested"]["a"] == (1,)


def test_hash_when_prev_hash_differs_then_hash_differs() -> None:
    r = record()

    assert seal(r, GENESIS_HASH).hash != seal(r, "1" * 64).hash
    assert seal(r, GENESIS_HASH).hash == seal(r, GENESIS_HASH).hash


def test_hash_when_any_field_changes_then_hash_changes() -> None:
    base = seal(record(), GENESIS_HASH)

    for change in ({"reason": "x"}, {"ts_ns": T0 + 1}, {"metadata": {"price": "50000.02"}}, {"side": Side.SELL},
                   {"event": AuditEvent.ORDER_CANCELED}, {"risk_snapshot": {"kill_switch": True}}):  # fmt: skip
        changed = dataclasses.replace(base, **change)
        assert compute_hash(changed) != base.hash, change


@pytest.mark.parametrize(
    "line",
    [b"{not json", b"[]", b'{"event":"ORDER_FILLED"}', b"\xff\xfe"],
)
def test_record_from_json_when_garbled_then_error(line: bytes) -> None:
    with pytest.raises(AuditRecordError):
        record_from_json(line)


def test_record_from_json_when_unknown_event_or_field_then_error() -> None:
    data = json.loads(seal(record(), GENESIS_HASH).to_json())

    with pytest.raises(AuditRecordError):
        record_from_json(json.dumps({**data, "event": "NOPE"}))
    with pytest.raises(AuditRecordError, match="unknown"):
        record_from_json(json.dumps({**data, "extra": 1}))
    with pytest.raises(AuditRecordError, match="schema_version"):
        record_from_json(json.dumps({**data, "schema_version": 2}))


def test_context_when_recording_then_fills_who_and_build() -> None:
    r = CONTEXT.record(AuditEvent.PARAMETER_UPDATED, T0, metadata={"parameters": {"fast": 20}})

    assert (r.strategy_id, r.param_hash, r.app_version, r.git_sha) == (
        CONTEXT.strategy_id, CONTEXT.param_hash, CONTEXT.app_version, CONTEXT.git_sha)  # fmt: skip
    assert r.model_version is None


def test_seal_json_line_is_the_sealed_records_canonical_line() -> None:
    """The stored line comes from one encoding of the body with the hash spliced in: it must be exactly
    what ``to_json`` writes, whatever the text fields hold (quotes, commas, non-ASCII, None)."""
    for git, cid in (('a","metadata":{"x', None), ("é\u2028\n", 'c,"hash":1'), ("", "")):
        record = AuditRecord(event=AuditEvent.RL_DECISION, ts_ns=1, strategy_id="s", param_hash="p",
                             app_version='v"1', git_sha=git, client_order_id=cid,
                             metadata={"b": [1, "x"], "a": {"z": None}})  # fmt: skip
        sealed, line = seal_json(record, "0" * 64)
        assert line == sealed.to_json()
        assert sealed.hash == compute_hash(sealed)
        assert json.loads(line)["hash"] == sealed.hash
