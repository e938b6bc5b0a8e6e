"""What a paper (or live) session does besides trading bars: boundary jobs, operator requests and
its resume point. Split from :mod:`thunes.session.paper`, which composes the session."""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import structlog

from thunes.adapters.proc import peak_rss_bytes
from thunes.adapters.storage.control_file import ControlAction, ControlFile
from thunes.adapters.storage.durable import replace_atomically
from thunes.control.status import ControlApplied, DailySummary, PaperStatus
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.venue import OrderReport, RetryableVenueError
from thunes.engine.jobs import NS_PER_DAY, NS_PER_HOUR, SUMMARY_HOUR_UTC, Job, due_jobs
from thunes.engine.portfolio import Portfolio
from thunes.engine.trader import Trader
from thunes.execution.order_manager import OrderManager
from thunes.execution.reconciliation import Mismatch, MismatchKind, OrphanPolicy, reconcile_account
from thunes.governance.rodage import SESSION_MARKS_FILE, MarkKind, SessionMark
from thunes.session.ports import SessionStore, SessionVenue, StreamHealth

__all__ = [
    "Checkpoint",
    "ControlInbox",
    "SessionJobs",
    "SessionMarks",
    "SummaryFile",
    "patiently",
]

T = TypeVar("T")
_log = structlog.get_logger(__name__)


