"""Idempotent submission against the real matching core (in-process), with lost answers injected."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.domain import OrderRequest, OrderStatus, OrderType, Side, StrategyId, Symbol, VenueId
from thunes.domain.messages import OrderAccepted, OrderAmended, OrderCanceled, OrderRejected, OrderSubmitted
from thunes.domain.venue import OrderReport, RejectedByVenueError, RetryableVenueError
from thunes.engine.bus import InMemoryBus
from thunes.execution.client_ids import client_order_id
from thunes.execution.journal_memory import InMemoryJournal
from thunes.execution.order_manager import GAVE_UP, OrderManager
from thunes.execution.ports import JournalState
from thunes.simvenue import SimVenue

D = Decimal
BTC = Symbol("BTCUSDT")
STRATEGY = StrategyId("sma-test")


class LosingAnswers(InProcessVenue):
    """The real core, but the first ``lose`` submits are placed and their answers lost (or, with
    ``before=True``, lost before reaching the venue) and the first ``flaky_lookups`` lookups time out."""

    def __init__(self, *args: object, lose: int = 0, before: bool = False, flaky_lookups: int = 0) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.lose, self.before, self.flaky_lookups = lose, before, flaky_lookups

    async def submit(self, request: OrderRequest) -> OrderReport:
        if self.lose > 0:
            self.lose -= 1
            if not self.before:
                await super().submit(request)
            raise RetryableVenueError("read timeout", delay_s=0.0)
        return await super().submit(request)

    async def lookup(self, symbol: Symbol, cid: object) -> OrderReport | None:  # type: ignore[override]
        if self.flaky_lookups > 0:
            self.flaky_lookups -= 1
            raise RetryableVenueError("502 bad gateway", delay_s=0.0)
        return await super().lookup(symbol, cid)  # type: ignore[arg-type]


def _world(**faults: int | bool) -> tuple[SimVenue, LosingAnswers, InMemoryJournal, InMemoryBus, OrderManager]:
    info = builtin_exchange_info()
    core = SimVenue(info.instruments, lambda: 1_700_000_000_000_000_000)
    core.deposit("me", "USDT", D(1000))
    core.on_trade("BTCUSDT", D(30_000), D(1))
    core.on_quote("BTCUSDT", D("29999.99"), D(5), D(30_000), D(5))
    venue = LosingAnswers(core, "me", info, **faults)
    journal, bus = InMemoryJournal(), InMemoryBus()
    manager = OrderManager(venue, journal, bus, lambda: 1, VenueId("sim"), lookup_backoff_s=0.0)
    return core, venue, journal, bus, manager


def _buy(key: str, price: str = "29000", qty: str = "0.001") -> OrderRequest:
    cid = client_order_id(STRATEGY, BTC, Side.BUY, key)
    return OrderRequest(cid, BTC, Side.BUY, OrderType.LIMIT, D(qty), D(price))


def test_client_order_id_when_same_intent_then_same_id_and_binance_format() -> None:
    a = client_order_id(STRATEGY, BTC, Side.BUY, "bar-1700000000")
    b = client_order_id(STRATEGY, BTC, Side.BUY, "bar-1700000000")
    c = client_order_id(STRATEGY, BTC, Side.SELL, "bar-1700000000")

    assert a == b
    assert a != c
    assert len(a) <= 36


def test_submit_when_accepted_then_journaled_and_events_published() -> None:
    core, _, journal, bus, manager = _world()
    seen: list[object] = []
    bus.subscribe(object, seen.append)

    report = asyncio.run(manager.submit(_buy("k1"), STRATEGY))

    assert isinstance(report, OrderReport)
    assert report.status is OrderStatus.NEW
    assert journal.get(report.client_order_id).state is JournalState.ACCEPTED  # type: ignore[union-attr]
    assert [type(m) for m in seen] == [OrderSubmitted, OrderAccepted]
    assert len(core.open_orders("me")) == 1


def test_submit_when_same_intent_replayed_then_never_placed_twice() -> None:
    core, _, _, _, manager = _world()

    first = asyncio.run(manager.submit(_buy("k2"), STRATEGY))
    again = asyncio.run(manager.submit(_buy("k2"), STRATEGY))

    assert isinstance(again, OrderReport)
    assert again.venue_order_id == first.venue_order_id  # type: ignore[union-attr]
    assert len(core.all_orders("me", "BTCUSDT")) == 1


def test_submit_when_answer_lost_after_placement_then_adopted_by_lookup_not_resent() -> None:
    core, _, journal, _, manager = _world(lose=1, flaky_lookups=2)

    report = asyncio.run(manager.submit(_buy("k3"), STRATEGY))

    assert isinstance(report, OrderReport)
    assert len(core.all_orders("me", "BTCUSDT")) == 1
    assert journal.get(report.client_order_id).attempts == 1  # type: ignore[union-attr]


def test_submit_when_request_lost_before_venue_then_resent_once_under_same_id() -> None:
    core, _, journal, _, manager = _world(lose=1, before=True)
    request = _buy("k4")

    report = asyncio.run(manager.submit(request, STRATEGY))

    orders = core.all_orders("me", "BTCUSDT")
    assert isinstance(report, OrderReport)
    assert [o.client_order_id for o in orders] == [request.client_order_id]
    assert journal.get(request.client_order_id).attempts == 2  # type: ignore[union-attr]


def test_submit_when_filter_failure_then_rejected_event_and_no_resend() -> None:
    core, _, journal, bus, manager = _world()
    rejections: list[OrderRejected] = []
    bus.subscribe(OrderRejected, rejections.append)
    tiny = _buy("k5", qty="0.0001")  # 2.9 USDT < NOTIONAL 5

    outcome = asyncio.run(manager.submit(tiny, STRATEGY))
    replay = asyncio.run(manager.submit(tiny, STRATEGY))

    assert isinstance(outcome, OrderRejected)
    assert outcome.code == -1013
    assert isinstance(replay, OrderRejected)
    assert len(rejections) == 1
    assert journal.get(tiny.client_order_id).state is JournalState.REJECTED  # type: ignore[union-attr]
    assert core.all_orders("me", "BTCUSDT") == []


def test_recover_when_crash_left_unknown_intents_then_each_is_settled_by_lookup() -> None:
    core, venue, journal, _, manager = _world(lose=1)
    placed = _buy("k6")
    never = _buy("k7")
    journal.record_intent(never, 0)  # crashed after journaling, before sending
    with pytest.raises(RetryableVenueError):
        asyncio.run(venue.submit(placed))  # placed, answer lost, then the process died
    journal.record_intent(placed, 0)
    journal.mark(placed.client_order_id, JournalState.UNKNOWN, 0)

    adopted = asyncio.run(manager.recover())

    assert [r.client_order_id for r in adopted] == [placed.client_order_id]
    assert journal.get(never.client_order_id).state is JournalState.NOT_PLACED  # type: ignore[union-attr]
    assert journal.unresolved() == []
    assert len(core.all_orders("me", "BTCUSDT")) == 1


def test_submit_when_venue_keeps_failing_then_breaker_opens_and_risk_denies_new_orders() -> None:
    from thunes.risk import FailureKind, RiskEngine, RiskLimits

    core, venue, journal, bus, _ = _world(lose=1, before=True, flaky_lookups=4)
    risk = RiskEngine(RiskLimits(), lambda: 1_700_000_000_000_000_000)
    breaker = risk.breaker(VenueId("sim"))
    calls: list[bool] = []

    def record(ok: bool) -> None:
        calls.append(ok)
        breaker.record_success() if ok else breaker.record_failure(FailureKind.SERVER_ERROR)

    manager = OrderManager(venue, journal, bus, lambda: 1, VenueId("sim"), lookup_backoff_s=0.0, max_sends=10,
                           on_call=record)  # fmt: skip
    # A lost send, then four failed lookups: five server-side failures in a row open the breaker.
    asyncio.run(manager.submit(_buy("k8"), STRATEGY))

    assert calls[:5] == [False] * 5
    assert breaker.times_opened == 1
    assert len(core.all_orders("me", "BTCUSDT")) == 1  # and the order was still placed once
    fresh = CircuitBreakerProbe(risk)
    assert fresh.denied_while_open()


class CircuitBreakerProbe:
    """Opens the breaker of a risk engine and checks that a new entry is then denied."""

    def __init__(self, risk: object) -> None:
        self.risk = risk

    def denied_while_open(self) -> bool:
        from thunes.risk import FailureKind, RiskIntent

        breaker = self.risk.breaker(VenueId("sim"))  # type: ignore[attr-defined]
        for _ in range(5):
            breaker.record_failure(FailureKind.SERVER_ERROR)
        small = _buy("k9", qty="0.0004")  # 11.6 USDT: within the order-notional limit
        decision = self.risk.check(RiskIntent(small, STRATEGY, VenueId("sim"), D(30_000)))  # type: ignore[attr-defined]
        return decision.reason is not None and decision.reason.value == "CIRCUIT_OPEN"


class LosingCancels(LosingAnswers):
    """Cancels go through, but the first ``lose_cancels`` answers are lost on the way back."""

    lose_cancels = 0

    async def cancel(self, symbol: Symbol, client_order_id: object) -> OrderReport:  # type: ignore[override]
        report = await super().cancel(symbol, client_order_id)  # type: ignore[arg-type]
        if self.lose_cancels > 0:
            self.lose_cancels -= 1
            raise RetryableVenueError("read timeout", delay_s=0.0)
        return report


def _cancel_world() -> tuple[SimVenue, LosingCancels, InMemoryJournal, InMemoryBus, OrderManager]:
    info = builtin_exchange_info()
    core = SimVenue(info.instruments, lambda: 1_700_000_000_000_000_000)
    core.deposit("me", "USDT", D(1000))
    core.on_trade("BTCUSDT", D(30_000), D(1))
    core.on_quote("BTCUSDT", D("29999.99"), D(5), D(30_000), D(5))
    venue = LosingCancels(core, "me", info)
    journal, bus = InMemoryJournal(), InMemoryBus()
    return core, venue, journal, bus, OrderManager(venue, journal, bus, lambda: 1, VenueId("sim"), lookup_backoff_s=0.0)


def test_cancel_when_open_then_canceled_journaled_done_and_event_published() -> None:
    core, _, journal, bus, manager = _cancel_world()
    canceled: list[OrderCanceled] = []
    bus.subscribe(OrderCanceled, canceled.append)
    request = _buy("c1")
    asyncio.run(manager.submit(request, STRATEGY))

    report = asyncio.run(manager.cancel(BTC, request.client_order_id))

    assert report is not None and report.status is OrderStatus.CANCELED
    assert core.open_orders("me", "BTCUSDT") == []
    assert [e.client_order_id for e in canceled] == [request.client_order_id]
    entry = journal.get(request.client_order_id)
    assert entry is not None and entry.state is JournalState.DONE


def test_cancel_when_answer_lost_then_looked_up_and_returned_canceled_without_error() -> None:
    core, venue, _, _, manager = _cancel_world()
    request = _buy("c2")
    asyncio.run(manager.submit(request, STRATEGY))
    venue.lose_cancels = 1

    report = asyncio.run(manager.cancel(BTC, request.client_order_id))

    assert report is not None and report.status is OrderStatus.CANCELED
    assert core.open_orders("me", "BTCUSDT") == []


def test_cancel_when_already_closed_or_never_placed_then_final_state_or_none() -> None:
    _, _, _, _, manager = _cancel_world()
    request = _buy("c3")
    asyncio.run(manager.submit(request, STRATEGY))
    asyncio.run(manager.cancel(BTC, request.client_order_id))

    again = asyncio.run(manager.cancel(BTC, request.client_order_id))  # venue: -2011 unknown order
    never = asyncio.run(manager.cancel(BTC, client_order_id(STRATEGY, BTC, Side.BUY, "nope")))

    assert again is not None and again.status is OrderStatus.CANCELED
    assert never is None


def test_amend_when_quantity_reduced_then_kept_open_with_new_quantity_and_event() -> None:
    core, _, _, bus, manager = _cancel_world()
    amended: list[OrderAmended] = []
    bus.subscribe(OrderAmended, amended.append)
    request = _buy("a1", qty="0.003")
    asyncio.run(manager.submit(request, STRATEGY))

    report = asyncio.run(manager.amend(BTC, request.client_order_id, D("0.001")))

    assert report.quantity == D("0.001")
    assert report.status is OrderStatus.NEW
    assert [o.orig_qty for o in core.open_orders("me", "BTCUSDT")] == [D("0.001")]
    assert [e.new_quantity for e in amended] == [D("0.001")]


def test_submit_when_every_send_lost_before_the_venue_then_rejected_as_given_up_and_nothing_placed() -> None:
    core, _, journal, bus, manager = _world(lose=10, before=True)
    rejected: list[OrderRejected] = []
    bus.subscribe(OrderRejected, rejected.append)
    request = _buy("g1")

    outcome = asyncio.run(manager.submit(request, STRATEGY))

    assert isinstance(outcome, OrderRejected)
    assert outcome.code == GAVE_UP
    assert core.all_orders("me", "BTCUSDT") == []
    entry = journal.get(request.client_order_id)
    assert entry is not None and entry.state is JournalState.REJECTED
    assert [r.code for r in rejected] == [GAVE_UP]


def test_submit_when_resent_after_a_lookup_found_it_absent_then_the_journal_holds_it_in_doubt_while_it_goes() -> None:
    """The lookup journals NOT_PLACED; a stop or crash during the resend that follows must find the
    order in doubt (INTENT), or nothing ever looks it up while the venue fills it (a lost fill)."""
    core, venue, journal, _, manager = _world(lose=1, before=True)
    request = _buy("b1")
    states: list[JournalState] = []
    sent = venue.submit

    async def watched(r: OrderRequest) -> OrderReport:
        entry = journal.get(r.client_order_id)
        assert entry is not None
        states.append(entry.state)
        return await sent(r)

    venue.submit = watched  # type: ignore[method-assign]
    report = asyncio.run(manager.submit(request, STRATEGY))

    assert isinstance(report, OrderReport)
    assert states == [JournalState.INTENT, JournalState.INTENT]  # the first send, then the resend
    assert [e.request.client_order_id for e in journal.unresolved()] == []
    assert len(core.all_orders("me", "BTCUSDT")) == 1


class LateArrivals(InProcessVenue):
    """The real core; each order's first request reaches the venue only ``late_s`` after its sender
    stopped waiting (a request queued at the venue): the sender saw a timeout, or a stop cut it."""

    def __init__(self, *args: object, late_s: float, cut: bool = False) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.late_s, self.cut, self.seen = late_s, cut, set[str]()
        self.arrivals: set[asyncio.Future[None]] = set()

    async def submit(self, request: OrderRequest) -> OrderReport:
        if request.client_order_id in self.seen:
            return await super().submit(request)
        self.seen.add(request.client_order_id)
        asyncio.get_running_loop().call_later(self.late_s, self._arrive, request)
        if self.cut:
            raise asyncio.CancelledError  # a graceful stop cut the call
        raise RetryableVenueError("read timeout", delay_s=0.0)

    def _arrive(self, request: OrderRequest) -> None:
        self.arrivals.add(asyncio.ensure_future(self._place(request)))

    async def _place(self, request: OrderRequest) -> None:
        with contextlib.suppress(RejectedByVenueError):  # -2010 duplicate of an open resend: Binance's answer
            await super().submit(request)


def _market_buy(key: str) -> OrderRequest:
    return OrderRequest(client_order_id(STRATEGY, BTC, Side.BUY, key), BTC, Side.BUY, OrderType.MARKET, D("0.001"))


def _late_world(window_s: float, *, cut: bool = False) -> tuple[SimVenue, InMemoryJournal, OrderManager]:
    core, _, _, _, _ = _world()
    venue = LateArrivals(core, "me", builtin_exchange_info(), late_s=0.05, cut=cut)
    journal = InMemoryJournal()
    manager = OrderManager(venue, journal, InMemoryBus(), lambda: 1, VenueId("sim"), lookup_backoff_s=0.0,
                           settle_window_s=window_s)  # fmt: skip
    return core, journal, manager


@pytest.mark.parametrize("window_s", [0.3, 2.0])
def test_submit_when_the_lookup_overtakes_its_own_send_then_not_found_waits_the_venue_window_and_it_is_adopted(
    window_s: float,
) -> None:
    """A lookup answered before the venue took the request proves nothing until the request's
    recvWindow has passed: trusting it journaled NOT_PLACED and sent the order again (two orders)."""
    core, journal, manager = _late_world(window_s)
    request = _market_buy("late")

    async def run() -> object:
        outcome = await manager.submit(request, STRATEGY)
        await asyncio.sleep(0.1)  # any request still on its way lands now
        return outcome

    outcome = asyncio.run(run())

    assert isinstance(outcome, OrderReport) and outcome.status is OrderStatus.FILLED
    assert [o.client_order_id for o in core.all_orders("me", "BTCUSDT")] == [request.client_order_id]
    assert journal.get(request.client_order_id).attempts == 1  # type: ignore[union-attr]


def test_stop_when_it_cut_a_send_the_venue_takes_later_then_the_stop_settlement_finds_and_books_it() -> None:
    """The graceful stop's settlement looks the cut order up at once; the venue takes the request a
    moment later: without the window the order was NOT_PLACED at the venue's fill, never booked."""
    core, journal, manager = _late_world(0.3, cut=True)
    request = _market_buy("cut")

    async def run() -> list[OrderReport]:
        with contextlib.suppress(asyncio.CancelledError):
            await manager.submit(request, STRATEGY)
        return await manager.recover()  # what the stop's settle_in_doubt runs first

    adopted = asyncio.run(run())

    assert [r.client_order_id for r in adopted] == [request.client_order_id]
    assert [o.client_order_id for o in core.all_orders("me", "BTCUSDT")] == [request.client_order_id]
    assert journal.unresolved() == []
    assert journal.get(request.client_order_id).state is JournalState.DONE  # type: ignore[union-attr]
