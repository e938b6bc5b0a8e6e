"""A trading session, composed: paper trading on the embedded venue replaying a market, and the
same session on Binance's spot testnet or on Binance itself (live), through exactly the same client
code (ccxt REST + ccxt.pro streams) and the same engine core.

A session trades a portfolio (``portfolio_pairs``: the ``[[portfolio]]`` pairs, else ``backtest.symbol``
with ``[strategy]``) on one account: one kernel, one ledger, one journal, one risk state, one audit
trail. The embedded venue replays every pair's symbol on one clock; the candles of one close time reach
the portfolio in the pair order, as in a backtest (:mod:`thunes.session.candles`).

In a replay the clock is the market's: risk's UTC day, journal times and order ids follow the
candles, so an accelerated session behaves like the days it replays. A live session's clock is the
wall's, and it never wipes its ledger. A fresh paper session discards only what an earlier paper
session wrote in its data directory (``session_dir``): never a live one, nor one with other files.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import structlog

from thunes.adapters.clock import SystemClock
from thunes.adapters.storage.control_file import ControlFile
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.safety_state import RISK_FILE, SafetyReport, inspect_safety, set_aside
from thunes.adapters.storage.session_dir import prepare_session_dir
from thunes.app.audit_setup import audit_context, open_audit
from thunes.app.composition import Pair, build_strategy, kernel_spec, portfolio_pairs
from thunes.app.config import Settings
from thunes.app.logging import session_log
from thunes.control.operator import start_operator
from thunes.control.status import ControlApplied, PaperStatus, SymbolStatus
from thunes.domain.identifiers import VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.market import Bar, Timeframe
from thunes.domain.venue import RetryableVenueError
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import Clock, ManualClock
from thunes.engine.kernel import build_kernel
from thunes.engine.portfolio import Portfolio
from thunes.engine.trader import Trader
from thunes.execution.order_manager import OrderManager
from thunes.governance import AuditRecorder
from thunes.governance.rodage import MarkKind
from thunes.risk import SAFETY_ACTOR, RiskEngine
from thunes.session.account import AccountValuer
from thunes.session.bus import publish_to_nats
from thunes.session.candles import BarGate, CloseTimes
from thunes.session.config import Credentials, PaperConfig
from thunes.session.jobs import Checkpoint, ControlInbox, SessionJobs, SessionMarks, patiently
from thunes.session.observability import SessionTelemetry
from thunes.session.ports import SessionStore, SessionVenue
from thunes.session.recovery import last_close, recover_portfolio, settle_in_doubt, settle_reservations
from thunes.session.venue import connect, open_store, replayed_bars

__all__ = ["Credentials", "PaperConfig", "PaperStatus", "run_paper"]

VENUE = VenueId("sim")
LIVE_VENUE = VenueId("binance")
_log = structlog.get_logger(__name__)
_CLOCK_LEAD_S = 1.0  # Binance takes a timestamp up to 1 s ahead of its clock (rest-api.md, timing security)


async def run_paper(
    settings: Settings,
    config: PaperConfig,
    on_bar: Callable[[PaperStatus], None],
    stop: asyncio.Event | None = None,
) -> PaperStatus:
    """Trade the configured portfolio for ``config.duration_s`` (or until ``stop`` is set: SIGTERM)
    and return the final status; either way the stop is graceful (orders in doubt are settled).

    The venue is the embedded one (started here, replaying recorded candles of every pair's symbol),
    one already running (``venue_url``), or Binance (``credentials``: its spot testnet, or ``venue``
    live): the trading code is the same. A live session must have passed ``live_safety``'s checks
    first. The warm-up and the deposit not given are the backtest settings' (``backtest.warmup_bars``,
    ``backtest.initial_cash``), so a session and a backtest of the same settings start alike.
    """
    config = config.settled(settings.backtest)
    pairs = portfolio_pairs(settings)
    timeframe = Timeframe(settings.backtest.timeframe)
    gate = BarGate() if config.lockstep else None
    if config.credentials is None and config.venue_url is None:
        # The embedded venue's candles are read and checked first: a bad file changes nothing on disk.
        config = replace(config, bars=replayed_bars(settings, config, [p.symbol for p in pairs]))
    prepare_session_dir(config.data_dir, config.kind, fresh=config.fresh)  # never deletes what it did not write
    with session_log(config.data_dir):  # every line from the configured level, as JSON, in the data directory
        return await _trade(settings, config, pairs, on_bar, stop, gate, timeframe)


async def _trade(settings: Settings, config: PaperConfig, pairs: Sequence[Pair],
                 on_bar: Callable[[PaperStatus], None], stop: asyncio.Event | None, gate: BarGate | None,
                 timeframe: Timeframe) -> PaperStatus:  # fmt: skip
    """The session itself, in its prepared data directory."""
    safety = inspect_safety(config.data_dir)  # before this run writes its state: fresh, or whole, or not
    if safety.damaged:
        _log.error("risk_state_set_aside", kept=str(set_aside(config.data_dir / RISK_FILE)))
    link = await connect(settings, config, gate, [p.symbol for p in pairs])
    client, running = link.client, link.running
    store = open_store(config.data_dir)
    status = PaperStatus()
    closing = contextlib.ExitStack()  # the audit trail and the metrics endpoint, closed last
    try:
        telemetry = closing.enter_context(SessionTelemetry(config.metrics_host, config.metrics_port, status, on_bar))
        # The venue's own filters and request limits (the client budgets every call from them).
        info = await patiently(client.exchange_info)
        instruments = [info.get(pair.symbol) for pair in pairs]
        _describe(status, instruments)
        first_ns, live_from_ns = link.first_ns, link.live_from_ns
        if first_ns is None or live_from_ns is None:  # a market we did not start: what closed before now is history
            forming_ms = await patiently(lambda: client.forming_open_ms(instruments[0].symbol, timeframe))
            live_from_ns = forming_ms * 1_000_000
            first_ns = live_from_ns - (config.warmup_bars or 0) * timeframe.nanoseconds  # warm up on the latest
        clock: Clock = SystemClock() if config.live else ManualClock(first_ns)
        portfolio, orders, bus, recorder = _engine(settings, config, pairs, instruments, client, store, clock,
                                                   closing, telemetry)  # fmt: skip
        account = AccountValuer(portfolio, status, clock.now_ns, config.data_dir, bus)
        inbox = ControlInbox(ControlFile(config.data_dir), next(iter(portfolio)), status)
        inbox.apply_pending()  # requests posted while no trader ran, before the start-up check's own
        _fail_closed(portfolio.risk, safety, recorder)
        start_operator(closing, bus, portfolio, store, status, config.data_dir, control_port=config.control_port,
                       telegram=config.telegram)  # fmt: skip
        await recover_portfolio(portfolio, orders, store, lambda symbol: last_close(client, symbol, timeframe))
        await _baseline(client, store, status, account, instruments, timeframe)
        jobs = SessionJobs(portfolio, orders, client, store, status, config.data_dir, config.reconcile_min_interval_s,
                           config.orphan_policy, from_ns=clock.now_ns())  # fmt: skip
        await jobs.reconcile()  # at start (SPEC §4), then hourly
        streams = link.streams
        subscriptions = {i.symbol: telemetry.trading(streams.watch_klines(i.symbol, timeframe,
                                                                          since_ms=first_ns // 1_000_000))
                         for i in instruments}  # fmt: skip
        marks = SessionMarks(config.data_dir, timeframe.nanoseconds, [s.stats for s in subscriptions.values()])
        marks.write(MarkKind.START, clock.now_ns(), status)
        loop = _Loop(portfolio, clock, status, telemetry, account, jobs,
                     Checkpoint(config.data_dir / "checkpoint.json"), inbox, live_from_ns, marks,
                     _market_clock(client, clock), config.jobs_every_s, timeframe.nanoseconds)  # fmt: skip
        candles = CloseTimes(subscriptions, gate, None if gate is not None else config.candle_patience_s)
        finished = running.driver.finished if running is not None and config.lockstep else None
        await loop.run(candles, stop, finished, config.duration_s)
        for subscription in subscriptions.values():
            await subscription.aclose()
        await _settle(client, orders, portfolio, store, status, timeframe)
        account.at_stop(status.cash_end or Decimal(0), len(store.booked_fills()))  # the venue's cash, at last
        marks.write(MarkKind.STOP, clock.now_ns(), status)  # graceful only: a run without STOP crashed
        return status
    finally:
        await client.close()
        store.close()
        closing.close()
        if running is not None:
            await running.stop()


def _describe(status: PaperStatus, instruments: Sequence[Instrument]) -> None:
    """One status row per symbol, with its sizes; the account's quote currency, the one every pair
    is priced in (equity and the daily loss are counted in it)."""
    quotes = sorted({i.quote_asset for i in instruments})
    if len(quotes) > 1:
        raise ValueError(f"a session's pairs share one quote currency (its equity is counted in it), got {quotes}")
    for instrument in instruments:
        row = status.row(str(instrument.symbol))
        row.base_asset, row.tick_size, row.step_size = instrument.base_asset, instrument.tick_size, instrument.step_size
    status.quote_asset, status.quote_precision = quotes[0], instruments[0].quote_precision
    status.total()


def _market_clock(client: SessionVenue, clock: Clock) -> Callable[[], Awaitable[int]]:
    """The session's market time between candles: the wall's for a live session, the venue's own
    time otherwise (a replay's ``serverTime`` is its replay clock; the testnet's is the wall's)."""

    async def now() -> int:
        if not isinstance(clock, ManualClock):
            return clock.now_ns()
        return await client.server_time_ms() * 1_000_000

    return now


@dataclass(slots=True)
class _Loop:
    """The trading loop: one close time's candles at a time, in portfolio order; operator requests
    and the jobs on the market clock between them."""

    portfolio: Portfolio
    clock: Clock  # a replay's ManualClock follows the candles and the venue; a live SystemClock, the wall
    status: PaperStatus
    telemetry: SessionTelemetry
    account: AccountValuer
    jobs: SessionJobs
    checkpoint: Checkpoint
    inbox: ControlInbox
    live_from_ns: int  # candles opening before this are history: learned, never traded
    marks: SessionMarks
    market_now: Callable[[], Awaitable[int]]
    jobs_every_s: float
    cadence_ns: int  # the candles' timeframe: a moment that is a multiple of it is a close time

    async def run(self, candles: CloseTimes, stop: asyncio.Event | None, finished: asyncio.Event | None,
                  duration_s: float | None) -> None:  # fmt: skip
        self.inbox.apply_pending()  # requests posted while no trader was running
        polling = asyncio.ensure_future(self.inbox.poll())
        try:
            await _until(self._work(candles), [e for e in (stop, finished) if e is not None], duration_s)
        finally:
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling

    async def _work(self, candles: CloseTimes) -> None:
        """Trade the candles and keep the jobs on the market clock; either failing ends both."""
        tasks = [asyncio.ensure_future(self._consume(candles)), asyncio.ensure_future(self._tick())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # its error, if it failed
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _consume(self, candles: CloseTimes) -> None:
        # Closed on the way out, cancelled or not: its streams are no longer read when the session closes them.
        async with contextlib.aclosing(candles.batches()) as batches:
            async for batch in batches:
                await self._close_time(batch)
                candles.taken(batch)

    async def _close_time(self, batch: list[Bar]) -> None:
        """One close time's candles to their traders in portfolio order, then the jobs due at its close."""
        async with self.inbox.lock:  # operator requests land between close times, never inside one
            self.inbox.apply_pending()
            if isinstance(self.clock, ManualClock):  # a replay: the market's time is the candles' close
                self.clock.set(max(self.clock.now_ns(), batch[-1].close_time_ns))
            traded = [await self._step(bar) for bar in batch]  # in portfolio order, one after the other
            self.status.total()
            self.account.after_close_time()
            self.status.kill_switch = self.portfolio.risk.kill_switch.active
            if any(traded):
                self.telemetry.on_bar(self.status)
            await self.jobs.run_until(self.clock.now_ns())  # live: the wall, the time between candles too
            self.marks.write(MarkKind.BEAT, self.clock.now_ns(), self.status)

    async def _step(self, bar: Bar) -> bool:
        """One symbol's candle to its trader; False when it is only learned from (history, or traded
        before a restart: never decided on again)."""
        trader, symbol = self.portfolio.trader(bar.symbol), str(bar.symbol)
        if bar.open_time_ns < self.live_from_ns or bar.open_time_ns <= self.checkpoint.last(symbol):
            trader.warm_up(bar)
            return False
        await trader.on_bar(bar)
        self.checkpoint.save(bar.open_time_ns, symbol)
        _update(self.status.row(symbol), trader, bar)
        return True

    async def _tick(self) -> None:
        """The boundary jobs on the market clock when no candle closes (a quiet market, a stream
        down, a timeframe longer than an hour): the daily reset and the hourly reconciliation still
        run. A boundary at a close time waits for that close's candles (the order a backtest keeps:
        in lockstep the venue stands at a close time until the trader acted on it)."""
        while True:
            await asyncio.sleep(self.jobs_every_s)
            try:
                now = await self.market_now()
            except RetryableVenueError as e:  # the next tick asks again
                _log.warning("market_clock_unavailable", error=str(e))
                continue
            until = now - 1 if now % self.cadence_ns == 0 else now
            async with self.inbox.lock:
                if isinstance(self.clock, ManualClock):
                    self.clock.set(max(self.clock.now_ns(), until))
                await self.jobs.run_until(until)


def _engine(
    settings: Settings,
    config: PaperConfig,
    pairs: Sequence[Pair],
    instruments: Sequence[Instrument],
    client: SessionVenue,
    store: SessionStore,
    clock: Clock,
    closing: contextlib.ExitStack,
    telemetry: SessionTelemetry,
) -> tuple[Portfolio, OrderManager, InMemoryBus, AuditRecorder]:
    """The engine core on a fresh bus: risk (persisted), execution (journaled), a trader per pair, and
    the audit trail and the metrics subscribed to everything they publish; the bus, for the alerts."""
    venue = LIVE_VENUE if config.live else VENUE
    # live: the limits capped, so no order exceeds the capital cap; every call's outcome feeds the breaker
    spec = kernel_spec(settings, venue, max_capital=config.max_capital, remote=True,
                       settle_window_s=client.recv_window_ms / 1000 + _CLOCK_LEAD_S)  # fmt: skip
    sources = [(build_strategy(pair.strategy, i.tick_size), i) for pair, i in zip(pairs, instruments, strict=True)]
    risk_store = JsonFileRiskStore(config.data_dir / "risk.json")
    kernel = build_kernel(spec, clock.now_ns, client, sources, risk_store=risk_store, journal=store, ledger=store)
    bus, risk = kernel.bus, kernel.risk
    publish_to_nats(settings.bus, config.bus_url, config.data_dir, str(venue), bus, closing)  # first subscriber
    audit, audit_db = open_audit(config.data_dir)
    closing.callback(audit_db.close)
    closing.callback(audit.close)
    recorder = AuditRecorder(audit, audit_context(settings), risk.snapshot, clock.now_ns)
    recorder.attach(bus)
    bus.subscribe(ControlApplied, lambda _: recorder.record_switches())  # audited now, not at the next order
    telemetry.attach(bus, kernel.portfolio)
    return kernel.portfolio, kernel.orders, bus, recorder


def _fail_closed(risk: RiskEngine, safety: SafetyReport, recorder: AuditRecorder) -> None:
    """A missing, unreadable or contradictory safety state starts the session REDUCING, with the
    problems as the kill-switch's reason (audited, logged, shown by ``thunes status``): only a
    person turns it off."""
    if not safety.problems:
        return
    risk.activate_kill_switch(SAFETY_ACTOR, safety.reason)  # kept as is when it already was on
    recorder.record_switches()
    _log.error("safety_state_reducing", problems=list(safety.problems), trading_state=risk.trading_state.value)


def _held(balances: dict[str, tuple[Decimal, Decimal]], asset: str) -> Decimal:
    free, locked = balances.get(asset, (Decimal(0), Decimal(0)))
    return free + locked


async def _baseline(client: SessionVenue, store: SessionStore, status: PaperStatus, account: AccountValuer,
                    instruments: Sequence[Instrument], timeframe: Timeframe) -> None:  # fmt: skip
    """Read the account at the venue once recovered: the cash the valuation moves on from, and the
    equity at the start (the quote balance and every traded base asset at its last close)."""
    balances = await patiently(client.balances)
    quote_balance = _held(balances, status.quote_asset)
    account.start(quote_balance, len(store.booked_fills()))
    status.equity_start = quote_balance + await _holdings(client, balances, instruments, timeframe)


async def _holdings(client: SessionVenue, balances: dict[str, tuple[Decimal, Decimal]],
                    instruments: Sequence[Instrument], timeframe: Timeframe) -> Decimal:  # fmt: skip
    """Every traded base asset the account holds, valued at its symbol's last close (asked only when held)."""
    value = Decimal(0)
    for instrument in instruments:
        held = _held(balances, instrument.base_asset)
        if held:
            value += held * (await last_close(client, instrument.symbol, timeframe) or Decimal(0))
    return value


async def _settle(client: SessionVenue, orders: OrderManager, portfolio: Portfolio, store: SessionStore,
                  status: PaperStatus, timeframe: Timeframe) -> None:  # fmt: skip
    """A graceful stop settles orders left in doubt, then counts what the venue and the ledger hold,
    per symbol and for the account (equity: the quote balance and every base balance at its last close)."""
    try:
        async with asyncio.timeout(10):
            await settle_in_doubt(portfolio, orders, store)
    except TimeoutError:  # the venue did not answer: the journal keeps them in doubt for the next start
        settle_reservations(portfolio, store)  # an entry the stop cut short holds no slot
        _log.error("orders_in_doubt_at_stop", client_order_ids=[str(e.request.client_order_id)
                                                                for e in store.unresolved()])  # fmt: skip
    balances = await patiently(client.balances)
    status.cash_end = equity = _held(balances, status.quote_asset)
    for trader in portfolio:
        symbol = trader.instrument.symbol
        row = status.row(str(symbol))
        _position(row, trader)
        row.venue_trades = len(await patiently(functools.partial(client.my_trades, symbol, 0)))
        row.ledger_fills = len(store.fills(str(symbol)))
        row.venue_balance = _held(balances, trader.instrument.base_asset)
        price = row.last_close
        if row.venue_balance and price is None:
            price = await last_close(client, symbol, timeframe)
        equity += row.venue_balance * (price or Decimal(0))
    status.total()
    status.equity_end = equity


async def _until(work: Coroutine[Any, Any, None], stops: list[asyncio.Event], timeout_s: float | None) -> None:
    """Run ``work`` until it ends, one of ``stops`` is set, or ``timeout_s`` passes (``None``: never);
    then cancel it."""
    working = asyncio.ensure_future(work)
    stopping = [asyncio.ensure_future(e.wait()) for e in stops]
    await asyncio.wait({working, *stopping}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    for task in (working, *stopping):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _update(row: SymbolStatus, trader: Trader, bar: Bar) -> None:
    if row.last_bar_ns is not None:
        row.missed_candles += max(0, (bar.open_time_ns - row.last_bar_ns) // bar.timeframe.nanoseconds - 1)
    row.last_bar_ns, row.last_close_ns = bar.open_time_ns, bar.close_time_ns
    row.bars += 1
    row.last_close = bar.close
    _position(row, trader)


def _position(row: SymbolStatus, trader: Trader) -> None:
    """The row's position and counters from its trader (after each of its candles, and at the end)."""
    position = trader.position
    row.position, row.average_price = position.quantity, position.average_price
    row.realized_pnl, row.fees = position.realized_pnl, position.fees_quote
    close = row.last_close
    row.unrealized_pnl = position.unrealized_pnl(close) if close is not None and position.is_open else Decimal(0)
    row.submitted, row.filled = trader.stats.submitted, trader.stats.filled
    row.denied, row.rejected = Counter(trader.stats.denied), Counter(trader.stats.rejected)
