"""Hostile lines: each gives exactly one REJECTED decision with a reason, never an exception, and the
stream goes on (a good line after them is still accepted)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.unit.rl.kit import MS, POLICY, rig
from thunes.rl import Decision, DecisionStatus, Gate, Mode, RLAction, action_id_of, parse_action


def _good(ts_ns: int, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"ts_ns": ts_ns, "policy_id": POLICY, "model_version": "v1", "symbol": "BTCUSDT",
                            "side": "BUY", "order_type": "MARKET", "qty_mode": "QUOTE", "qty_value": "50",
                            "confidence": 0.9}  # fmt: skip
    data.update(overrides)
    return data


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data)


def _hostile(now: int) -> list[tuple[str | bytes, Gate, str]]:
    """(line, gate, reason) of every kind of bad input the adapter must answer."""
    good = _line(_good(now))
    return [
        (good[: len(good) // 2], Gate.PARSE, "INVALID_JSON"),  # truncated
        ("x" * 1_048_576, Gate.PARSE, "LINE_TOO_LONG"),  # 1 MB
        (_line(_good(now, metadata={"blob": "y" * 1_048_576})), Gate.PARSE, "LINE_TOO_LONG"),
        (good.replace('"50"', "NaN"), Gate.PARSE, "NOT_FINITE"),
        (good.replace('"50"', '"NaN"'), Gate.PARSE, "NOT_FINITE"),
        (good.replace('"50"', "Infinity"), Gate.PARSE, "NOT_FINITE"),
        (good.replace('"50"', "-Infinity"), Gate.PARSE, "NOT_FINITE"),
        (good.replace("0.9", "NaN"), Gate.PARSE, "NOT_FINITE"),
        (good.replace('"50"', "0"), Gate.PARSE, "NON_POSITIVE_QUANTITY"),
        (good.replace('"50"', "-3"), Gate.PARSE, "NON_POSITIVE_QUANTITY"),
        (_line(_good(now, leverage=10)), Gate.PARSE, "UNKNOWN_FIELD"),
        (_line(_good(now, constraints={"price_band_bps": 10, "take_profit": 1})), Gate.PARSE, "UNKNOWN_FIELD"),
        (_line(_good(now, order_type="LIMIT")), Gate.PARSE, "INVALID_FIELD"),  # LIMIT without a price
        (_line(_good(now, side="SHORT")), Gate.PARSE, "INVALID_FIELD"),
        (_line(_good(now, confidence=1.5)), Gate.PARSE, "INVALID_FIELD"),
        ("[]", Gate.PARSE, "INVALID_JSON"),
        ("null", Gate.PARSE, "INVALID_JSON"),
        ("", Gate.PARSE, "INVALID_JSON"),
        (b"\xff\xfe{\x00", Gate.PARSE, "INVALID_JSON"),
        (_line(_good(now, symbol="DOGEUSDT")), Gate.PARSE, "UNKNOWN_SYMBOL"),
        (_line(_good(now, policy_id="rogue")), Gate.POLICY, "UNKNOWN_POLICY"),
        (_line(_good(now - 60_000 * MS)), Gate.TTL, "TTL_EXPIRED"),
    ]


@pytest.mark.parametrize("mode", [Mode.SHADOW, Mode.PAPER])
def test_hostile_lines_each_give_one_rejected_decision_and_the_stream_goes_on(mode: Mode) -> None:
    r = rig(mode)
    hostile = _hostile(r.clock.now_ns())
    lines = [line for line, _, _ in hostile] + [_line(_good(r.clock.now_ns()))]

    async def run() -> list[Decision]:
        return [(await r.adapter.act_line(line, n)).decision for n, line in enumerate(lines, start=1)]

    decisions = asyncio.run(run())

    assert len(decisions) == len(lines)
    for (_, gate, reason), decision, n in zip(hostile, decisions, range(1, len(lines)), strict=False):
        assert (decision.status, decision.gate, decision.reason, decision.line) == (
            DecisionStatus.REJECTED, gate, reason, n), decision.detail  # fmt: skip
    assert decisions[-1].status is DecisionStatus.ACCEPTED and decisions[-1].line == len(lines)
    assert r.published == decisions  # every decision went on the bus, once, in order
    assert r.venue_orders() == (1 if mode is Mode.PAPER else 0)


def test_rejected_line_decisions_are_valid_json_lines_that_parse_back() -> None:
    r = rig(Mode.SHADOW)

    for line, _, _ in _hostile(r.clock.now_ns()):
        decision = r.adapter.decide_line(line, 7)
        text = decision.model_dump_json()

        assert "\n" not in text
        assert Decision.model_validate_json(text) == decision


def test_parse_when_an_action_is_valid_then_it_round_trips_and_its_id_is_stable() -> None:
    data = _good(1_000, order_type="LIMIT", limit_price="60000.5", tif="IOC",
                 constraints={"price_band_bps": "25"}, metadata={"features": [1, 2.5]})  # fmt: skip

    action = parse_action(_line(data), symbols={"BTCUSDT"}, mode=Mode.SHADOW, param_hash="h", now_ns=0)

    assert isinstance(action, RLAction)
    again = RLAction.model_validate_json(action.model_dump_json())
    assert again == action and action_id_of(again) == action_id_of(action)
    assert action_id_of(action) != action_id_of(action.model_copy(update={"ts_ns": 1_001}))


def test_parse_of_a_bad_line_is_deterministic_so_a_replayed_bad_line_has_one_id() -> None:
    first = parse_action("{oops", symbols={"BTCUSDT"}, mode=Mode.SHADOW, param_hash="h", now_ns=0)
    second = parse_action("{oops", symbols={"BTCUSDT"}, mode=Mode.SHADOW, param_hash="h", now_ns=5)

    assert isinstance(first, Decision) and isinstance(second, Decision)
    assert first.action_id == second.action_id
