"""What the risk engine remembers, as immutable values that can be stored and restored.

A :class:`RiskSnapshot` is the whole durable state: the trading state's two switches (kill-switch
and halt), the UTC day with its realised PnL, the cool-down, the open positions and the entry
reservations. The engine persists one after every change, so a restart resumes exactly where the
last change left it (SPEC §2: the kill-switch survives restarts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol, VenueId
from thunes.domain.position import Position

__all__ = [
    "SCHEMA_VERSION",
    "Reservation",
    "RiskSnapshot",
    "SwitchState",
    "TradingState",
    "next_day_ns",
    "trading_state_of",
    "utc_day",
]

SCHEMA_VERSION = 1
NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH = date(1970, 1, 1)


def utc_day(ts_ns: int) -> date:
    """The UTC calendar day of a Unix timestamp in ns (Unix time has no leap seconds: days are exact)."""
    return _EPOCH + timedelta(days=ts_ns // NS_PER_DAY)


def next_day_ns(day: date) -> int:
    """When the UTC day after ``day`` starts (Unix ns): ``utc_day(t) > day`` exactly when ``t >= next_day_ns(day)``."""
    return ((day - _EPOCH).days + 1) * NS_PER_DAY


class TradingState(StrEnum):
    """What the gate lets through (nautilus_trader's trading states).

    ACTIVE: everything the limits allow. REDUCING: only orders that reduce exposure (a SELL of a
    held position) and cancels; the kill-switch puts the engine here. HALTED: cancels only.
    """

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class SwitchState:
    """A switch that someone turned on: who, why and since when (``since_ns`` from the engine clock)."""

    active: bool = False
    by: str = ""
    reason: str = ""
    since_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """An approved BUY still working at the venue: it holds a position slot and its symbol.

    ``base_asset``/``quote_asset`` come from the instrument when the check had one; they let the
    ledger book fee-in-base fills correctly.
    """

    client_order_id: ClientOrderId
    symbol: Symbol
    strategy_id: StrategyId
    venue: VenueId
    ts_ns: int
    base_asset: str | None = None
    quote_asset: str | None = None


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """The durable state of a :class:`~thunes.risk.engine.RiskEngine` at ``updated_ns``.

    ``fills_booked``: how many of the fill ledger's fills (in booking order) this state has absorbed;
    ``None`` when unknown (a file written before the count existed, a blank state). It ties the
    state to the ledger without comparing clocks: a copy restored from before later fills holds a
    smaller count, and a session books the fills it missed from the ledger (``RiskEngine.catch_up``).
    """

    day: date
    kill_switch: SwitchState = field(default_factory=SwitchState)
    halt: SwitchState = field(default_factory=SwitchState)
    realized_pnl_today: Decimal = Decimal(0)
    cool_down_until_ns: int | None = None
    positions: tuple[Position, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    updated_ns: int = 0
    fills_booked: int | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def trading_state(self) -> TradingState:
        return trading_state_of(self.kill_switch, self.halt)


def trading_state_of(kill_switch: SwitchState, halt: SwitchState) -> TradingState:
    """HALTED beats REDUCING beats ACTIVE: the stricter switch wins."""
    if halt.active:
        return TradingState.HALTED
    if kill_switch.active:
        return TradingState.REDUCING
    return TradingState.ACTIVE
