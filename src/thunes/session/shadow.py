"""A shadow session (``thunes shadow``): a policy's actions decided against a live market, nothing placed.

The market is the venue's (the embedded one, replaying recorded candles, by default): its bookTicker
stream feeds the reference price cache (with the REST book ticker as the fallback when a symbol's
stream falls silent), its trade stream the market clock. Each input line (an RLAction as JSON, from
stdin, a file, or the stub policy) gets exactly one Decision line on the output, in order; a bad line
gets a REJECTED one with its line number and the session goes on.

The adapter runs in shadow mode on the shadow account's kernel (:mod:`thunes.rl.outcomes`): its own
risk engine, order manager and traders over an in-process matching core that sees the real market's
quotes, so accepted decisions fill there at the next book (the would-be fill) and the account behaves
as if they had been placed. The venue the market comes from receives no order: the session holds its
client only for market data. Clocks: the adapter's is the wall clock (a policy's TTL and a quote's age
are real time); the shadow kernel's is the market's (the last trade time seen), so cool-downs and the
day's loss follow the market in an accelerated replay as in a real-time one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from thunes import __version__
from thunes.adapters.storage.audit_jsonl import AuditLog
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.app.audit_setup import git_sha
from thunes.app.composition import kernel_spec
from thunes.app.config import Settings
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import Symbol, VenueId
from thunes.domain.market import QuoteTick, TradeTick
from thunes.engine.kernel import build_kernel
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.execution.journal_memory import InMemoryJournal
from thunes.features.ohlcv import OHLCV
from thunes.risk.store import InMemoryRiskStore
from thunes.rl import AdapterSettings, DecisionAuditor, Mode, PolicySettings, PolicySource, ReferencePriceCache
from thunes.rl.adapter import RLAdapter
from thunes.rl.outcomes import WouldBeFill, WouldBeFills
from thunes.rl.schemas import Decision
from thunes.rl.stub import StubPolicy
from thunes.rl.summary import ShadowStats
from thunes.session.config import PaperConfig
from thunes.session.ports import MarketFeed
from thunes.session.venue import PAPER_ACCOUNT, Connection, connect
from thunes.simvenue import SimVenue

__all__ = ["MarketClock", "ShadowConfig", "ShadowOutputs", "ShadowSession", "StubSettings", "replay_window"]

SHADOW_ACCOUNT = "shadow"
SHADOW_VENUE = VenueId("shadow")
_NL = b"\n"
_BATCH = 256  # lines decided between two writes of their decisions (and audit records) and a market turn


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    """How the session runs. ``speed``: the embedded venue's replay seconds per wall second;
    ``bars``: the candles it replays (by symbol; None: the configured data); ``venue_url``: a venue
    already running instead; ``deposit``: the shadow account's quote balance; ``policies``: the
    whitelist (policy id: its settings); ``stub``: the stub policy instead of input lines, ending when
    the replay does or after ``max_actions``; ``duration_s``: end then at the latest (None: at the end
    of the input, or of the replay for the stub)."""

    speed: float = 60.0
    bars: Mapping[str, OHLCV] | None = None
    venue_url: str | None = None
    deposit: Decimal = Decimal(10_000)
    policies: Mapping[str, PolicySettings] = field(default_factory=dict)
    max_reference_age_ms: int = 2000
    stub: StubSettings | None = None
    max_actions: int | None = None
    duration_s: float | None = None
    quote_wait_s: float = 15.0  # how long to wait for every symbol's first quote before reading input
    drain_s: float = 5.0  # after the input's end, how long waiting would-be fills may wait for their book


@dataclass(frozen=True, slots=True)
class StubSettings:
    seed: int = 0
    every_s: float = 60.0


@dataclass(frozen=True, slots=True)
class ShadowOutputs:
    """Where the session writes: decisions (one JSON line per input line), the shadow log (decisions
    with their market time, and would-be fills), the audit trail directory, the summary file."""

    decisions: BinaryIO
    log: Path
    audit_dir: Path
    summary: Path


class MarketClock:
    """The market's time: the latest trade time seen on the stream (0 before the first)."""

    def __init__(self) -> None:
        self.ns = 0

    def now_ns(self) -> int:
        return self.ns

    def on_trade(self, ts_ns: int) -> None:
        self.ns = max(self.ns, ts_ns)


