"""Where the risk state survives a restart: a port and two small stores.

The engine saves a :class:`~thunes.risk.state.RiskSnapshot` after every change, before the changing
method returns, so what is stored is always the last state (SPEC §2: the kill-switch is persisted).
:class:`JsonFileRiskStore` writes atomically (temporary file, fsync, ``os.replace``, fsync of the
directory): a crash leaves either the old file or the new one, never half of one. It uses only the
standard library's file I/O; a database store implements the same two methods with the same codec
(:func:`snapshot_to_dict` / :func:`snapshot_from_dict`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol, VenueId
from thunes.domain.position import Position
from thunes.risk.state import SCHEMA_VERSION, Reservation, RiskSnapshot, SwitchState

__all__ = [
    "InMemoryRiskStore",
    "RiskStateStore",
    "RiskStoreError",
    "snapshot_from_dict",
    "snapshot_to_dict",
]


class RiskStoreError(RuntimeError):
    """The stored state cannot be read: a person must look at the file before trading resumes."""


class RiskStateStore(Protocol):
    """The persistence port of the risk engine."""

    def load(self) -> RiskSnapshot | None:
        """The last saved snapshot, or ``None`` when nothing was ever saved."""
        ...

    def save(self, snapshot: RiskSnapshot) -> None:
        """Store ``snapshot`` durably before returning."""
        ...


class InMemoryRiskStore:
    """Keeps the last snapshot in memory (backtests, tests); ``saves`` counts calls."""

    def __init__(self, snapshot: RiskSnapshot | None = None) -> None:
        self._snapshot = snapshot
        self.saves = 0

    def load(self) -> RiskSnapshot | None:
        return self._snapshot

    def save(self, snapshot: RiskSnapshot) -> None:
        self._snapshot = snapshot
        self.saves += 1


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _switch_to(s: SwitchState) -> dict[str, Any]:
    return {"active": s.active, "by": s.by, "reason": s.reason, "since_ns": s.since_ns}


def _switch_from(d: dict[str, Any]) -> SwitchState:
    return SwitchState(bool(d["active"]), str(d["by"]), str(d["reason"]), d["since_ns"])


def _position_to(p: Position) -> dict[str, Any]:
    return {
        "symbol": str(p.symbol),
        "base_asset": p.base_asset,
        "quote_asset": p.quote_asset,
        "quantity": str(p.quantity),
        "cost_basis": str(p.cost_basis),
        "realized_pnl": str(p.realized_pnl),
        "fees_quote": str(p.fees_quote),
        "opened_ns": p.opened_ns,
    }


def _position_from(d: dict[str, Any]) -> Position:
    return Position(
        symbol=Symbol(d["symbol"]),
        base_asset=d["base_asset"],
        quote_asset=d["quote_asset"],
        quantity=Decimal(d["quantity"]),
        cost_basis=Decimal(d["cost_basis"]),
        realized_pnl=Decimal(d["realized_pnl"]),
        fees_quote=Decimal(d["fees_quote"]),
        opened_ns=d["opened_ns"],
    )


def _reservation_to(r: Reservation) -> dict[str, Any]:
    return {
        "client_order_id": str(r.client_order_id),
        "symbol": str(r.symbol),
        "strategy_id": str(r.strategy_id),
        "venue": str(r.venue),
        "ts_ns": r.ts_ns,
        "base_asset": r.base_asset,
        "quote_asset": r.quote_asset,
    }


def _reservation_from(d: dict[str, Any]) -> Reservation:
    return Reservation(
        client_order_id=ClientOrderId(d["client_order_id"]),
        symbol=Symbol(d["symbol"]),
        strategy_id=StrategyId(d["strategy_id"]),
        venue=VenueId(d["venue"]),
        ts_ns=int(d["ts_ns"]),
        base_asset=d["base_asset"],
        quote_asset=d["quote_asset"],
    )


def snapshot_to_dict(snapshot: RiskSnapshot) -> dict[str, Any]:
    """JSON-ready form: Decimals as strings, the day as ISO date, ``trading_state`` for readers."""
    return {
        "schema_version": snapshot.schema_version,
        "trading_state": snapshot.trading_state.value,
        "kill_switch": _switch_to(snapshot.kill_switch),
        "halt": _switch_to(snapshot.halt),
        "day": snapshot.day.isoformat(),
        "realized_pnl_today": _dec(snapshot.realized_pnl_today),
        "cool_down_until_ns": snapshot.cool_down_until_ns,
        "positions": [_position_to(p) for p in snapshot.positions],
        "reservations": [_reservation_to(r) for r in snapshot.reservations],
        "updated_ns": snapshot.updated_ns,
    }


def snapshot_from_dict(data: dict[str, Any]) -> RiskSnapshot:
    """Inverse of :func:`snapshot_to_dict`; ``ValueError`` for an unknown schema version."""
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"risk state schema_version {version!r}, this code reads {SCHEMA_VERSION}")
    return RiskSnapshot(
        day=date.fromisoformat(data["day"]),
        kill_switch=_switch_from(data["kill_switch"]),
        halt=_switch_from(data["halt"]),
        realized_pnl_today=Decimal(data["realized_pnl_today"]),
        cool_down_until_ns=data["cool_down_until_ns"],
        positions=tuple(_position_from(p) for p in data["positions"]),
        reservations=tuple(_reservation_from(r) for r in data["reservations"]),
        updated_ns=int(data["updated_ns"]),
    )
