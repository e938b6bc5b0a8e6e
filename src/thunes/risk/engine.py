"""The pre-trade risk gate between strategy and execution (SPEC §2).

``check`` turns an intent into a :class:`~thunes.risk.decision.RiskDecision`; a denial is a result
with a reason code, never an exception. The engine also owns the state those rules judge: the
kill-switch and halt switches, the UTC day's realised PnL, the cool-down, its own position book,
the entry reservations and one circuit breaker per venue.

Concurrency: one re-entrant lock guards everything, including the venue breakers and the store
write, so every method is atomic and what is stored is always the last state. An approved BUY
reserves its slot and symbol inside the same critical section as the check, so concurrent checks
cannot oversubscribe the limits. Async callers may call it directly (no method waits on anything
but the lock and the store) or from a thread.

Callers' duties:
- report every order's end with :meth:`RiskEngine.on_order_closed` (or ``on_fill(...,
  order_complete=True)``), otherwise its reservation keeps a slot; after a restart (the report
  died with the process) call :meth:`RiskEngine.settle_reservations` with the orders still open;
- report every fill the fill ledger books to :meth:`RiskEngine.on_fill`, once, in the ledger's
  order (it counts them, ``fills_booked``); after a restart call :meth:`RiskEngine.catch_up` with
  the ledger's fills, before adopting its positions;
- report venue answers to :meth:`RiskEngine.breaker` ``(venue).record(...)``. While a breaker is
  open, ``check`` denies every order with CIRCUIT_OPEN, exits included: nothing can reach the venue
  anyway. Retry exits after ``breaker(venue).seconds_until_probe()``;
- cancels never pass through ``check``: every trading state allows them;
- schedule :meth:`RiskEngine.daily_reset` at 00:00 UTC (the engine also rolls the day by itself
  on the first call of a new UTC day, so a late scheduler cannot carry yesterday's loss over).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from decimal import Decimal

from thunes.domain.enums import Side
from thunes.domain.fastfilters import FastFilters
from thunes.domain.identifiers import ClientOrderId, Symbol, VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.messages import DenialReason
from thunes.domain.orders import Fill
from thunes.domain.position import Position
from thunes.risk.breaker import BreakerConfig, CircuitBreaker
from thunes.risk.decision import RiskDecision, RiskIntent
from thunes.risk.description import RiskDescription
from thunes.risk.ledger import FillEffect, Ledger
from thunes.risk.limits import RiskLimits
from thunes.risk.rules import (
    CheckContext,
    Denial,
    PreTradeRule,
    apply_exchange_filters,
    default_entry_rules,
    default_order_rules,
)
from thunes.risk.state import (
    Reservation,
    RiskSnapshot,
    SwitchState,
    TradingState,
    next_day_ns,
    trading_state_of,
    utc_day,
)
from thunes.risk.store import InMemoryRiskStore, OnDemandRiskStore, RiskStateStore

__all__ = ["AUTOMATIC_ACTORS", "GATE_VERSION", "SAFETY_ACTOR", "RiskEngine"]

GATE_VERSION = 1
"""The steps of :meth:`RiskEngine.check` in order: order rules, exchange filters on the normalised order,
entry rules for BUYs, the venue's breaker. Change the steps or their order and bump it (see ``describe``)."""

ZERO = Decimal(0)
NS_PER_SECOND = 1_000_000_000
ENGINE_ACTOR = "risk-engine"
RECONCILIATION_ACTOR = "reconciliation"
MODEL_DRIFT_ACTOR = "model-drift"
SAFETY_ACTOR = "safety-check"  # a session's start-up check of its persisted safety state
# Actors that may turn the kill-switch on but never off: only a person turns it off (SPEC §2).
AUTOMATIC_ACTORS = frozenset({ENGINE_ACTOR, RECONCILIATION_ACTOR, MODEL_DRIFT_ACTOR, SAFETY_ACTOR})
_BUY = Side.BUY  # a global read: cheaper than the enum's attribute, on every check
_FILTERS_KEPT = 256  # instruments whose digested filters are kept (a portfolio's symbols, many times over)


