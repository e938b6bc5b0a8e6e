"""Run the simulated venue: build state from instruments and candles, serve it, replay the market.

Binds to 127.0.0.1 by default: the admin and fault-injection endpoints must never face a network.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from thunes.adapters.venues.simserver import faults, streams
from thunes.adapters.venues.simserver.app import build_app, make_runner
from thunes.adapters.venues.simserver.driver import ReplayDriver
from thunes.adapters.venues.simserver.exchange_info_payload import payload_from_exchange_info
from thunes.adapters.venues.simserver.journal import (
    JournalError,
    Position,
    VenueJournal,
    install,
    open_journal,
    remove_journal,
)
from thunes.adapters.venues.simserver.state import ReplayClock, ServerState
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.market import Timeframe
from thunes.simvenue.candles import CandleHistory
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay import BarClosed, ReplayEvent

__all__ = ["ListenError", "RunningVenue", "VenueConfig", "build_state", "serve_forever", "start"]


class ListenError(OSError):
    """The venue cannot listen on its address (in use, not local, not allowed)."""


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """How to run the venue; ``speed`` None replays as fast as possible; ``admin_token`` None: a
    random one (see :attr:`RunningVenue.admin_token`)."""

    host: str = "127.0.0.1"
    port: int = 8765
    speed: float | None = 60.0
    fee_rate: Decimal = Decimal("0.001")
    seed: int = 0
    warmup_bars: int = 0
    ping_interval: float = 20.0
    max_connection_seconds: float = 24 * 3600.0
    state_file: Path | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    admin_token: str | None = field(default=None, repr=False)


def build_state(
    info: ExchangeInfo,
    timeframe: Timeframe,
    *,
    fee_rate: Decimal = Decimal("0.001"),
    seed: int = 0,
    payload: dict[str, Any] | None = None,
) -> ServerState:
    """A fresh venue for ``info``'s instruments, its clock at zero until the replay starts."""
    clock = ReplayClock()
    venue = SimVenue(info.instruments, clock, fee_rate=fee_rate, seed=seed)
    return ServerState(
        venue=venue,
        exchange_info=info,
        exchange_info_payload=payload or payload_from_exchange_info(info),
        candles=CandleHistory(timeframe),
        clock=clock,
    )


@dataclass
class RunningVenue:
    """A started server: its URL (on the address really bound), state, replay driver, the tasks
    to stop, and the bearer token of its ``/admin`` endpoints."""

    state: ServerState
    runner: web.AppRunner
    driver: ReplayDriver
    config: VenueConfig
    port: int
    replay_task: asyncio.Task[None]
    host: str = "127.0.0.1"
    admin_token: str = field(default="", repr=False)
    journal: VenueJournal | None = None

    @property
    def _netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self._netloc}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._netloc}"

    async def stop(self) -> None:
        """Stop the replay and the server; the journal (when there is one) already holds everything."""
        self.replay_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.replay_task
        await self.runner.cleanup()
        if self.journal is not None:
            self.journal.commit()
            self.journal.close()


async def start(
    state: ServerState,
    events: Iterable[ReplayEvent],
    config: VenueConfig,
    deposits: Mapping[str, Mapping[str, Decimal]] | None = None,
    *,
    gate: Callable[[BarClosed], Awaitable[None]] | None = None,
    halt: Callable[[JournalError], None] | None = None,
) -> RunningVenue:
    """Serve ``state`` on ``config.host:config.port`` (0 = any free port) and start the replay.

    With ``config.state_file`` the venue journals to it and resumes from it (:mod:`journal`): accounts, ids
    and the replay position. ``halt`` is called when a journal commit fails (default: exit at once).
    """
    created = config.state_file is not None and not config.state_file.exists()
    journal = None if config.state_file is None else open_journal(config.state_file, state.venue, halt)
    if journal is not None:  # its listener goes first: its commit runs before the user data stream's flush
        state.venue.add_listener(journal.touched)
    app = build_app(state)
    hub = streams.register(app, state, streams.StreamSettings(config.ping_interval, config.max_connection_seconds))
    admin_token = config.admin_token or secrets.token_urlsafe(32)
    fault_state = faults.register(app, hub, state.venue, state.wall_ns, admin_token=admin_token,
                                  state_file=config.state_file, seed=config.seed)  # fmt: skip
    fault_state.latency_ms, fault_state.jitter_ms = config.latency_ms, config.jitter_ms
    iterator = _Lookahead(events if journal is None else journal.replayed(events))
    driver = ReplayDriver(state, hub, iterator, speed=config.speed, gate=gate)
    runner = make_runner(app)
    try:
        _prepare(state, driver, iterator, journal, config.warmup_bars, deposits)
        if journal is not None:
            install(app, journal)
        await runner.setup()
        try:
            await web.TCPSite(runner, config.host, config.port).start()
        except OSError as e:  # the address: in use, not local, not allowed
            raise ListenError(f"cannot listen on {config.host} port {config.port}: {e.strerror or e}") from e
    except BaseException:  # a venue that did not start leaves no journal it created behind
        await runner.cleanup()
        if journal is not None:
            journal.close()
            if created and config.state_file is not None:
                remove_journal(config.state_file)
        raise
    host, port = runner.addresses[0][:2]
    task = asyncio.ensure_future(driver.run())
    return RunningVenue(state, runner, driver, config, port, task, str(host), admin_token, journal)


