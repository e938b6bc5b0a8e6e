"""Where the risk state survives a restart: a port and two small stores.

The engine saves a :class:`~thunes.risk.state.RiskSnapshot` after every change, before the changing
method returns, so what is stored is always the last state (SPEC §2: the kill-switch is persisted).
:class:`JsonFileRiskStore` writes atomically (temporary file, fsync, ``os.replace``, fsync of the
directory): a crash leaves either the old file or the new one, never half of one. It uses only the
standard library's file I/O; a database store implements the same two methods with the same codec
(:func:`snapshot_to_dict` / :func:`snapshot_from_dict`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol, VenueId
from thunes.domain.position import Position
from thunes.risk.state import SCHEMA_VERSION, Reservation, RiskSnapshot, SwitchState

__all__ = [
    "InMemoryRiskStore",
    "OnDemandRiskStore",
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


class OnDemandRiskStore:
    """Keeps no copy: the last saved state is built when it is read (a backtest's risk state, which
    nothing reads while it runs; copying the book at every change cost an order a few microseconds).

    The engine hands :meth:`save_deferred` the time of the change and how to build its snapshot; as it
    saves after every change of what a snapshot holds, building it later gives the state it saved.
    """

    def __init__(self) -> None:
        self._build: Callable[[int], RiskSnapshot] | None = None
        self._ts_ns = 0
        self.saves = 0

    def load(self) -> RiskSnapshot | None:
        return None if self._build is None else self._build(self._ts_ns)

    def save(self, snapshot: RiskSnapshot) -> None:
        self.save_deferred(snapshot.updated_ns, lambda _ts_ns: snapshot)

    def save_deferred(self, ts_ns: int, build: Callable[[int], RiskSnapshot]) -> None:
        """The state changed at ``ts_ns``; ``build(ts_ns)`` makes its snapshot, when someone asks."""
        self._build, self._ts_ns = build, ts_ns
        self.saves += 1


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _switch_to(s: SwitchState) -> dict[str, Any]:
    return {"active": s.active, "by": s.by, "reason": s.reason, "since_ns": s.since_ns}


def _strict(value: Any, kind: type, what: str) -> Any:
    """``value`` when it has exactly the JSON type ``kind`` (a bool is not an int); else TypeError.

    The codec reads safety state: ``bool("false")`` is True and ``"abc"`` is not a time, so a value
    of the wrong type is refused, never coerced.
    """
    if type(value) is not kind:
        raise TypeError(f"{what} must be {kind.__name__}, got {type(value).__name__} {value!r:.40}")
    return value


def _int_or_none(value: Any, what: str) -> int | None:
    return None if value is None else int(_strict(value, int, what))


def _count_or_none(value: Any, what: str) -> int | None:
    count = _int_or_none(value, what)
    if count is not None and count < 0:
        raise ValueError(f"{what} must not be negative, got {count}")
    return count


def _text_or_none(value: Any, what: str) -> str | None:
    return None if value is None else str(_strict(value, str, what))


def _money(value: Any, what: str) -> Decimal:
    """A finite decimal written as a string (never a float, never NaN or infinity)."""
    number = Decimal(_strict(value, str, what))
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def _switch_from(d: dict[str, Any]) -> SwitchState:
    _strict(d, dict, "a switch")
    return SwitchState(_strict(d["active"], bool, "active"), _strict(d["by"], str, "by"),
                       _strict(d["reason"], str, "reason"), _int_or_none(d["since_ns"], "since_ns"))  # fmt: skip


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
    _strict(d, dict, "a position")
    return Position(
        symbol=Symbol(_strict(d["symbol"], str, "symbol")),
        base_asset=_strict(d["base_asset"], str, "base_asset"),
        quote_asset=_strict(d["quote_asset"], str, "quote_asset"),
        quantity=_money(d["quantity"], "quantity"),
        cost_basis=_money(d["cost_basis"], "cost_basis"),
        realized_pnl=_money(d["realized_pnl"], "realized_pnl"),
        fees_quote=_money(d["fees_quote"], "fees_quote"),
        opened_ns=_int_or_none(d["opened_ns"], "opened_ns"),
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
    _strict(d, dict, "a reservation")
    return Reservation(
        client_order_id=ClientOrderId(_strict(d["client_order_id"], str, "client_order_id")),
        symbol=Symbol(_strict(d["symbol"], str, "symbol")),
        strategy_id=StrategyId(_strict(d["strategy_id"], str, "strategy_id")),
        venue=VenueId(_strict(d["venue"], str, "venue")),
        ts_ns=_strict(d["ts_ns"], int, "ts_ns"),
        base_asset=_text_or_none(d["base_asset"], "base_asset"),
        quote_asset=_text_or_none(d["quote_asset"], "quote_asset"),
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
        "fills_booked": snapshot.fills_booked,
    }


def snapshot_from_dict(data: dict[str, Any]) -> RiskSnapshot:
    """Inverse of :func:`snapshot_to_dict`: ``ValueError``/``TypeError``/``KeyError`` for an unknown
    schema version, a missing field or a field of the wrong type (nothing is coerced), and for a
    stored ``trading_state`` that contradicts the switches."""
    _strict(data, dict, "the risk state")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ValueError(f"risk state schema_version {version!r}, this code reads {SCHEMA_VERSION}")
    snapshot = RiskSnapshot(
        day=date.fromisoformat(_strict(data["day"], str, "day")),
        kill_switch=_switch_from(data["kill_switch"]),
        halt=_switch_from(data["halt"]),
        realized_pnl_today=_money(data["realized_pnl_today"], "realized_pnl_today"),
        cool_down_until_ns=_int_or_none(data["cool_down_until_ns"], "cool_down_until_ns"),
        positions=tuple(_position_from(p) for p in _strict(data["positions"], list, "positions")),
        reservations=tuple(_reservation_from(r) for r in _strict(data["reservations"], list, "reservations")),
        updated_ns=_strict(data["updated_ns"], int, "updated_ns"),
        fills_booked=_count_or_none(data.get("fills_booked"), "fills_booked"),  # absent: a file from before
    )
    stated = data.get("trading_state", snapshot.trading_state.value)
    if stated != snapshot.trading_state.value:  # hand-edited: which half is true is unknown
        raise ValueError(f"trading_state {stated!r} contradicts the switches ({snapshot.trading_state.value})")
    return snapshot