async def patiently(call: Callable[[], Awaitable[T]], attempts: int = 40) -> T:
    """Retry a read through a fault burst (a job or the session summary must not die of a 5xx)."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except RetryableVenueError as e:
            await asyncio.sleep(max(0.25, e.delay_s))
    return await call()


class SessionJobs:
    """The boundary jobs on the market clock (daily reset, hourly reconciliation, daily summary), for
    the whole account: run after each close time's candles and from the session's timer between them
    (:meth:`run_until`), each boundary once. Reconciliation is throttled in wall time (an accelerated
    replay crosses an hour many times a second, and the venue's request budget is shared)."""

    def __init__(self, traders: Trader | Portfolio, orders: OrderManager, client: SessionVenue, store: SessionStore,
                 status: PaperStatus, data_dir: Path, min_interval_s: float,
                 orphan_policy: OrphanPolicy = OrphanPolicy.CANCEL, *, from_ns: int | None = None) -> None:  # fmt: skip
        self.portfolio = traders if isinstance(traders, Portfolio) else Portfolio([traders])
        self.trader = next(iter(self.portfolio))  # the account's risk engine and bus are every trader's
        self.orders, self.client, self.store, self.status = orders, client, store, status
        self.orphan_policy = orphan_policy
        self.summaries = SummaryFile(data_dir / "daily_summaries.jsonl")
        self.min_interval_s = min_interval_s
        self.last_reconcile = -float("inf")
        self.done_until_ns = from_ns  # every boundary up to this market time has run (None: not started)

    async def run_until(self, now_ns: int) -> None:
        """The jobs whose boundary lies after the last run and at or before ``now_ns`` (market time)."""
        previous = self.done_until_ns
        if previous is None or now_ns <= previous:
            self.done_until_ns = now_ns if previous is None else previous
            return
        self.done_until_ns = now_ns
        await self.after_bar(previous, now_ns)

    async def after_bar(self, previous_ns: int, now_ns: int) -> None:
        for job in due_jobs(previous_ns, now_ns):
            if job is Job.DAILY_RESET:
                self.trader.risk.daily_reset()  # never the kill-switch
            elif job is Job.DAILY_SUMMARY:
                self.daily_summary(now_ns)
            elif time.monotonic() - self.last_reconcile >= self.min_interval_s:
                self.last_reconcile = time.monotonic()
                await self.reconcile()

    async def reconcile(self) -> None:
        """Ledger against venue (SPEC §4), every symbol of the account at once; drift switches to
        REDUCING via the risk engine."""
        balances = await patiently(self.client.balances)
        venue_open: list[OrderReport] = []
        for symbol in self.portfolio.symbols:
            venue_open += await patiently(functools.partial(self.client.open_orders, symbol))
        local_open = [ClientOrderId(r["client_order_id"]) for r in self.store.orders(open_only=True)]
        held = [(t.instrument, t.position.quantity) for t in self.portfolio]
        report = reconcile_account(held, balances, local_open, venue_open, orphan_policy=self.orphan_policy)
        self.status.reconciliations += 1
        self.status.mismatches += len(report.mismatches)
        self.status.last_mismatches = len(report.mismatches)
        for mismatch in report.mismatches:  # the audit trail records each one
            self.trader.bus.publish(mismatch)
        await self._settle_orders(report.mismatches, {str(r.client_order_id): r for r in venue_open})
        if report.drift:
            detail = "; ".join(f"{m.subject}: ledger {m.local} venue {m.venue}" for m in report.drift)
            self.trader.risk.on_reconciliation_drift(detail)

    async def _settle_orders(self, mismatches: Sequence[Mismatch], venue_open: Mapping[str, OrderReport]) -> None:
        """Orphans (open at the venue, unknown here) are cancelled or adopted by policy, never
        ignored; orders the ledger thinks open but the venue does not are looked up and booked by
        the trader of their symbol."""
        local = {str(r["client_order_id"]): Symbol(str(r["symbol"])) for r in self.store.orders(open_only=True)}
        for m in mismatches:
            cid = ClientOrderId(m.subject)
            if m.kind is MismatchKind.ORPHAN_ORDER and self.orphan_policy is OrphanPolicy.CANCEL:
                symbol = venue_open[m.subject].symbol
                await patiently(functools.partial(self.orders.cancel, symbol, cid))
            elif m.kind is MismatchKind.ORPHAN_ORDER:
                self.store.record_report(venue_open[m.subject])  # adopted: tracked in the ledger from now on
            elif m.kind is MismatchKind.MISSING_ORDER and m.subject in local:
                found = await self.orders.refresh(local[m.subject], cid)
                if found is not None:
                    self.portfolio.trader(found.symbol).book(found)

    def daily_summary(self, now_ns: int) -> dict[str, object]:
        """The day's figures as one JSON line, a log event and a :class:`DailySummary` on the bus:
        the account's totals, and each symbol's under ``symbols``."""
        risk, status, traders = self.trader.risk, self.status, list(self.portfolio)
        shift = SUMMARY_HOUR_UTC * NS_PER_HOUR  # the day of the newest 23:00 boundary, however late ``now`` is
        boundary = (now_ns - shift) // NS_PER_DAY * NS_PER_DAY + shift
        day = datetime.fromtimestamp(boundary / 1e9, tz=UTC).date().isoformat()
        total = self.portfolio.stats()
        positions = {str(t.instrument.symbol): t.position for t in traders}
        position = (str(traders[0].position.quantity) if len(traders) == 1
                    else ", ".join(f"{s} {p.quantity}" for s, p in positions.items()))  # fmt: skip
        summary: dict[str, object] = {
            "day": day,
            "bars": status.bars,
            "orders": total.submitted,
            "fills": total.filled,
            "position": position,
            "realized_pnl": str(sum((p.realized_pnl for p in positions.values()), Decimal(0))),
            "realized_pnl_today": str(risk.realized_pnl_today),
            "fees": str(sum((p.fees_quote for p in positions.values()), Decimal(0))),
            "denied": dict(total.denied),
            "rejected": {str(k): v for k, v in total.rejected.items()},
            "kill_switch": risk.kill_switch.active,
            "trading_state": risk.trading_state.value,
            "symbols": {str(t.instrument.symbol): _symbol_day(t) for t in traders},
        }
        if not self.summaries.append(summary):
            return summary  # written before a restart: a day is summarised once
        status.daily_summaries += 1
        _log.info("daily_summary", **summary)
        self.trader.bus.publish(DailySummary(now_ns, MappingProxyType(dict(summary))))
        return summary


def _symbol_day(trader: Trader) -> dict[str, object]:
    """One symbol's figures in the daily summary."""
    p = trader.position
    return {"orders": trader.stats.submitted, "fills": trader.stats.filled, "position": str(p.quantity),
            "realized_pnl": str(p.realized_pnl), "fees": str(p.fees_quote)}  # fmt: skip


class SummaryFile:
    """``daily_summaries.jsonl``: one line per market day, written once. A restart replays the days
    of its warm-up; a day already in the file is not written again. Each append replaces the file
    atomically, so a crash never leaves a torn line (the file is one short line a day)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.days = {day for day in map(_summary_day, self._read().splitlines()) if day is not None}

    def _read(self) -> str:
        return self.path.read_text(encoding="utf-8") if self.path.is_file() else ""

    def append(self, summary: Mapping[str, object]) -> bool:
        """Add ``summary`` (its ``day`` not yet written); False, and nothing written, when it was."""
        day = str(summary["day"])
        if day in self.days:
            return False
        text = self._read()
        if text and not text.endswith("\n"):
            text += "\n"  # a line torn by a crash of an older version stays a line of its own
        replace_atomically(self.path, (text + json.dumps(summary, sort_keys=True) + "\n").encode())
        self.days.add(day)
        return True


def _summary_day(line: str) -> str | None:
    try:
        day = json.loads(line).get("day")
    except (ValueError, AttributeError):
        return None
    return day if isinstance(day, str) else None


class ControlInbox:
    """Applies operator requests (``thunes kill-switch on|off`` while a trader runs) to the risk
    engine, between bars only, so a bar is decided under one kill-switch state."""

    def __init__(self, control: ControlFile, trader: Trader, status: PaperStatus) -> None:
        self.control, self.trader, self.status = control, trader, status
        self.lock = asyncio.Lock()  # held while a bar is processed

    def apply_pending(self) -> int:
        applied = 0
        for request in self.control.pending():
            risk = self.trader.risk
            if request.action is ControlAction.KILL_SWITCH_ON:
                risk.activate_kill_switch(request.by, request.reason)
            else:
                try:
                    risk.deactivate(request.by)
                except ValueError as e:  # an automatic actor may not switch it off: skip, say why
                    _log.warning("control_request_refused", seq=request.seq, error=str(e))
            self.control.mark_applied(request.seq)
            _log.info("control_request_applied", seq=request.seq, action=request.action.value, by=request.by)
            self.trader.bus.publish(ControlApplied(request.seq, request.action, request.by))
            applied += 1
        self.status.control_requests += applied
        self.status.kill_switch = self.trader.risk.kill_switch.active
        return applied

    async def poll(self, interval_s: float = 0.5) -> None:
        """Between bars when the market is quiet (a 1 h candle must not delay a kill-switch)."""
        while True:
            await asyncio.sleep(interval_s)
            async with self.lock:
                self.apply_pending()


class Checkpoint:
    """The last bar the trader acted on, per symbol, saved atomically after each one (the resume
    point: a restart warms up on what was traded, and trades from the next candle of each symbol).

    The file: ``{"last_bar_ns": newest, "symbols": {symbol: last}}``; one written before portfolios
    (``last_bar_ns`` alone, one symbol) holds for every symbol."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_bar_ns, self.symbols = _read_checkpoint(path) if path.is_file() else (-1, {})

    def last(self, symbol: str) -> int:
        """Open time of ``symbol``'s last traded candle (-1: none)."""
        return self.symbols.get(symbol, -1 if self.symbols else self.last_bar_ns)

    def save(self, bar_open_ns: int, symbol: str | None = None) -> None:
        symbols = dict(self.symbols)
        if symbol is not None:
            symbols[symbol] = bar_open_ns
        newest = max(bar_open_ns, self.last_bar_ns)
        replace_atomically(self.path, json.dumps({"last_bar_ns": newest, "symbols": symbols}).encode())
        self.last_bar_ns, self.symbols = newest, symbols


def _read_checkpoint(path: Path) -> tuple[int, dict[str, int]]:
    """The stored resume point; a damaged file is an error naming it, never a silent -1 (which would
    act again on every bar since the start) nor a bare decoder message."""
    try:
        stored = json.loads(path.read_bytes().decode("utf-8"))
        value, symbols = stored["last_bar_ns"], stored.get("symbols", {})
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not a THUNES checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(symbols, dict):
        raise ValueError(f"{path}: symbols must map a symbol to its last bar, got {symbols!r}")
    for name, last in [("last_bar_ns", value), *symbols.items()]:
        if type(last) is not int or last < -1:
            raise ValueError(f"{path}: {name} must be an integer >= -1, got {last!r}")
    return value, symbols


class SessionMarks:
    """``session.jsonl``: START, a BEAT per candle, STOP on a graceful stop, each with the peak RSS
    and the stream's recoveries. ``thunes report rodage`` reads uptime, crashes (a run without
    STOP), WebSocket recoveries and memory from it."""

    def __init__(self, data_dir: Path, cadence_ns: int, stats: Sequence[StreamHealth]) -> None:
        self.path, self.cadence_ns = data_dir / SESSION_MARKS_FILE, cadence_ns
        self.stats = list(stats)  # one per symbol's stream
        self.run_id = uuid.uuid4().hex

    def write(self, kind: MarkKind, ts_ns: int, status: PaperStatus) -> None:
        rss = peak_rss_bytes()
        recoveries = sum(s.reconnects - s.rotations for s in self.stats)  # planned 24 h renewals are not recoveries
        mark = SessionMark(kind=kind, ts_ns=ts_ns, run_id=self.run_id, cadence_ns=self.cadence_ns,
                           wall_ns=time.time_ns(), rss_peak_bytes=rss,
                           ws_reconnects=recoveries,
                           missed_candles=status.missed_candles)  # fmt: skip
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(mark.to_json() + "\n")
