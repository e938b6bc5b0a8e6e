"""A short accelerated paper session serving metrics on a free port, scraped over real HTTP after
every bar: what Prometheus would read must agree with what the session itself reports.

The scrape happens inside the session's bar callback, so trading is paused while it runs (the
endpoint answers from its own thread): each scrape and the status beside it describe one moment.
"""

from __future__ import annotations

import asyncio
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from thunes.adapters.storage.sql_store import SqlStore
from thunes.app.config import Settings, load_settings
from thunes.domain.enums import Side
from thunes.domain.orders import Fill
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

pytestmark = pytest.mark.slow  # a costly module-scoped setup: its tests stay on one xdist worker


@dataclass(frozen=True)
class Scrape:
    """One moment: the status the session reported and what its endpoint served then."""

    bars: int
    submitted: int
    filled: int
    last_close: Decimal | None
    denied: Counter[str]
    rejected: int
    kill_switch: bool
    position: Decimal
    equity_start: Decimal
    last_mismatches: int
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    text: str
    health: int
    ready: int

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def total(self, name: str) -> float:
        return sum(v for (n, _), v in self.samples.items() if n == name)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        return {dict(key)[label]: v for (n, key), v in self.samples.items() if n == name}


@dataclass(frozen=True)
class Session:
    status: PaperStatus
    scrapes: list[Scrape]
    url: str
    stream: str
    fills: list[Fill]  # the session's ledger, in booking order


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def _scrape(status: PaperStatus) -> Scrape:
    assert status.metrics_url is not None
    code, text = _get(f"{status.metrics_url}/metrics")
    assert code == 200
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return Scrape(
        bars=status.bars, submitted=status.submitted, filled=status.filled, last_close=status.last_close,
        denied=Counter(status.denied),
        rejected=sum(status.rejected.values()), kill_switch=status.kill_switch, position=status.position,
        equity_start=status.equity_start, last_mismatches=status.last_mismatches,
        samples=samples, text=text, health=_get(f"{status.metrics_url}/health")[0],
        ready=_get(f"{status.metrics_url}/ready")[0],
    )  # fmt: skip


SCRAPED_BARS = 160


@pytest.fixture(scope="module")
def session(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """One session shared by the tests below (they only read what it recorded)."""
    tmp = tmp_path_factory.mktemp("scrape")
    with pytest.MonkeyPatch.context() as env:
        env.chdir(tmp)
        env.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
        env.setenv("THUNES_STRATEGY__SMA_FAST", "3")
        env.setenv("THUNES_STRATEGY__SMA_SLOW", "8")
        settings: Settings = load_settings()
        scrapes: list[Scrape] = []
        # Until 160 bars were scraped (a fixed duration gave 96 on a loaded machine); the cap only bounds a hang.
        config = PaperConfig(duration_s=300.0, speed=72_000.0, data_dir=tmp / "paper", metrics_port=0)

        async def trade() -> PaperStatus:
            enough = asyncio.Event()

            def on_bar(status: PaperStatus) -> None:
                scrapes.append(_scrape(status))
                if len(scrapes) >= SCRAPED_BARS:
                    enough.set()

            return await run_paper(settings, config, on_bar, enough)

        status = asyncio.run(trade())
    assert status.metrics_url is not None
    store = SqlStore(f"sqlite:///{tmp / 'paper' / 'ledger.db'}")
    try:
        fills = store.fills(settings.backtest.symbol)
    finally:
        store.close()
    stream = f"klines:{settings.backtest.symbol}:{settings.backtest.timeframe}"
    return Session(status, scrapes, status.metrics_url, stream, fills)


def test_scrapes_when_session_runs_then_every_bar_served_healthy_and_ready(session: Session) -> None:
    scrapes = session.scrapes

    assert len(scrapes) == session.status.bars > 100
    assert {s.health for s in scrapes} == {200}
    assert {s.ready for s in scrapes} == {200}  # connected and reconciled while bars flow
    assert session.url.startswith("http://127.0.0.1:")


def test_scrapes_when_compared_with_the_session_then_orders_and_risk_agree(session: Session) -> None:
    last = session.scrapes[-1]

    assert last.submitted > 4  # it really traded: the comparisons below are not of zeros
    for s in session.scrapes:
        assert s.total("thunes_orders_placed_total") == s.submitted, s.bars
        assert s.total("thunes_order_latency_seconds_count") == s.submitted  # every order answered and timed
        assert s.total("thunes_orders_rejected_total") == s.rejected == 0
        # The trader counts an exit it cannot size without publishing a denial: not a bus event.
        assert s.by_label("thunes_orders_denied_total", "reason") == {
            reason: n for reason, n in s.denied.items() if reason != "EXIT_INFEASIBLE"
        }
        assert s.value("thunes_kill_switch_active") == 0 and not s.kill_switch
        assert s.value("thunes_trading_state") == 0
        assert s.value("thunes_circuit_breaker_state", venue="sim") == 0
        assert s.value("thunes_reconciliation_mismatches") == s.last_mismatches == 0
        # One symbol; what a sell leaves under the 5 USDT notional is dust the risk book forgets.
        assert s.value("thunes_open_positions") == (1 if s.position * (s.last_close or 0) >= 5 else 0), s.bars
        assert s.value("thunes_max_open_positions") == 3
        assert s.value("thunes_ws_connected", stream=session.stream) == 1
        assert s.value("thunes_ws_reconnects_total", stream=session.stream) == 0
    assert set(last.by_label("thunes_orders_placed_total", "type")) == {"MARKET"}
    assert set(last.by_label("thunes_orders_placed_total", "venue")) == {"sim"}


def _balances(fills: list[Fill], base: str, quote: str) -> tuple[Decimal, Decimal]:
    """Base and quote balance changes of ``fills``, as the venue books them (fees in either asset)."""
    base_moved = quote_moved = Decimal(0)
    for f in fills:
        sign = 1 if f.side is Side.BUY else -1
        base_moved += sign * f.quantity - (f.commission if f.commission_asset == base else 0)
        quote_moved -= sign * f.quantity * f.price + (f.commission if f.commission_asset == quote else 0)
    return base_moved, quote_moved


def test_equity_when_scraped_then_balances_rebuilt_from_the_ledger_marked_at_the_close(session: Session) -> None:
    checked = 0
    for s in session.scrapes:
        if s.last_close is None:
            continue
        base, cash = _balances(session.fills[: s.filled], "BTC", "USDT")
        expected = s.equity_start + cash + base * s.last_close

        assert s.value("thunes_equity") == pytest.approx(float(expected), abs=1e-6), s.bars
        checked += 1 if s.filled else 0
    assert checked > 100  # most scrapes came after the first fill


def test_daily_loss_used_when_scraped_then_a_fraction_of_the_limit(session: Session) -> None:
    used = [s.value("thunes_daily_pnl_used") for s in session.scrapes]

    assert all(u is not None and 0 <= u < 1 for u in used)
    assert any(u for u in used)  # some losing trade during the replay moved it


def test_endpoint_when_session_over_then_port_released(session: Session) -> None:
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{session.url}/health", timeout=5)


def test_scraped_text_when_linted_by_promtool_then_clean(session: Session, promtool: str) -> None:
    done = subprocess.run([promtool, "check", "metrics"], input=session.scrapes[-1].text, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