class ShadowSession:
    """One shadow session on ``symbols``; :meth:`run` it with the input lines (None with the stub)."""

    def __init__(self, settings: Settings, config: ShadowConfig, symbols: Sequence[str], outputs: ShadowOutputs,
                 *, wall_ns: Callable[[], int] = time.time_ns) -> None:  # fmt: skip
        if not symbols:
            raise ValueError("a shadow session needs at least one symbol")
        if not config.policies:
            raise ValueError("a shadow session needs at least one whitelisted policy")
        self.settings, self.config, self.symbols, self.outputs = settings, config, list(symbols), outputs
        self._wall_ns = wall_ns
        self.market = MarketClock()
        self.stats = ShadowStats()
        self.lines = 0
        self.venue_orders: int | None = None
        self._log: BinaryIO | None = None
        self._auditor: DecisionAuditor | None = None
        self._out: list[bytes] = []  # decision lines not written yet, in order (see _flush)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stub: StubPolicy | None = None
        self.fallback_quotes = 0  # quotes taken from the REST book ticker (a silent stream)

    # --- run --------------------------------------------------------------------------------------
    async def run(self, lines: AsyncIterator[bytes] | None) -> dict[str, Any]:
        """Decide every line (or the stub's actions) while the market runs; the summary at the end."""
        started = self._wall_ns()
        conn = await connect(self.settings, self._paper_config(), None, [Symbol(s) for s in self.symbols])
        if conn.running is not None:
            conn.running.driver.pause()  # until the streams are subscribed: no market lost before
        try:
            info = await conn.client.exchange_info()
            assert conn.market is not None  # a Binance-speaking venue gives its market feed
            self._build(info)
            self.outputs.log.parent.mkdir(parents=True, exist_ok=True)
            with self.outputs.log.open("wb") as self._log, AuditLog(self.outputs.audit_dir, fsync=False) as audit:
                self._auditor = DecisionAuditor(audit, app_version=__version__, git_sha=git_sha(), hold=_BATCH)
                self._auditor.attach(self.kernel.bus)
                try:
                    await self._session(conn, conn.market, lines)
                finally:
                    self._flush()
            self.venue_orders = self._count_venue_orders(conn)
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if conn.running is not None:
                await conn.running.stop()
            await conn.client.close()
        summary = self.stats.summary(
            symbols=self.symbols, input_lines=self.lines, venue_orders=self.venue_orders,
            would_be_waiting=self.fills.waiting, fallback_quotes=self.fallback_quotes,
            wall_seconds=(self._wall_ns() - started) / 1e9,
            speed=self.config.speed if self.config.venue_url is None else None, param_hash=self.adapter.param_hash,
            stub=None if self.config.stub is None else {"seed": self.config.stub.seed,
                                                        "every_s": self.config.stub.every_s},
        )  # fmt: skip
        _write_json(self.outputs.summary, summary)
        return summary

    def _paper_config(self) -> PaperConfig:
        bars = None if self.config.bars is None else dict(self.config.bars)
        return PaperConfig(duration_s=None, speed=self.config.speed, warmup_bars=0, deposit=Decimal(0),
                           venue_url=self.config.venue_url, bars=bars)  # fmt: skip

    def _build(self, info: ExchangeInfo) -> None:
        """The shadow account's kernel over its own matching core, the adapter and the would-be fills."""
        instruments = {s: info.get(s) for s in self.symbols}
        self.core = SimVenue({Symbol(s): i for s, i in instruments.items()}, self.market.now_ns,
                             fee_rate=self.settings.backtest.fee_rate, user_stream=False)  # fmt: skip
        quote_assets = {i.quote_asset for i in instruments.values()}
        for asset in quote_assets:
            self.core.deposit(SHADOW_ACCOUNT, asset, self.config.deposit)
        owner = next(iter(self.config.policies))
        pairs = [(PolicySource(owner), instruments[s]) for s in self.symbols]
        journal = InMemoryJournal()
        venue = InProcessVenue(self.core, SHADOW_ACCOUNT, info)
        spec = kernel_spec(self.settings, SHADOW_VENUE)
        self.kernel = build_kernel(spec, self.market.now_ns, venue, pairs, risk_store=InMemoryRiskStore(),
                                   journal=journal, ledger=InMemoryLedger())  # fmt: skip
        self.quotes = ReferencePriceCache(self._wall_ns, max_age_ms=self.config.max_reference_age_ms)
        settings = AdapterSettings(mode=Mode.SHADOW, venue=str(SHADOW_VENUE), policies=dict(self.config.policies),
                                   max_reference_age_ms=self.config.max_reference_age_ms,
                                   shadow_fills=True)  # fmt: skip
        self.adapter = RLAdapter.on_kernel(settings, self.kernel, journal, self.quotes, self._wall_ns,
                                           equity=self.equity)  # fmt: skip
        self.fills = WouldBeFills(self.kernel, self.market.now_ns, self._on_fill)
        self.fills.attach(self.kernel.bus)
        if self.config.stub is not None:
            self._stub = StubPolicy(instruments, seed=self.config.stub.seed, every_s=self.config.stub.every_s,
                                    equity=self.config.deposit, policy_id=owner)  # fmt: skip

    def equity(self) -> Decimal | None:
        """The shadow account's equity: its balances, each base asset at its reference mid (None while a
        held asset has no quote yet: RISK sizing then refuses rather than guess)."""
        total = Decimal(0)
        by_base = {i.base_asset: s for s, i in self.adapter.instruments.items()}
        for asset, balance in self.core.balances(SHADOW_ACCOUNT).items():
            symbol = by_base.get(asset)
            if symbol is None:
                total += balance.total
                continue
            quote = self.quotes.peek(symbol)
            if quote is None:
                return None
            total += balance.total * quote.mid
        return total

    async def _session(self, conn: Connection, market: MarketFeed, lines: AsyncIterator[bytes] | None) -> None:
        for symbol in self.symbols:
            self._spawn(self._quote_pump(market, symbol))
            self._spawn(self._trade_pump(market, symbol))
        self._spawn(self._fallback(market))
        if conn.running is not None:
            await asyncio.sleep(0.5)  # let the subscriptions settle before the market moves
            conn.running.driver.resume()
        await self._first_quotes()
        if lines is not None:
            self._spawn(self._read(lines))
        elif conn.running is not None:
            self._spawn(self._until(conn.running.driver.finished.wait()))
        if self.config.duration_s is not None:
            self._spawn(self._until(asyncio.sleep(self.config.duration_s)))
        await self._stop.wait()

    def _spawn(self, work: Any) -> None:
        self._tasks.append(asyncio.ensure_future(work))

    async def _until(self, event: Any) -> None:
        await event
        self._stop.set()

    async def _first_quotes(self) -> None:
        deadline = time.monotonic() + self.config.quote_wait_s
        while time.monotonic() < deadline and any(self.quotes.peek(s) is None for s in self.symbols):
            await asyncio.sleep(0.02)

    # --- the market -------------------------------------------------------------------------------
    async def _quote_pump(self, market: MarketFeed, symbol: str) -> None:
        async for tick in market.watch_book_ticker(Symbol(symbol)):
            await self.on_quote(tick)

    async def on_quote(self, tick: QuoteTick) -> None:
        """A bookTicker: the reference price, the shadow core's book, the would-be fills waiting for it."""
        self.quotes.on_quote_tick(tick)
        symbol = str(tick.symbol)
        if tick.bid_price > 0 and tick.ask_price >= tick.bid_price:
            core = self.core
            core.on_quote(symbol, tick.bid_price, tick.bid_quantity, tick.ask_price, tick.ask_quantity)
            if core.avg_price(symbol) is None:  # no trade seen yet: its NOTIONAL check prices at the bid
                core.on_trade(symbol, tick.bid_price, Decimal(0))  # (Binance's avgPrice is trades'; none known)
            await self.fills.on_book(symbol)

    async def _trade_pump(self, market: MarketFeed, symbol: str) -> None:
        async for tick in market.watch_trades(Symbol(symbol)):
            await self.on_trade(tick)

    async def on_trade(self, tick: TradeTick) -> None:
        """A trade: the market's clock, the shadow core's last price, and the stub's pace."""
        self.market.on_trade(tick.ts_ns)
        self.core.on_trade(str(tick.symbol), tick.price, tick.quantity)
        stub = self._stub
        if stub is None or self._stop.is_set():
            return
        for _ in range(stub.due(self.market.ns)):
            quotes = {s: q for s in self.symbols if (q := self.quotes.peek(s)) is not None}
            action = stub.action(quotes, self._wall_ns())
            if action is not None:
                self.decide(action.model_dump_json().encode())
        self._flush()

    async def _fallback(self, market: MarketFeed) -> None:
        """The REST book ticker for a symbol whose stream has been silent for half the allowed age."""
        half = self.config.max_reference_age_ms / 2
        while True:
            await asyncio.sleep(half / 1000)
            for symbol in self.symbols:
                age = self.quotes.age_ms(symbol)
                if age is not None and age < half:
                    continue
                try:
                    tick = await market.book_ticker(Symbol(symbol))
                except Exception:  # noqa: S112 - no answer is no fresh quote (STALE_REFERENCE), never a crash
                    continue
                self.fallback_quotes += 1
                await self.on_quote(tick)  # a book like the stream's: the reference, and the would-be fills

    # --- decisions --------------------------------------------------------------------------------
    async def _read(self, lines: AsyncIterator[bytes]) -> None:
        try:
            async for line in lines:
                self.decide(line)
                if self.config.max_actions is not None and self.lines >= self.config.max_actions:
                    break
                if self.lines % _BATCH == 0:
                    self._flush()
                    await asyncio.sleep(0)  # the market streams run between batches
            self._flush()
            await self._drain()
        finally:
            self._flush()
            self._stop.set()

    async def _drain(self) -> None:
        """After the last line: the would-be fills still waiting get up to ``drain_s`` for their next book."""
        deadline = time.monotonic() + self.config.drain_s
        while self.fills.waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def decide(self, line: bytes) -> Decision:
        """One line, one decision: written to the decisions output and the shadow log, counted."""
        self.lines += 1
        decision = self.adapter.decide_line(line, self.lines)
        text = decision.model_dump_json().encode()
        self._out.append(text)
        market = self.market.ns
        assert self._log is not None
        self._log.write(b'{"record":"decision","market_ns":%d,' % market + text[1:] + _NL)
        self.stats.add_decision(decision.status.value, None if decision.gate is None else decision.gate.value,
                                decision.reason, decision.latency_us, market, decision.placed)  # fmt: skip
        if self._stub is not None and self.config.max_actions is not None and self.lines >= self.config.max_actions:
            self._stop.set()
        return decision

    def _on_fill(self, fill: WouldBeFill) -> None:
        record = fill.record()
        self.stats.add(record)
        if self._log is not None:
            self._log.write(json.dumps(record, separators=(",", ":")).encode() + _NL)

    def _flush(self) -> None:
        """Write the decisions held since the last flush, in one write, after their audit records: no
        decision reaches the output before its record is in the trail."""
        if self._auditor is not None:
            self._auditor.flush()
        if self._out:
            out, self._out = self._out, []
            out.append(b"")
            self.outputs.decisions.write(_NL.join(out))
        self.outputs.decisions.flush()

    def _count_venue_orders(self, conn: Connection) -> int | None:
        """Orders the embedded venue holds for its one account (None: a venue this session did not start)."""
        if conn.running is None:
            return None
        venue = conn.running.state.venue
        return sum(len(venue.all_orders(PAPER_ACCOUNT, s)) for s in self.symbols)


def _write_json(path: Path, data: Any) -> None:
    """Atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def replay_window(bars: Mapping[str, OHLCV], days: float, start_ns: int | None = None) -> dict[str, OHLCV]:
    """``days`` of each symbol's candles (same open times for all), from ``start_ns`` or ending with the
    last candle; ValueError when that leaves none."""
    first = next(iter(bars.values())).open_time_ns
    span = int(days * 86_400 * 1_000_000_000)
    begin = int(first[-1]) + 1 - span if start_ns is None else start_ns
    out = {}
    for symbol, series in bars.items():
        times = series.open_time_ns
        lo = int(np.searchsorted(times, begin, side="left"))
        hi = int(np.searchsorted(times, begin + span, side="left"))
        if hi <= lo:
            raise ValueError(f"no {symbol} candles in the {days:g} days from {begin} ns")
        out[symbol] = series.slice(lo, hi)
    return out