def _person(by: str) -> str:
    actor = by.strip()
    if not actor:
        raise ValueError("name the person who acts (by=...)")
    if actor in AUTOMATIC_ACTORS:
        raise ValueError(f"{actor!r} is an automatic actor: only a person may do this")
    return actor


class RiskEngine:
    """The risk gate and its durable state. ``clock_ns`` returns Unix time in ns (UTC)."""

    def __init__(
        self,
        limits: RiskLimits,
        clock_ns: Callable[[], int],
        store: RiskStateStore | None = None,
        *,
        breaker_config: BreakerConfig | None = None,
        order_rules: Sequence[PreTradeRule] | None = None,
        entry_rules: Sequence[PreTradeRule] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._limits = limits
        self._clock_ns = clock_ns
        self._store: RiskStateStore = store if store is not None else InMemoryRiskStore()
        self._on_demand = self._store if isinstance(self._store, OnDemandRiskStore) else None
        self._breaker_config = breaker_config or BreakerConfig()
        self._order_rules = tuple(order_rules if order_rules is not None else default_order_rules())
        self._entry_rules = tuple(entry_rules if entry_rules is not None else default_entry_rules())
        self._breakers: dict[VenueId, CircuitBreaker] = {}
        self._filters: dict[int, tuple[Instrument, FastFilters]] = {}  # by the instrument's identity
        self._equity: Decimal | None = None
        with self._lock:
            now = clock_ns()
            restored = self._store.load()
            snap = restored if restored is not None else RiskSnapshot(day=utc_day(now))
            self._kill_switch = snap.kill_switch
            self._halt = snap.halt
            self._day = snap.day
            self._next_day_ns = next_day_ns(snap.day)  # the first call at or after it rolls the day
            self._realized_today = snap.realized_pnl_today
            self._cool_down_until_ns = snap.cool_down_until_ns
            self._fills_booked = snap.fills_booked
            self._ledger = Ledger(limits.quote_asset, limits.dust_notional, snap.positions, snap.reservations)
            self._roll_day(now)
            self._save(now)

    # --- views --------------------------------------------------------------------------------
    @property
    def limits(self) -> RiskLimits:
        return self._limits

    def describe(self) -> RiskDescription:
        """The gate this engine runs: its steps' version, its rules in order (id, version, parameters)
        and its limits; for code that reproduces the gate and must check it is this one."""
        return RiskDescription(GATE_VERSION, tuple(r.describe() for r in self._order_rules),
                               tuple(r.describe() for r in self._entry_rules), self._limits)  # fmt: skip

    @property
    def trading_state(self) -> TradingState:
        with self._lock:
            return trading_state_of(self._kill_switch, self._halt)

    @property
    def kill_switch(self) -> SwitchState:
        with self._lock:
            return self._kill_switch

    @property
    def realized_pnl_today(self) -> Decimal:
        with self._lock:
            return self._realized_today

    def open_symbols(self) -> frozenset[Symbol]:
        """Symbols holding a position slot: open positions and working entries."""
        with self._lock:
            return self._ledger.open_symbols()

    def held(self, symbol: Symbol) -> Decimal:
        """The quantity of ``symbol`` the risk ledger believes is held (zero when flat)."""
        with self._lock:
            return self._ledger.held(symbol)

    @property
    def fills_booked(self) -> int | None:
        """How many of the fill ledger's fills this state has absorbed (None: unknown, see ``catch_up``)."""
        with self._lock:
            return self._fills_booked

    def reservations(self) -> tuple[Reservation, ...]:
        """The working entries holding a slot, oldest first."""
        with self._lock:
            return self._ledger.reservations()

    def snapshot(self) -> RiskSnapshot:
        """The current state, as the store holds it."""
        with self._lock:
            return self._snapshot(self._clock_ns())

    def breaker(self, venue: VenueId) -> CircuitBreaker:
        """The circuit breaker of ``venue`` (created on first use; it shares the engine lock)."""
        with self._lock:
            breaker = self._breakers.get(venue)
            if breaker is None:
                breaker = CircuitBreaker(venue, self._clock_ns, self._breaker_config, lock=self._lock)
                self._breakers[venue] = breaker
            return breaker

    # --- the gate -----------------------------------------------------------------------------
    def check(self, intent: RiskIntent) -> RiskDecision:
        """Approve (and for a BUY reserve its slot) or deny ``intent``, atomically."""
        with self._lock:
            now = self._clock_ns()
            rolled = self._roll_day(now)
            decision = self._evaluate(intent, now)
            reserved = decision.reason is None and decision.order.side is _BUY  # approved, a BUY
            if reserved:
                self._ledger.reserve(self._reservation(intent, now))
            if rolled or reserved:
                try:
                    self._save(now)
                except BaseException:
                    if reserved:  # not stored, so not approved: give the slot back
                        self._ledger.release(intent.request.client_order_id)
                    raise
            return decision

    def _evaluate(self, intent: RiskIntent, now: int) -> RiskDecision:
        request, ledger = intent.request, self._ledger
        # Positional, in the field order (intent, order, now_ns, limits, equity, trading_state,
        # realized_pnl_today, cool_down_until_ns, open_symbols, held_quantity): every check builds one.
        ctx = CheckContext(intent, request, now, self._limits, self._equity,
                           trading_state_of(self._kill_switch, self._halt), self._realized_today,
                           self._cool_down_until_ns, ledger.open_symbols(), ledger.held(request.symbol))  # fmt: skip
        denial = _first_denial(self._order_rules, ctx)
        if denial is None:
            order, denial = apply_exchange_filters(ctx, self._fast_filters(intent.instrument))
            if order is not ctx.order:
                ctx = replace(ctx, order=order)
        if denial is None and ctx.order.side is _BUY:
            denial = _first_denial(self._entry_rules, ctx)
        if denial is None:
            # Last, because in HALF_OPEN an allowed call *is* the probe: only an approved order takes it.
            breaker = self.breaker(intent.venue)
            if not breaker.allow():
                wait = breaker.seconds_until_probe()
                denial = Denial(DenialReason.CIRCUIT_OPEN, f"{intent.venue} breaker open: retry in {wait:.0f} s")
        if denial is None:
            return RiskDecision(intent, ctx.order, None, "", now)
        return RiskDecision(intent, ctx.order, denial.reason, denial.detail, now)

    def _fast_filters(self, instrument: Instrument | None) -> FastFilters | None:
        """The instrument's filters digested for the gate (one per instrument, used under the lock: they
        remember the last average price's bands)."""
        if instrument is None:
            return None
        known = self._filters.get(id(instrument))
        if known is None or known[0] is not instrument:
            if len(self._filters) >= _FILTERS_KEPT:
                self._filters.clear()
            known = self._filters[id(instrument)] = (instrument, FastFilters(instrument))
        return known[1]

    def _reservation(self, intent: RiskIntent, now: int) -> Reservation:
        instrument, request = intent.instrument, intent.request
        if instrument is None:
            return Reservation(request.client_order_id, request.symbol, intent.strategy_id, intent.venue, now)
        return Reservation(request.client_order_id, request.symbol, intent.strategy_id, intent.venue, now,
                           instrument.base_asset, instrument.quote_asset)  # fmt: skip

    # --- order outcomes -----------------------------------------------------------------------
    def on_order_closed(self, client_order_id: ClientOrderId) -> bool:
        """The order is done (filled, canceled, rejected, expired, never sent): free its reservation."""
        with self._lock:
            released = self._ledger.release(client_order_id)
            if released:
                self._save(self._clock_ns())
            return released

    def settle_reservations(self, open_orders: Collection[ClientOrderId]) -> tuple[ClientOrderId, ...]:
        """Free every reservation whose order is not in ``open_orders`` (the orders still working
        at the venue); return their ids. For a restart or a stop, once every order in doubt is
        settled and booked: an order never sent, not placed, rejected or canceled holds no slot,
        and a filled one holds it through its position (synced from the fill ledger)."""
        with self._lock:
            stale = tuple(
                r.client_order_id for r in self._ledger.reservations() if r.client_order_id not in open_orders
            )
            for cid in stale:
                self._ledger.release(cid)
            if stale:
                self._save(self._clock_ns())
            return stale

    def on_fill(
        self, fill: Fill, *, order_complete: bool = False, fee_value_quote: Decimal | None = None
    ) -> FillEffect:
        """Book a fill. A close that takes the day's realised loss to the limit turns the kill-switch
        on here, before this method returns, not at the next check. A fill the book cannot explain
        (a SELL of something it does not hold) is drift: the kill-switch turns on too.

        ``fee_value_quote`` is the quote value of a fee paid in a third asset (BNB); without it
        such a fill raises ``ValueError`` and books nothing (it is counted as seen, ``fills_booked``).
        """
        with self._lock:
            now = self._clock_ns()
            self._roll_day(now)
            try:
                effect = self._ledger.apply(fill, fee_value_quote)
            except ValueError:
                self._count_fill()  # seen, even refused: the count says which ledger fills a restart owes
                self._save(now)
                raise
            self._count_fill()
            if order_complete:
                self._ledger.release(fill.client_order_id)
            self._absorb(effect, now, True)
            self._save(now)
            return effect

    def catch_up(self, ledger_fills: Sequence[Fill]) -> tuple[Fill, ...]:
        """Book the fills of the ledger this state has not absorbed; the fills booked.

        ``ledger_fills``: every fill of the fill ledger in booking order. The ledger is the source
        of truth for what was realised; this state is its cache, and may lag it: a crash between
        the ledger's booking and ``on_fill``, or a ``risk.json`` restored from an older copy (its
        day's loss lacks the later closes). The fills past ``fills_booked`` are booked here as
        ``on_fill`` would have (loss limit, cool-down, drift), so the cache agrees with the ledger
        whatever the clocks say. A missed fill dated before this state's day realised nothing
        today; one dated on or after it counts today (the venue's clock may run ahead of ours:
        counting a loss is the safe side). Unknown ``fills_booked`` (an older file, checked by
        the start's time comparison) adopts the ledger's count; a count above the ledger's (it
        lost fills, or this state belongs elsewhere) turns the kill-switch on.
        """
        with self._lock:
            now = self._clock_ns()
            booked = self._fills_booked
            missed: tuple[Fill, ...] = ()
            if booked is not None and booked > len(ledger_fills):
                self._activate(SAFETY_ACTOR, f"the risk state booked {booked} fills, the ledger holds "
                                             f"{len(ledger_fills)}", now)  # fmt: skip
            elif booked is not None:
                missed = tuple(ledger_fills[booked:])
            for fill in missed:
                try:
                    effect = self._ledger.apply(fill)
                except ValueError as e:
                    self._activate(SAFETY_ACTOR, f"cannot book missed fill {fill.trade_id} from the ledger: {e}", now)
                    continue
                self._absorb(effect, now, utc_day(fill.ts_ns) >= self._day)
            self._fills_booked = len(ledger_fills)
            self._save(now)
            return missed

    def _count_fill(self) -> None:
        if self._fills_booked is not None:
            self._fills_booked += 1

    def _absorb(self, effect: FillEffect, now: int, today: bool) -> None:
        """What a booked fill does to the day's loss, the cool-down and the kill-switch."""
        if today:
            self._realized_today += effect.realized_pnl
        if effect.closed and effect.trip_pnl is not None:
            self._after_close(effect.trip_pnl, now)
        if effect.untracked:
            self._activate(ENGINE_ACTOR, f"ledger drift: {effect.detail}", now)
        elif today and effect.realized_pnl < 0 and -self._realized_today >= self._limits.daily_loss_cap(self._equity):
            cap = self._limits.daily_loss_cap(self._equity)
            self._activate(ENGINE_ACTOR, f"daily realised loss {-self._realized_today} reached limit {cap}", now)

    def _after_close(self, trip_pnl: Decimal, now: int) -> None:
        if trip_pnl < 0:
            self._cool_down_until_ns = now + self._limits.cool_down_s * NS_PER_SECOND
        elif trip_pnl > 0:
            self._cool_down_until_ns = None

    def sync_position(self, position: Position, *, dust_price: Decimal | None = None) -> None:
        """Adopt the venue's view of one position (start-up, reconciliation); flat removes it.
        ``dust_price``: the price of the SELL that left it, to tell unsellable dust (see the ledger's ``sync``)."""
        with self._lock:
            self._ledger.sync(position, dust_price=dust_price)
            self._save(self._clock_ns())

    def update_equity(self, equity: Decimal) -> None:
        """Account equity (quote) for the ``*_equity_fraction`` limits; not persisted (re-read at start)."""
        if not equity.is_finite():
            raise ValueError("equity must be finite")
        with self._lock:
            self._equity = equity

    # --- switches -----------------------------------------------------------------------------
    def activate_kill_switch(self, by: str, reason: str) -> bool:
        """Kill-switch on (REDUCING); False when it already was (the first cause is kept)."""
        if not by.strip() or not reason.strip():
            raise ValueError("say who turns the kill-switch on and why")
        with self._lock:
            now = self._clock_ns()
            changed = self._activate(by.strip(), reason.strip(), now)
            if changed:
                self._save(now)
            return changed

    def on_reconciliation_drift(self, detail: str) -> bool:
        """Unresolved reconciliation drift: kill-switch on until a person has looked (SPEC §4)."""
        return self.activate_kill_switch(RECONCILIATION_ACTOR, f"reconciliation drift: {detail}")

    def on_model_drift(self, detail: str) -> bool:
        """Severe model drift: kill-switch on (SPEC §2)."""
        return self.activate_kill_switch(MODEL_DRIFT_ACTOR, f"model drift: {detail}")

    def deactivate(self, by: str) -> bool:
        """Kill-switch off; only a person (non-empty, non-automatic actor). False when it was off."""
        actor = _person(by)
        with self._lock:
            if not self._kill_switch.active:
                return False
            now = self._clock_ns()
            self._kill_switch = SwitchState(False, actor, "deactivated", now)
            self._save(now)
            return True

    def halt(self, by: str, reason: str) -> bool:
        """HALTED: cancels only, exits included (an operator's emergency stop). False if already halted."""
        actor = _person(by)
        with self._lock:
            if self._halt.active:
                return False
            now = self._clock_ns()
            self._halt = SwitchState(True, actor, reason, now)
            self._save(now)
            return True

    def resume(self, by: str) -> bool:
        """Leave HALTED; the kill-switch, if on, stays on (REDUCING)."""
        actor = _person(by)
        with self._lock:
            if not self._halt.active:
                return False
            now = self._clock_ns()
            self._halt = SwitchState(False, actor, "resumed", now)
            self._save(now)
            return True

    def _activate(self, by: str, reason: str, now: int) -> bool:
        if self._kill_switch.active:
            return False
        self._kill_switch = SwitchState(True, by, reason, now)
        return True

    # --- the day ------------------------------------------------------------------------------
    def daily_reset(self) -> bool:
        """Start the UTC day of the clock: today's realised PnL back to zero. Never touches the
        kill-switch or the cool-down. Idempotent: False (and nothing cleared) within the same day,
        so a duplicate or early run cannot erase today's loss.
        """
        with self._lock:
            now = self._clock_ns()
            rolled = self._roll_day(now)
            if rolled:
                self._save(now)
            return rolled

    def _roll_day(self, now: int) -> bool:
        if now < self._next_day_ns:  # utc_day(now) <= self._day, without making a date (every check and fill)
            return False
        self._day = utc_day(now)
        self._next_day_ns = next_day_ns(self._day)
        self._realized_today = ZERO
        return True

    # --- persistence --------------------------------------------------------------------------
    def _snapshot(self, now: int) -> RiskSnapshot:
        # Positional (day, kill_switch, halt, realized_pnl_today, cool_down_until_ns, positions,
        # reservations, updated_ns, fills_booked): every change saves one.
        ledger = self._ledger
        return RiskSnapshot(self._day, self._kill_switch, self._halt, self._realized_today, self._cool_down_until_ns,
                            ledger.positions(), ledger.reservations(), now, self._fills_booked)  # fmt: skip

    def _locked_snapshot(self, now: int) -> RiskSnapshot:
        with self._lock:
            return self._snapshot(now)

    def _save(self, now: int) -> None:
        if self._on_demand is not None:  # built when read: the store is handed how (the last state, as saved)
            self._on_demand.save_deferred(now, self._locked_snapshot)
            return
        self._store.save(self._snapshot(now))


def _first_denial(rules: Sequence[PreTradeRule], ctx: CheckContext) -> Denial | None:
    for rule in rules:
        denial = rule.evaluate(ctx)
        if denial is not None:
            return denial
    return None
