"""Operator requests from the API and Telegram take the CLI's path: posted to the control file,
applied by the trader's inbox between candles. ``/stopentry`` is the kill-switch's REDUCING."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from thunes.adapters.alerts import Command
from thunes.adapters.control import OperatorAction
from thunes.adapters.storage.control_file import ControlAction, ControlFile
from thunes.control.session_control import SessionControl
from thunes.control.status import AccountView, ControlApplied, PaperStatus
from thunes.domain.identifiers import Symbol
from thunes.domain.position import Position
from thunes.engine.bus import InMemoryBus
from thunes.engine.portfolio import valuation_of
from thunes.risk import RiskEngine, RiskLimits, TradingState
from thunes.session.jobs import ControlInbox

NOW_NS = 1_700_000_000_000_000_000


def _session(tmp_path: Path, wait_s: float = 10.0) -> tuple[SessionControl, ControlInbox, Any]:
    trader = SimpleNamespace(risk=RiskEngine(RiskLimits(), lambda: NOW_NS), bus=InMemoryBus())
    status = PaperStatus()
    control = SessionControl(ControlFile(tmp_path), trader, store=None, status=status, wait_s=wait_s)  # type: ignore[arg-type]
    return control, ControlInbox(ControlFile(tmp_path), trader, status), trader  # type: ignore[arg-type]


async def _with_inbox(inbox: ControlInbox, work: Any) -> Any:
    """``work`` while the trader's inbox applies requests, as between candles."""
    polling = asyncio.ensure_future(inbox.poll(interval_s=0.01))
    try:
        return await work
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)


def test_stop_entry_when_requested_then_kill_switch_on_so_exits_still_pass(tmp_path: Path) -> None:
    control, inbox, trader = _session(tmp_path)
    applied: list[ControlApplied] = []
    trader.bus.subscribe(ControlApplied, applied.append)

    result = asyncio.run(_with_inbox(inbox, control.request(OperatorAction.STOP_ENTRY, " @bob ", "")))

    (posted,) = [json.loads(line) for line in (tmp_path / "control.jsonl").read_text().splitlines()]
    assert (posted["action"], posted["by"], posted["reason"]) == (
        ControlAction.KILL_SWITCH_ON,
        "@bob",
        "stop entry: manual",
    )
    assert result.applied is True
    assert (result.was_active, result.kill_switch) == (False, True)
    assert trader.risk.trading_state is TradingState.REDUCING  # not HALTED: a held position can still be sold
    assert [(a.seq, a.by) for a in applied] == [(1, "@bob")]


@pytest.mark.parametrize("by", ["", "   ", "risk-engine", "reconciliation"])
def test_kill_switch_off_when_not_a_person_then_refused_before_anything_is_posted(tmp_path: Path, by: str) -> None:
    control, _, _ = _session(tmp_path)

    with pytest.raises(ValueError, match="kill-switch off"):
        asyncio.run(control.request(OperatorAction.KILL_SWITCH_OFF, by, "manual"))

    assert not (tmp_path / "control.jsonl").exists()


def test_request_when_no_trader_applies_it_in_time_then_answered_as_posted(tmp_path: Path) -> None:
    control, _, trader = _session(tmp_path, wait_s=0.05)

    result = asyncio.run(control.request(OperatorAction.KILL_SWITCH_ON, "ops", "drill"))

    assert (result.seq, result.applied, result.kill_switch) == (1, False, False)
    assert trader.risk.kill_switch.active is False  # nothing but the trader's inbox changes the risk state


def test_telegram_killswitch_when_off_without_username_then_refused_and_with_one_applied(tmp_path: Path) -> None:
    control, inbox, trader = _session(tmp_path)
    trader.risk.activate_kill_switch("ops", "drill")
    handlers = control.telegram_commands()

    async def scenario() -> tuple[str, str]:
        shown = await handlers["killswitch"](Command("killswitch", (), 11, None))
        with pytest.raises(ValueError, match="username"):
            await handlers["killswitch"](Command("killswitch", ("off",), 11, None))
        done = await _with_inbox(inbox, handlers["killswitch"](Command("killswitch", ("OFF",), 11, "alice")))
        return shown, done

    shown, done = asyncio.run(scenario())

    assert shown.startswith("kill-switch ON by ops: drill. Usage:")
    assert done == "kill-switch OFF"
    assert (trader.risk.kill_switch.active, trader.risk.kill_switch.by) == (False, "@alice")


def test_telegram_profit_when_valued_then_the_portfolio_figures_and_before_then_cash_not_known(tmp_path: Path) -> None:
    control, _, _ = _session(tmp_path)
    control.state.quote_asset, control.state.equity_start = "USDT", Decimal(10_000)
    profit = control.telegram_commands()["profit"]
    before = asyncio.run(profit(Command("profit", (), 11, None)))
    position = Position(Symbol("BTCUSDT"), "BTC", "USDT", Decimal("0.002"), Decimal("120.2"), Decimal("1.5"),
                        Decimal("0.3"))  # fmt: skip
    value = valuation_of(Decimal("9881.3"), [position], {Symbol("BTCUSDT"): Decimal("61000")})
    control.state.account = AccountView(value, 0, 0, 3, "test")

    after = asyncio.run(profit(Command("profit", (), 11, None)))

    assert "cash not known yet" in before and "equity not known yet" in before
    assert after.splitlines() == [
        "realised PnL 1.5000 USDT (net of fees 0.3000)",
        "today 0.0000, unrealised 1.8000",  # 0.002 x 61000 - 120.2
        "cash 9,881.3000, exposure 122.0000, equity 10,003.3000",
        "equity at start 10,000.0000",
    ]
