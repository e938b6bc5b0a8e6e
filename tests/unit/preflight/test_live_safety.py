"""Live-mode checks that need no venue: confirmation, the capital cap, the kill-switch, and the
``thunes trade --live`` refusals that happen before anything is sent to a venue."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.app.cli.main import app
from thunes.preflight.live_safety import (
    CONFIRM_PHRASE,
    LiveRefusedError,
    capital_problems,
    capped_limits,
    confirm_live,
    kill_switch_problem,
    ledger_problem,
)
from thunes.risk import RiskEngine, RiskLimits

D = Decimal
KEY, SECRET = "AKlive-key-7777", "live-secret-8888"
NO_SECRETS_ENV = {"THUNES_BINANCE_API_KEY": None, "THUNES_BINANCE_API_SECRET": None, "THUNES_SECRETS": None}


def never_asked(question: str) -> str:
    raise AssertionError(f"nobody should have been asked: {question}")


# --- confirmation ------------------------------------------------------------------------------
def test_confirm_when_flag_given_then_passes_without_asking() -> None:
    confirm_live(True, interactive=False, ask=never_asked)


def test_confirm_when_no_terminal_and_no_flag_then_refused_without_asking() -> None:
    with pytest.raises(LiveRefusedError, match="--live needs --confirm-live"):
        confirm_live(False, interactive=False, ask=never_asked)


def test_confirm_when_person_types_the_exact_phrase_then_passes() -> None:
    asked: list[str] = []

    confirm_live(False, interactive=True, ask=lambda q: asked.append(q) or f"  {CONFIRM_PHRASE}\n")

    assert len(asked) == 1
    assert CONFIRM_PHRASE in asked[0]


@pytest.mark.parametrize("answer", ["", "y", "yes", CONFIRM_PHRASE.upper(), CONFIRM_PHRASE + "!"])
def test_confirm_when_anything_but_the_phrase_typed_then_refused(answer: str) -> None:
    with pytest.raises(LiveRefusedError, match="not confirmed"):
        confirm_live(False, interactive=True, ask=lambda _: answer)


# --- capital cap -------------------------------------------------------------------------------
def test_capped_limits_when_defaults_and_micro_live_cap_then_at_most_the_cap_at_risk() -> None:
    limits = capped_limits(RiskLimits(), D(10))  # defaults: 15 per order, 3 positions, 20 daily loss

    assert (limits.max_order_notional, limits.max_open_positions, limits.max_daily_loss) == (D(10), 1, D(10))
    assert capital_problems(limits, D(10)) == []
    assert limits.cool_down_s == RiskLimits().cool_down_s  # the rest is untouched


def test_capped_limits_when_limits_already_inside_the_cap_then_unchanged() -> None:
    limits = RiskLimits(max_order_notional=D(5), max_daily_loss=D(3), max_open_positions=2)

    assert capped_limits(limits, D(10)) == limits


def test_capital_problems_when_limits_let_more_than_the_cap_be_at_risk_then_each_named() -> None:
    found = capital_problems(RiskLimits(), D(10))  # 15 x 3 = 45 at risk, 20 daily loss

    assert len(found) == 2
    assert "allow 45 USDT in positions" in found[0]
    assert "max_daily_loss 20 is above max_capital 10" in found[1]


# --- kill-switch -------------------------------------------------------------------------------
def engine(data_dir: Path) -> RiskEngine:
    return RiskEngine(RiskLimits(), lambda: 1_000_000_000, JsonFileRiskStore(data_dir / "risk.json"))


def test_kill_switch_when_on_then_refused_naming_who_why_and_how_to_clear(tmp_path: Path) -> None:
    engine(tmp_path).activate_kill_switch("alice", "drift drill")

    problem = kill_switch_problem(tmp_path)

    assert problem is not None
    assert "kill-switch is ON" in problem
    assert "alice: drift drill" in problem
    assert "thunes kill-switch off --by NAME" in problem


def test_kill_switch_when_off_again_or_no_session_yet_then_no_problem(tmp_path: Path) -> None:
    risk = engine(tmp_path)
    risk.activate_kill_switch("alice", "drill")
    risk.deactivate("bob")

    assert kill_switch_problem(tmp_path) is None
    assert kill_switch_problem(tmp_path / "fresh") is None


def test_kill_switch_when_risk_state_damaged_then_refused(tmp_path: Path) -> None:
    (tmp_path / "risk.json").write_text("{not json")

    problem = kill_switch_problem(tmp_path)

    assert problem is not None
    assert "cannot read the risk state" in problem


# --- thunes trade --live -----------------------------------------------------------------------
@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no ./thunes.toml, and data/live lands here
    return CliRunner()


def test_trade_live_when_not_confirmed_and_no_terminal_then_refused_in_one_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trade", "--live"], env=NO_SECRETS_ENV)

    assert result.exit_code == 2
    assert result.output == (
        "error: live trading refused: --live needs --confirm-live when no one is at a terminal to confirm\n"
    )


def test_trade_live_when_confirmed_but_no_keys_then_refused_naming_the_variable(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trade", "--live", "--confirm-live"], env=NO_SECRETS_ENV)

    assert result.exit_code == 2
    assert "THUNES_BINANCE_API_KEY" in result.output


def test_trade_live_when_secrets_file_readable_by_others_then_refused_without_its_content(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(f'binance_api_key = "{KEY}"\nbinance_api_secret = "{SECRET}"\n')
    path.chmod(0o644)

    result = runner.invoke(app, ["trade", "--live", "--confirm-live", "--secrets", f"file:{path}"])

    assert result.exit_code == 2
    assert "chmod 600" in result.output
    assert KEY not in result.output
    assert SECRET not in result.output


def test_trade_live_when_kill_switch_on_then_refused_before_any_venue_call(runner: CliRunner, tmp_path: Path) -> None:
    data_dir = tmp_path / "live"
    engine(data_dir)  # a session's data dir (the CLI refuses a folder no session uses)
    on = runner.invoke(app, ["kill-switch", "on", "--reason", "drift", "--data-dir", str(data_dir)])
    env = {"THUNES_BINANCE_API_KEY": KEY, "THUNES_BINANCE_API_SECRET": SECRET, "THUNES_SECRETS": "env:"}

    result = runner.invoke(app, ["trade", "--live", "--confirm-live", "--data-dir", str(data_dir)], env=env)

    assert on.exit_code == 0
    assert result.exit_code == 2
    assert "the kill-switch is ON" in result.output
    assert KEY not in result.output
    assert SECRET not in result.output


def test_trade_live_when_default_data_dir_then_the_live_one_not_the_papers(runner: CliRunner, tmp_path: Path) -> None:
    engine(tmp_path / "data" / "live")
    runner.invoke(app, ["kill-switch", "on", "--data-dir", str(tmp_path / "data" / "live")])
    env = {"THUNES_BINANCE_API_KEY": KEY, "THUNES_BINANCE_API_SECRET": SECRET, "THUNES_SECRETS": "env:"}

    result = runner.invoke(app, ["trade", "--live", "--confirm-live"], env=env)

    assert result.exit_code == 2
    assert "kill-switch is ON in data/live" in result.output


def test_trade_live_when_combined_with_a_paper_venue_then_refused(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trade", "--live", "--confirm-live", "--venue", "binance-testnet"])

    assert result.exit_code == 2
    assert "--venue and --venue-url are for paper and testnet" in result.output


# --- ledger ------------------------------------------------------------------------------------
def test_ledger_when_no_session_yet_or_ledger_there_then_no_problem(tmp_path: Path) -> None:
    assert ledger_problem(tmp_path / "absent") is None
    engine(tmp_path).activate_kill_switch("alice", "before the first session")  # risk.json alone: no session
    assert ledger_problem(tmp_path) is None
    (tmp_path / "audit.db").touch()
    (tmp_path / "ledger.db").touch()
    assert ledger_problem(tmp_path) is None


@pytest.mark.parametrize("trace", ["audit.db", "session.jsonl"])
def test_ledger_when_a_session_ran_but_its_ledger_is_gone_then_refused(tmp_path: Path, trace: str) -> None:
    (tmp_path / trace).touch()

    problem = ledger_problem(tmp_path)

    assert problem is not None
    assert f"holds a previous session ({trace}) but no ledger.db" in problem
    assert "never started afresh" in problem
