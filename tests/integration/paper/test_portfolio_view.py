"""The live portfolio view of a real paper session on three symbols (``thunes venue serve`` in its own
process, so its balances can be read while the session is held): at two moments the session is paused
in its bar callback and ``thunes portfolio`` (a process, through the control API), the API's JSON, the
``/metrics`` scrape, the ledger's fills and the venue's balances are compared symbol by symbol; after the
stop, ``thunes portfolio`` rebuilds the same account from the data dir's ledger and the session's last
valuation. Every total adds up: equity = cash + the sum of the exposures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.venue_process import THUNES, venue_process
from thunes.adapters.control import PortfolioBody, PriceSource, ViewSource
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.app.cli.main import app
from thunes.app.config import Settings, load_settings
from thunes.control.client import discover
from thunes.control.status import AccountView
from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol
from thunes.domain.orders import Fill
from thunes.domain.position import Position
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

pytestmark = pytest.mark.slow

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
BASES = {"BTCUSDT": "BTC", "ETHUSDT": "ETH", "SOLUSDT": "SOL"}
RSI = {"rsi_period": 6, "rsi_oversold": 35.0, "rsi_overbought": 60.0}
PORTFOLIO = [
    {"symbol": "BTCUSDT", "strategy": "sma_cross"},
    {"symbol": "ETHUSDT", "strategy": "rsi_reversion", "params": RSI},
    {"symbol": "SOLUSDT", "strategy": "sma_cross"},
]
DEPOSIT = Decimal(10_000)
WARMUP = 50
WIDE = {"COLUMNS": "250"}
D0 = Decimal(0)


def _env(shared_data: Path) -> dict[str, str]:
    return {**os.environ, "THUNES_DATA__SHARED_DATA_DIR": str(shared_data), "THUNES_STRATEGY__SMA_FAST": "3",
            "THUNES_STRATEGY__SMA_SLOW": "8", "THUNES_BACKTEST__WARMUP_BARS": str(WARMUP)}  # fmt: skip


@dataclass(frozen=True)
class Moment:
    """What every view said while the session was held at one close time."""

    account: AccountView
    closes: dict[str, tuple[Decimal | None, int | None]]  # the status rows' last close and its time
    cli: PortfolioBody  # `thunes portfolio --json`, a process
    api: PortfolioBody
    table: str  # `thunes portfolio`
    status_text: str  # `thunes status`
    metrics: dict[tuple[str, frozenset[tuple[str, str]]], float]
    fills: list[Fill]  # the ledger's, in booking order
    balances: dict[str, Decimal]  # the venue's, free + locked

    def gauge(self, name: str, **labels: str) -> float:
        return self.metrics[(name, frozenset(labels.items()))]


@dataclass(frozen=True)
class Run:
    moments: list[Moment]
    final: PaperStatus
    after: PortfolioBody  # `thunes portfolio --json` once the session stopped
    after_table: str
    fills: list[Fill]


def _fills(data_dir: Path) -> list[Fill]:
    store = SqlStore.read_only(data_dir / "ledger.db")
    try:
        return store.booked_fills()
    finally:
        store.close()


def _balances(url: str) -> dict[str, Decimal]:
    """The paper account at the venue, read from a thread of its own (the session's loop is held)."""
    out: dict[str, Decimal] = {}

    async def read() -> None:
        client = BinanceClient(BinanceConfig("paper", url, url.replace("http", "ws", 1)), PAPER_API_KEY,
                               PAPER_API_SECRET)  # fmt: skip
        try:
            out.update({asset: free + locked for asset, (free, locked) in (await client.balances()).items()})
        finally:
            await client.close()

    reader = threading.Thread(target=lambda: asyncio.run(read()))
    reader.start()
    reader.join(60)
    return out


def _metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text)
            for s in f.samples}  # fmt: skip


