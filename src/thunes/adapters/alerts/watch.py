"""What deserves an alert, decided once per *change* of state, never once per check (SPEC §5).

The risk engine does not publish its switches on the bus (the audit trail derives them from its
snapshots the same way), so :meth:`RiskWatch.check` compares the kill-switch, the trading state
and each venue's circuit breaker with what it saw last and alerts on a difference only; the
session calls it on a timer and after each operator request, and :meth:`RiskWatch.attach` after
every fill. Reconciliation mismatches arrive one by one on the bus; :meth:`RiskWatch.reconciled`
closes a reconciliation, so a drift that persists hour after hour is one alert, and its end
another. Parameter decay is already one event per change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from thunes.domain.identifiers import VenueId
from thunes.domain.messages import OrderFilled
from thunes.execution.reconciliation import Mismatch
from thunes.governance.params import DecayState, DecayStateChanged
from thunes.risk import BreakerState, CircuitBreaker, SwitchState, TradingState

__all__ = ["RiskView", "RiskWatch", "decay_text", "mismatch_text"]

M = TypeVar("M")


class RiskView(Protocol):
    """The parts of ``RiskEngine`` watched (thread-safe reads)."""

    @property
    def kill_switch(self) -> SwitchState: ...

    @property
    def trading_state(self) -> TradingState: ...

    def breaker(self, venue: VenueId) -> CircuitBreaker: ...


class Subscriber(Protocol):
    def subscribe(self, message_type: type[M], handler: Callable[[M], None]) -> None: ...


_MEANING = {
    TradingState.ACTIVE: "orders flow within the limits",
    TradingState.REDUCING: "only exits (SELL of a held position) and cancels",
    TradingState.HALTED: "cancels only",
}


def mismatch_text(mismatches: Sequence[Mismatch]) -> str:
    lines = [f"• {m.kind.value} {m.subject}: ledger {m.local}, venue {m.venue} ({m.action})" for m in mismatches[:10]]
    more = f"\n… and {len(mismatches) - 10} more" if len(mismatches) > 10 else ""
    return f"reconciliation: {len(mismatches)} mismatch(es) between ledger and venue\n" + "\n".join(lines) + more


def decay_text(event: DecayStateChanged) -> str:
    sharpe = "" if event.sharpe_7d is None else f", sharpe_7d {event.sharpe_7d:.2f}"
    urgent = " (review the parameters)" if event.state is DecayState.CRITICAL else ""
    return (f"parameter decay {event.strategy_id} [{event.param_hash[:8]}]: {event.previous.value} → "
            f"{event.state.value}{urgent}: {event.detail}{sharpe}, {event.closed_trades} closed trades")  # fmt: skip


class RiskWatch:
    """Alerts on changes of the risk state, reconciliation and decay; starts from the state it
    finds (a kill-switch already on at start is not news; the restart alert reports it)."""

    def __init__(self, risk: RiskView, venues: Sequence[VenueId], alert: Callable[[str], None]) -> None:
        self._risk, self._venues, self._alert = risk, tuple(venues), alert
        self._switch = risk.kill_switch
        self._state = risk.trading_state
        self._open = {v: risk.breaker(v).state is not BreakerState.CLOSED for v in self._venues}
        self._found: dict[tuple[str, str], Mismatch] = {}  # by the reconciliation under way
        self._known: frozenset[tuple[str, str]] = frozenset()  # reported by the last one

    def attach(self, bus: Subscriber) -> None:
        """Mismatches and decay events; and a check after every fill, which the risk engine has
        booked before it is published (a close that breaches the daily loss turns the switch on)."""
        bus.subscribe(Mismatch, self.on_mismatch)
        bus.subscribe(DecayStateChanged, self.on_decay)
        bus.subscribe(OrderFilled, lambda _: self.check())

    def check(self) -> None:
        """Alert on whatever changed since the last check (nothing when nothing did)."""
        switch, state = self._risk.kill_switch, self._risk.trading_state
        if switch.active and switch != self._switch:  # also off and on again between two checks
            self._alert(f"kill-switch ON by {switch.by}: {switch.reason}. Trading {state.value}: {_MEANING[state]}.")
        elif self._switch.active and not switch.active:
            self._alert(f"kill-switch OFF by {switch.by}. Trading {state.value}: {_MEANING[state]}.")
        elif state is not self._state:
            self._alert(f"trading state {self._state.value} → {state.value}: {_MEANING[state]}.")
        self._switch, self._state = switch, state
        for venue in self._venues:
            breaker = self._risk.breaker(venue)
            is_open = breaker.state is not BreakerState.CLOSED
            if is_open and not self._open[venue]:
                self._alert(f"circuit breaker OPEN for venue {venue} after {breaker.config.failure_threshold} "
                            f"server-side failures: no order is sent for {breaker.config.open_s:.0f} s, "
                            "exits are retried after it closes.")  # fmt: skip
            elif self._open[venue] and not is_open:
                self._alert(f"circuit breaker closed for venue {venue}: orders flow again.")
            self._open[venue] = is_open

    def on_mismatch(self, mismatch: Mismatch) -> None:
        self._found[(mismatch.kind.value, mismatch.subject)] = mismatch

    def reconciled(self) -> None:
        """A reconciliation has ended: alert when it found mismatches the previous one did not,
        and when ledger and venue agree again."""
        found, self._found = self._found, {}
        keys = frozenset(found)
        if keys - self._known:
            self._alert(mismatch_text(list(found.values())))
        elif self._known and not keys:
            self._alert("reconciliation clean again: ledger and venue agree.")
        self._known = keys

    def on_decay(self, event: DecayStateChanged) -> None:
        self._alert(decay_text(event))
