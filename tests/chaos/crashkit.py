"""Deterministic crash points for the trader: the real engine (trader, risk engine, order manager,
SQLite journal and ledger, ``risk.json``) trades a real in-process venue, and "dies" before its
k-th durable write or right after the venue answered, as a SIGKILL would: nothing after that
moment reaches the disk. A restart builds everything again from the files and runs the session's
own recovery (``thunes.session.recovery``).

A life's ticks are counted the same way every time (the market is frozen, ids are deterministic),
so a first run without a crash tells how many crash points there are.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.storage.risk_json import JsonFileRiskStore
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.domain import ClientOrderId, Fill, OrderRequest, Symbol, VenueId
from thunes.domain.market import Bar, Timeframe
from thunes.domain.venue import OrderReport, RetryableVenueError
from thunes.engine.bus import InMemoryBus
from thunes.engine.clock import ManualClock
from thunes.engine.trader import Trader, TraderConfig
from thunes.execution.order_manager import OrderManager
from thunes.features import OHLCV, iter_bars
from thunes.risk import RiskEngine, RiskLimits
from thunes.risk.state import RiskSnapshot
from thunes.session.recovery import recover_session
from thunes.simvenue import SimVenue
from thunes.simvenue.replay import BarContext, ReplayQuote, ReplayTrade, bar_events
from thunes.strategy.base import Signal, SignalArray, Strategy

ACCOUNT = "me"
VENUE = VenueId("sim")
SYMBOL = Symbol("BTCUSDT")
MARKET_BARS = 30  # the market is replayed up to here, then frozen: every life sees the same prices


class Crash(BaseException):
    """The process died here (a BaseException: no ``except Exception`` of the engine catches it)."""


class Crasher:
    """Counts ticks (one before each durable write, one before each send, one after each venue
    answer) once armed; raises :class:`Crash` at tick ``at``, and at every tick after it (a dead
    process writes nothing)."""

    def __init__(self, at: int | None = None, *, armed: bool = True) -> None:
        self.at, self.armed, self.ticks, self.dead, self.steps = at, armed, 0, False, list[str]()

    def arm(self, at: int | None) -> None:
        """Count from here: what came before was set-up."""
        self.at, self.armed, self.ticks, self.steps = at, True, 0, []

    def tick(self, step: str) -> None:
        if self.dead:
            raise Crash(f"dead: {step}")
        if not self.armed:
            return
        self.ticks += 1
        self.steps.append(step)
        if self.at is not None and self.ticks >= self.at:
            self.dead = True
            raise Crash(f"crashed before {step}")


class Stopper(Crasher):
    """A graceful stop (SIGTERM, or the session's duration running out) cancelling the trading task
    at its ``at``-th venue call, where a cancellation can land (a journal write never awaits): a send
    before it reaches the venue, an answer the venue sent but the stop cut off, a lookup. Unlike a
    crash the process lives on, and settles what the stop left in doubt before the session ends."""

    VENUE_CALLS = ("send ", "answer ", "lookup")

    def tick(self, step: str) -> None:
        if not self.armed or not step.startswith(self.VENUE_CALLS):
            return
        self.ticks += 1
        self.steps.append(step)
        if self.ticks == self.at:
            raise asyncio.CancelledError(f"stopped at {step}")


class CrashingStore(SqlStore):
    """The SQL journal and ledger, ticking before each write."""

    def __init__(self, url: str, crasher: Crasher) -> None:
        super().__init__(url)
        self.crasher = crasher

    def record_intent(self, request: OrderRequest, ts_ns: int) -> bool:
        self.crasher.tick(f"journal intent {request.side.value}")
        return super().record_intent(request, ts_ns)

    def mark(self, client_order_id: ClientOrderId, state: Any, ts_ns: int, detail: str = "") -> None:
        self.crasher.tick(f"journal {state}")
        super().mark(client_order_id, state, ts_ns, detail)

    def count_attempt(self, client_order_id: ClientOrderId) -> int:
        self.crasher.tick("journal attempt")
        return super().count_attempt(client_order_id)

    def record_report(self, report: OrderReport) -> None:
        self.crasher.tick(f"ledger order {report.status.value}")
        super().record_report(report)

    def record_fill(self, fill: Fill) -> bool:
        self.crasher.tick("ledger fill")
        return super().record_fill(fill)


class CrashingRiskStore(JsonFileRiskStore):
    """``risk.json``, ticking before each save."""

    def __init__(self, path: Path, crasher: Crasher) -> None:
        super().__init__(path)
        self.crasher = crasher

    def save(self, snapshot: RiskSnapshot) -> None:
        self.crasher.tick("risk.json")
        super().save(snapshot)


class CrashingVenue(InProcessVenue):
    """The venue as the trader reaches it: ticks before a send, after the venue answered and before
    a lookup. With ``refused_sends`` the first sends of each order never reach it (the venue is down:
    connection refused, a retryable failure), so the order is looked up, found absent, and sent again.
    ``sends`` counts each order's sends across lives (the venue's outage does not start again with them)."""

    def __init__(
        self,
        core: SimVenue,
        crasher: Crasher,
        refused_sends: int = 0,
        sends: Counter[str] | None = None,
        down: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(core, ACCOUNT, builtin_exchange_info())
        self.crasher, self.refused_sends, self.down = crasher, refused_sends, down
        self.sends: Counter[str] = Counter() if sends is None else sends

    async def submit(self, request: OrderRequest) -> OrderReport:
        self.crasher.tick(f"send {request.side.value}")
        self.sends[request.client_order_id] += 1
        if self.sends[request.client_order_id] <= self.refused_sends or self.down():
            raise RetryableVenueError("Cannot connect to host: connection refused")
        report = await super().submit(request)
        self.crasher.tick(f"answer {request.side.value}")  # placed, but the answer dies with the process
        return report

    async def lookup(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderReport | None:
        self.crasher.tick("lookup")
        return await super().lookup(symbol, client_order_id)


class Holding(Strategy):
    """Never signals by itself: the scenario decides (``Trader.act``)."""

    name = "crash-points"
    version = "1"

    @property
    def parameters(self) -> dict[str, Any]:
        return {}

    @property
    def warmup(self) -> int:
        return 0

    def on_bar(self, bar: Bar) -> Signal:
        return Signal.HOLD

    def signals(self, bars: OHLCV) -> SignalArray:
        raise NotImplementedError

    def reset(self) -> None:
        pass


@dataclass
class Life:
    """One run of the trader process between a start and a crash."""

    trader: Trader
    orders: OrderManager
    store: SqlStore
    crasher: Crasher

    def close(self) -> None:
        self.store.close()


class Market:
    """The venue (it outlives every trader crash) and the candles the trader decides on."""

    def __init__(self, tmp: Path, deposit: Decimal = Decimal(1000), refused_sends: int = 0) -> None:
        self.dir, self.refused_sends = tmp, refused_sends
        self.sends: Counter[str] = Counter()  # each order's sends, whichever life made them
        self.down = False  # while True, every send is refused (an outage of the order entry)
        tmp.mkdir(parents=True, exist_ok=True)
        info = builtin_exchange_info()
        self.instrument = info.get(SYMBOL)
        bars = generate_ohlcv(str(SYMBOL), Timeframe.H1, MARKET_BARS + 100, seed=11,
                              tick_size=float(self.instrument.tick_size))  # fmt: skip
        self.bars = list(iter_bars(bars, self.instrument.tick_size))
        self.clock = ManualClock(int(bars.open_time_ns[0]))
        self.core = SimVenue(info.instruments, self.clock.now_ns)
        self.core.deposit(ACCOUNT, "USDT", deposit)
        for event in bar_events(bars.slice(0, MARKET_BARS), self.instrument.tick_size, self.instrument.step_size):
            self.clock.set(max(self.clock.now_ns(), event.ts_ns))
            if isinstance(event, ReplayQuote):
                self.core.on_quote(str(SYMBOL), event.bid, event.bid_qty, event.ask, event.ask_qty)
            elif isinstance(event, ReplayTrade):
                self.core.on_trade(str(SYMBOL), event.price, event.quantity)
            elif isinstance(event, BarContext):
                self.core.on_bar_context(str(SYMBOL), event.volume, event.range_fraction)

    def bar(self, i: int) -> Bar:
        """The decision bars: the frozen market's last candles and the ones after it (same prices)."""
        return self.bars[MARKET_BARS - 5 + i]

    def start(self, crasher: Crasher) -> Life:
        """The trader process starting: everything from the files, wired as a session wires it."""
        bus = InMemoryBus()
        store = CrashingStore(f"sqlite:///{self.dir / 'ledger.db'}", crasher)
        try:  # the risk engine saves its state as it starts: a crash point too
            risk = RiskEngine(
                RiskLimits(cool_down_s=0), self.clock.now_ns, CrashingRiskStore(self.dir / "risk.json", crasher)
            )
        except Crash:
            store.close()
            raise
        venue = CrashingVenue(self.core, crasher, self.refused_sends, self.sends, lambda: self.down)
        orders = OrderManager(venue, store, bus, self.clock.now_ns, VENUE, lookup_backoff_s=0.0)
        strategy = Holding(None, self.instrument.tick_size)
        trader = Trader(strategy, self.instrument, risk, orders, store, bus, TraderConfig(VENUE))
        return Life(trader, orders, store, crasher)

    async def recover(self, life: Life) -> None:
        """The session's recovery, with the frozen market's last close as the exit's price."""

        async def last_close() -> Decimal:
            return self.bar(0).close

        await recover_session(life.trader, life.orders, life.store, last_close)

    def venue_orders(self) -> Counter[str]:
        return Counter(o.client_order_id for o in self.core.all_orders(ACCOUNT, str(SYMBOL)))

    def venue_base(self) -> Decimal:
        balance = self.core.balances(ACCOUNT).get(self.instrument.base_asset)
        return Decimal(0) if balance is None else balance.free + balance.locked

    def venue_open(self) -> set[str]:
        return {o.client_order_id for o in self.core.open_orders(ACCOUNT, str(SYMBOL))}

    def venue_trades(self) -> set[str]:
        return {str(t.trade_id) for t in self.core.my_trades(ACCOUNT, str(SYMBOL))}


def ledger_base(fills: list[Fill], base: str) -> Decimal:
    """What the ledger's fills add up to in the base asset, fees in base taken off."""
    return sum(((f.quantity - (f.commission if f.commission_asset == base else 0)) * (1 if f.side.value == "BUY" else -1)
                for f in fills), Decimal(0))  # fmt: skip


def crash_points(ticks: int) -> Iterator[int | None]:
    """Before each of ``ticks`` writes, then after all of them (None: the life ends without a crash)."""
    yield from range(1, ticks + 1)
    yield None