def _cli_json(data_dir: Path) -> PortfolioBody:
    done = subprocess.run([THUNES, "portfolio", "--data-dir", str(data_dir), "--json"], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return PortfolioBody.model_validate_json(done.stdout)


def _observe(status: PaperStatus, data_dir: Path, venue: str) -> Moment:
    account = status.account
    assert account is not None and status.metrics_url is not None
    endpoint = discover(data_dir)
    assert endpoint is not None
    runner = CliRunner()
    return Moment(
        account=account, closes={s: (r.last_close, r.last_close_ns) for s, r in status.symbols.items()},
        cli=_cli_json(data_dir), api=endpoint.call("GET", "/portfolio", PortfolioBody),
        table=runner.invoke(app, ["portfolio", "--data-dir", str(data_dir)], env=WIDE).output,
        status_text=runner.invoke(app, ["status", "--data-dir", str(data_dir)], env=WIDE).output,
        metrics=_metrics(status.metrics_url), fills=_fills(data_dir), balances=_balances(venue),
    )  # fmt: skip


@pytest.fixture(scope="module")
def run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("portfolio-view")
    env = _env(shared_data)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        mp.delenv("THUNES_CONTROL_TOKEN", raising=False)
        for key, value in env.items():
            if key.startswith("THUNES_"):
                mp.setenv(key, value)
        settings: Settings = load_settings(overrides={"portfolio": PORTFOLIO})
        args = ["--symbols", ",".join(SYMBOLS), "--speed", "72000", "--warmup", str(WARMUP), "--deposit",
                f"USDT={DEPOSIT}"]  # fmt: skip
        with venue_process(args, env, tmp) as venue:
            data_dir = tmp / "paper"
            moments: list[Moment] = []
            stop = asyncio.Event()

            def on_bar(status: PaperStatus) -> None:
                held = sum(1 for r in status.symbols.values() if r.position * (r.last_close or D0) > 5)
                wanted = 2 if not moments else moments[-1].account.fills + 3
                if stop.is_set() or not held or status.filled < wanted:
                    return
                moments.append(_observe(status, data_dir, venue))
                if len(moments) == 2:
                    stop.set()

            config = PaperConfig(duration_s=120, data_dir=data_dir, venue_url=venue, control_port=0, metrics_port=0)
            final = asyncio.run(run_paper(settings, config, on_bar, stop))
        yield Run(moments, final, _cli_json(data_dir),
                  CliRunner().invoke(app, ["portfolio", "--data-dir", str(data_dir)], env=WIDE).output,
                  _fills(data_dir))  # fmt: skip


def _expected(fills: list[Fill]) -> tuple[dict[str, Decimal], Decimal]:
    """Each symbol's base balance and the quote balance the venue books for ``fills`` on the deposit."""
    held = dict.fromkeys(SYMBOLS, D0)
    cash = DEPOSIT
    for f in fills:
        symbol, sign = str(f.symbol), 1 if f.side is Side.BUY else -1
        held[symbol] += sign * f.quantity - (f.commission if f.commission_asset == BASES[symbol] else 0)
        cash -= sign * f.quantity * f.price + (f.commission if f.commission_asset == "USDT" else 0)
    return held, cash


def _positions(fills: list[Fill]) -> dict[str, Position]:
    positions = {s: Position(Symbol(s), BASES[s], "USDT") for s in SYMBOLS}
    for f in fills:
        positions[str(f.symbol)] = positions[str(f.symbol)].apply(f)
    return positions


def _adds_up(body: PortfolioBody) -> None:
    lines = body.lines
    assert [line.symbol for line in lines] == list(SYMBOLS)  # portfolio order
    for line in lines:
        assert line.price is not None
        assert line.exposure == line.quantity * line.price, line.symbol
    assert body.exposure == sum((line.exposure for line in lines), D0)
    assert body.cash is not None and body.equity == body.cash + body.exposure
    assert body.realized_pnl == sum((line.realized_pnl for line in lines), D0)
    assert body.unrealized_pnl == sum((line.unrealized_pnl for line in lines), D0)
    assert body.fees == sum((line.fees for line in lines), D0)


def test_session_when_held_twice_then_two_moments_each_with_a_position_and_new_fills(run: Run) -> None:
    assert len(run.moments) == 2
    first, second = run.moments
    assert second.account.fills >= first.account.fills + 3
    assert all(any(line.quantity for line in m.api.lines) for m in run.moments)


def test_running_when_asked_then_cli_and_api_give_the_session_valuation_and_it_adds_up(run: Run) -> None:
    for m in run.moments:
        assert m.cli == m.api  # the CLI read the running session's API, not the files
        assert m.api.source is ViewSource.SESSION
        assert (m.api.market_ns, m.api.wall_ns, m.api.fills) == (m.account.market_ns, m.account.wall_ns,
                                                                  m.account.fills)  # fmt: skip
        _adds_up(m.api)
        assert m.api.cash == m.account.valuation.cash and m.api.equity == m.account.valuation.equity
        for line in m.api.lines:
            close, close_ns = m.closes[line.symbol]
            assert (line.price, line.price_ns, line.price_source) == (close, close_ns, PriceSource.LAST_CLOSE)


def test_running_when_compared_then_each_symbol_is_the_ledger_fills_and_the_venue_balance(run: Run) -> None:
    for m in run.moments:
        held, cash = _expected(m.fills)
        positions = _positions(m.fills)
        assert m.api.fills == len(m.fills)
        assert m.api.cash == cash == m.balances.get("USDT", D0)
        for line in m.api.lines:
            position = positions[line.symbol]
            assert line.quantity == held[line.symbol] == m.balances.get(BASES[line.symbol], D0), line.symbol
            assert line.realized_pnl == position.realized_pnl and line.fees == position.fees_quote, line.symbol
            assert line.average_price == position.average_price, line.symbol
            assert line.price is not None
            expected = position.unrealized_pnl(line.price) if position.quantity else D0
            assert line.unrealized_pnl == expected, line.symbol


def test_running_when_scraped_then_per_symbol_gauges_and_account_totals_are_the_valuation(run: Run) -> None:
    for m in run.moments:
        gauge = m.gauge
        for line in m.api.lines:
            assert gauge("thunes_position", symbol=line.symbol) == float(line.quantity)
            assert gauge("thunes_exposure", symbol=line.symbol) == pytest.approx(float(line.exposure), abs=1e-9)
            assert gauge("thunes_unrealized_pnl", symbol=line.symbol) == pytest.approx(float(line.unrealized_pnl),
                                                                                      abs=1e-9)  # fmt: skip
        assert m.api.cash is not None and m.api.equity is not None
        assert gauge("thunes_cash") == float(m.api.cash)
        assert gauge("thunes_equity") == pytest.approx(float(m.api.equity), abs=1e-6)
        exposure = sum(gauge("thunes_exposure", symbol=s) for s in SYMBOLS)
        assert gauge("thunes_equity") == pytest.approx(gauge("thunes_cash") + exposure, abs=1e-6)


def test_running_when_shown_as_tables_then_portfolio_and_status_show_each_symbol_and_the_totals(run: Run) -> None:
    m = run.moments[0]
    for text in (m.table, m.status_text):
        assert "the running session's valuation" in text
        rows = [line for line in text.splitlines() if line.strip("│ ").startswith((*SYMBOLS, "total"))]
        assert [row.strip("│ ").split()[0] for row in rows] == [*SYMBOLS, "total"]
        assert "equity" in text and "(cash + exposure)" in text
    assert "trading state" in m.status_text  # the status table, then the portfolio


def test_stopped_when_read_from_the_data_dir_then_the_ledger_account_at_the_session_last_closes(run: Run) -> None:
    body, final = run.after, run.final
    held, cash = _expected(run.fills)

    assert body.source is ViewSource.LEDGER
    _adds_up(body)
    assert body.fills == len(run.fills) == final.ledger_fills
    assert body.cash == final.cash_end == cash  # the venue's balance at the stop, as the ledger's fills add up
    for line in body.lines:
        row = final.symbols[line.symbol]
        assert line.quantity == held[line.symbol] == row.venue_balance == row.position, line.symbol
        assert (line.price, line.price_source) == (row.last_close, PriceSource.LAST_CLOSE), line.symbol
        assert line.realized_pnl == row.realized_pnl, line.symbol
    assert body.equity == final.equity_end
    assert body.notes == []
    assert "rebuilt from the ledger" in run.after_table and "as of portfolio.json" in run.after_table


def test_stopped_when_the_json_is_read_then_money_is_exact_decimal_text(run: Run) -> None:
    document = json.loads(run.after.model_dump_json())

    assert isinstance(document["cash"], str) and Decimal(document["cash"]) == run.after.cash
    assert all(isinstance(line["exposure"], str) for line in document["lines"])
