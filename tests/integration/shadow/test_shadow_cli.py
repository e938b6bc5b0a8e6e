"""``thunes shadow`` as a process against real venues on sockets: a venue of its own (``thunes venue
serve``, whose orders are counted over its REST API afterwards) fed a stream of good and hostile lines on
stdin; and the accelerated 7-day run of the stub policy on the embedded venue (a recorded week of four
symbols), whose log then goes through ``thunes shadow report`` and the validation notebook, executed
headless. Nothing of ours is mocked; no timing is asserted."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.venue_process import THUNES, venue_process
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.domain.identifiers import Symbol
from thunes.rl import Decision, DecisionStatus, Gate

pytestmark = pytest.mark.slow

SYMBOLS = ("BTCUSDT", "ETHUSDT")
WEEK = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "rl_shadow_validation.ipynb"


def _env(shared_data: Path) -> dict[str, str]:
    return {**os.environ, "THUNES_DATA__SHARED_DATA_DIR": str(shared_data)}


def _action(symbol: str = "BTCUSDT", **over: Any) -> dict[str, Any]:
    """A MARKET BUY of 12 USDT, confident, made now, valid for two minutes (the session waits for quotes)."""
    return {"ts_ns": time.time_ns(), "policy_id": "ppo", "model_version": "v1", "symbol": symbol, "side": "BUY",
            "order_type": "MARKET", "qty_mode": "QUOTE", "qty_value": "12", "confidence": 0.9, "ttl_ms": 120_000,
            **over}  # fmt: skip


def _venue_orders(url: str) -> int:
    """Every order the venue holds for its (only) account, read over its REST API."""

    async def count() -> int:
        client = BinanceClient(BinanceConfig("paper", url, url.replace("http", "ws", 1)), PAPER_API_KEY,
                               PAPER_API_SECRET)  # fmt: skip
        try:
            return sum([len(await client.recent_orders(Symbol(s))) for s in SYMBOLS])
        finally:
            await client.close()

    return asyncio.run(count())


@dataclass(frozen=True)
class Stdin:
    lines: list[bytes]
    decisions: list[Decision]
    summary: dict[str, Any]
    log: list[dict[str, Any]]
    venue_orders: int
    returncode: int


@pytest.fixture(scope="module")
def stdin_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Stdin:
    tmp = tmp_path_factory.mktemp("shadow-stdin")
    env = _env(shared_data)
    good = json.dumps(_action()).encode()
    lines = [
        good,
        b'{"ts_ns": 1, "policy_id": "ppo", "model_ver',  # truncated
        json.dumps(_action("ETHUSDT", confidence=0.1)).encode(),  # low confidence
        b'{"ts_ns": 1, "qty_value": NaN}',
        json.dumps(_action(policy_id="rogue")).encode(),
        json.dumps(_action("DOGEUSDT")).encode(),
        json.dumps(_action(ts_ns=1)).encode(),  # stale
        b"x" * 1_000_000,
        b"",
        b"\xff\xfe not utf-8",
        json.dumps(_action("ETHUSDT", side="SELL")).encode(),  # nothing held
        good,  # the first replayed: never a second order
        *[good] * 3000,  # and replayed again and again
    ]
    with venue_process(["--symbols", ",".join(SYMBOLS), "--speed", "600"], env, tmp) as url:
        done = subprocess.run([THUNES, "shadow", "--venue-url", url, "--symbols", ",".join(SYMBOLS), "--policy",
                               "ppo", "--out", str(tmp / "out")], input=b"\n".join(lines) + b"\n", env=env, cwd=tmp,
                              capture_output=True, timeout=120, check=False)  # fmt: skip
        orders = _venue_orders(url)
    decisions = [Decision.model_validate_json(line) for line in done.stdout.splitlines()]
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    log = [json.loads(line) for line in (tmp / "out" / "shadow-log.jsonl").read_bytes().splitlines()]
    return Stdin(lines, decisions, summary, log, orders, done.returncode)


def test_stdin_when_lines_good_and_hostile_then_one_decision_each_in_order(stdin_run: Stdin) -> None:
    assert stdin_run.returncode == 0
    assert len(stdin_run.decisions) == len(stdin_run.lines) == 3012
    assert [d.line for d in stdin_run.decisions] == list(range(1, len(stdin_run.lines) + 1))


def test_stdin_when_hostile_then_rejected_with_the_reason(stdin_run: Stdin) -> None:
    got = [(d.status, d.gate, d.reason) for d in stdin_run.decisions]
    rej = DecisionStatus.REJECTED
    assert got[0] == (DecisionStatus.ACCEPTED, None, None)
    assert got[1] == (rej, Gate.PARSE, "INVALID_JSON")
    assert got[2] == (rej, Gate.CONFIDENCE, "LOW_CONFIDENCE")
    assert got[3][:2] == (rej, Gate.PARSE)
    assert got[4] == (rej, Gate.POLICY, "UNKNOWN_POLICY")
    assert got[5] == (rej, Gate.PARSE, "UNKNOWN_SYMBOL")
    assert got[6] == (rej, Gate.TTL, "TTL_EXPIRED")
    assert got[7] == (rej, Gate.PARSE, "LINE_TOO_LONG")
    assert got[8][:2] == (rej, Gate.PARSE) and got[9][:2] == (rej, Gate.PARSE)
    assert got[10] == (rej, Gate.RISK, "INSUFFICIENT_BALANCE")
    assert got[11] == (DecisionStatus.NOOP, Gate.SUBMISSION, "DUPLICATE_ACTION")
    assert set(got[12:]) == {(DecisionStatus.NOOP, Gate.SUBMISSION, "DUPLICATE_ACTION")}
    assert {d.action_id for d in stdin_run.decisions[11:]} == {stdin_run.decisions[0].action_id}


def test_stdin_when_accepted_then_not_placed_and_the_venue_has_no_order(stdin_run: Stdin) -> None:
    accepted = stdin_run.decisions[0]
    assert accepted.placed is False and accepted.normalized_order is not None
    assert accepted.reference_price is not None and accepted.reference_age_ms is not None
    assert stdin_run.venue_orders == 0
    assert stdin_run.summary["placed"] == 0


def test_stdin_when_done_then_log_and_summary_count_every_decision(stdin_run: Stdin) -> None:
    logged = [r for r in stdin_run.log if r["record"] == "decision"]
    assert [r["action_id"] for r in logged] == [d.action_id for d in stdin_run.decisions]
    assert stdin_run.summary["decisions"] == stdin_run.summary["input_lines"] == len(stdin_run.lines)
    assert stdin_run.summary["accepted"] == 1 and stdin_run.summary["noop"] == 3001


@dataclass(frozen=True)
class Week:
    out: Path
    decisions: list[Decision]
    summary: dict[str, Any]
    stderr: str
    returncode: int


@pytest.fixture(scope="module")
def week(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Week:
    """Seven days of 1h candles of four symbols, replayed at 20,000x by the embedded venue, with the stub
    policy acting once a market minute (about 1,440 actions a day)."""
    tmp = tmp_path_factory.mktemp("shadow-week")
    done = subprocess.run([THUNES, "shadow", "--policy-stub", "--seed", "7", "--symbols", ",".join(WEEK), "--days",
                           "7", "--speed", "20000", "--out", str(tmp / "out")], env=_env(shared_data), cwd=tmp,
                          capture_output=True, timeout=300, check=False)  # fmt: skip
    decisions = [Decision.model_validate_json(line) for line in done.stdout.splitlines()]
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    return Week(tmp / "out", decisions, summary, done.stderr.decode(), done.returncode)


def test_week_when_replayed_then_nothing_reaches_the_venue_and_each_action_one_decision(week: Week) -> None:
    assert week.returncode == 0, week.stderr
    assert week.summary["venue_orders"] == 0 and week.summary["placed"] == 0
    assert len(week.decisions) == week.summary["decisions"] == week.summary["input_lines"]
    assert [d.line for d in week.decisions] == list(range(1, len(week.decisions) + 1))
    assert len({d.action_id for d in week.decisions}) == len(week.decisions)


def test_week_when_replayed_then_over_1000_actions_a_day_across_the_symbols(week: Week) -> None:
    assert week.summary["market_days"] > 6
    assert week.summary["actions_per_day"] > 1000
    assert {d.symbol for d in week.decisions} == set(WEEK)


def test_week_when_summarised_then_no_filters_rejection_and_the_rates_are_reported(week: Week) -> None:
    summary = week.summary
    assert "FILTERS" not in summary["rejections_by_gate"]
    assert summary["rejections_by_gate"] and 0 < summary["acceptance_rate"] < 1
    assert all(summary["latency_us"][k] is not None for k in ("p50", "p95", "p99"))
    assert sum(summary["would_be_fills"].values()) + summary["would_be_waiting"] == summary["accepted"]
    assert "acceptance rate" in week.stderr and "rejections by gate" in week.stderr


def test_week_when_reported_then_one_html_file_with_every_view(week: Week) -> None:
    target = week.out / "report.html"
    done = subprocess.run([THUNES, "shadow", "report", str(week.out / "shadow-log.jsonl"), "-o", str(target)],
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = target.read_text()
    for title in ("Decision latency", "Rejections by gate", "Rejections by reason", "Slippage delta",
                  "Actions per market day"):  # fmt: skip
        assert title in page
    assert page.count("<svg") == 5 and "src=" not in page  # self-contained: nothing loaded beside it


def test_week_when_the_notebook_runs_on_its_log_then_no_cell_fails(week: Week) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["SHADOW_LOG"] = str(week.out / "shadow-log.jsonl")  # the kernel inherits this environment
    try:
        nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(week.out)}}).execute()  # fmt: skip
    finally:
        del os.environ["SHADOW_LOG"]
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert f"{week.summary['decisions']:,} decisions" in printed


def test_stream_silent_when_deciding_then_the_rest_book_ticker_gives_a_fresh_reference(
    shared_data: Path, tmp_path: Path
) -> None:
    """At speed 1 the venue's 1h candles quote every 15 minutes: the bookTicker stream is silent longer
    than a reference may be old (2 s), so every fresh reference here came from the REST fallback."""
    env = _env(shared_data)
    line = json.dumps(_action()).encode()
    with venue_process(["--symbols", "BTCUSDT", "--speed", "1"], env, tmp_path) as url:
        done = subprocess.run([THUNES, "shadow", "--venue-url", url, "--symbols", "BTCUSDT", "--policy", "ppo", "--out",
                               str(tmp_path / "out")], input=line + b"\n", env=env, cwd=tmp_path, capture_output=True,
                              timeout=120, check=False)  # fmt: skip
        orders = _venue_orders_of(url, "BTCUSDT")
    assert done.returncode == 0, done.stderr
    decision = Decision.model_validate_json(done.stdout)
    assert decision.status is DecisionStatus.ACCEPTED and decision.reference_age_ms is not None
    assert decision.reference_age_ms <= 2000
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["fallback_quotes"] >= 1
    assert summary["would_be_fills"] == {"FILLED": 1}  # the next REST book filled it on the shadow account
    assert orders == 0


def _venue_orders_of(url: str, symbol: str) -> int:
    async def count() -> int:
        client = BinanceClient(BinanceConfig("paper", url, url.replace("http", "ws", 1)), PAPER_API_KEY,
                               PAPER_API_SECRET)  # fmt: skip
        try:
            return len(await client.recent_orders(Symbol(symbol)))
        finally:
            await client.close()

    return asyncio.run(count())