def _prepare(
    state: ServerState,
    driver: ReplayDriver,
    events: _Lookahead,
    journal: VenueJournal | None,
    warmup_bars: int,
    deposits: Mapping[str, Mapping[str, Decimal]] | None,
) -> None:
    """Bring the market and the accounts to where the venue starts: resumed from the journal, else
    warmed up and funded (and that written to a new journal)."""
    restored = journal is not None and not journal.is_empty()
    resume_at = journal.stored_position() if journal is not None and restored else None
    if journal is not None and resume_at is not None:
        _resume(journal, driver, events, resume_at)
    else:
        _warm_up(driver, events, warmup_bars)
    for account, assets in ({} if restored else deposits or {}).items():
        for asset, amount in assets.items():
            state.venue.deposit(account, asset, amount)
    if journal is not None:
        journal.position = lambda: Position(driver.published, state.clock.ns)
        if restored:
            journal.restore()  # after the market is back: the open orders rest again on it
        journal.snapshot()


class _Lookahead(Iterator[ReplayEvent]):
    """The replay's events with the next one visible before it is taken (the warm-up's end needs it)."""

    def __init__(self, events: Iterable[ReplayEvent]) -> None:
        self._events = iter(events)
        self._next: list[ReplayEvent] = []

    def __next__(self) -> ReplayEvent:
        return self._next.pop() if self._next else next(self._events)

    def peek(self) -> ReplayEvent | None:
        if not self._next:
            event = next(self._events, None)
            if event is None:
                return None
            self._next.append(event)
        return self._next[0]


def _warm_up(driver: ReplayDriver, events: _Lookahead, bars: int) -> None:
    """Replay history instantly, before anyone connects, until one symbol has closed ``bars`` candles,
    and with it every other candle closing at that time: with several symbols on one clock each has
    closed the same number of candles (over the same time range) when the venue opens."""
    closed: dict[str, int] = {}
    at = None
    while bars > 0 and max(closed.values(), default=0) < bars:
        event = next(events, None)
        if event is None:
            return
        driver.apply(event)
        if isinstance(event, BarClosed):
            closed[event.symbol] = closed.get(event.symbol, 0) + 1
            at = event.ts_ns
    while at is not None and isinstance(following := events.peek(), BarClosed) and following.ts_ns == at:
        driver.apply(next(events))


def _resume(journal: VenueJournal, driver: ReplayDriver, events: Iterator[ReplayEvent], at: Position) -> None:
    """Replay the market instantly up to where the journal's last commit saw it, checking it is the same market."""
    symbols = journal.symbols()
    if symbols is not None and symbols != sorted(driver.state.venue.symbols):
        raise JournalError(
            f"venue journal {journal.path} is of symbols {symbols}, not {sorted(driver.state.venue.symbols)}"
        )
    while driver.published < at.events:
        event = next(events, None)
        if event is None:
            raise JournalError(
                f"venue journal {journal.path} stopped after {at.events} replayed events; this market has only"
                f" {driver.published}: start it over the same data (or with another --state-file)"
            )
        driver.apply(event)
    if driver.state.clock.ns != at.clock_ns:
        raise JournalError(
            f"venue journal {journal.path} does not match this market: replay time {driver.state.clock.ns} ns"
            f" after {at.events} events, the journal says {at.clock_ns} ns"
        )


async def serve_forever(running: RunningVenue) -> None:
    """Block until SIGINT/SIGTERM, then stop cleanly (systemd-friendly)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await running.stop()
