"""The RL wire schemas (SPEC §9): what a policy proposes (:class:`RLAction`), what THUNES decided
(:class:`Decision`) and what the venue did with an accepted order (:class:`ExecFill`).

Pydantic v2 models, frozen, with ``extra="forbid"`` and no NaN or infinity anywhere: an external policy
is untrusted input, and a field THUNES does not know, or a number no order can carry, is refused
rather than guessed at. Each model carries ``schema_version`` so a log written today stays readable
(and is refused, not misread, by a later incompatible version). Money is ``Decimal`` (a JSON number or
a string; never a float on the way in), probabilities are floats in [0, 1].
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thunes.domain.enums import OrderType, Side, TimeInForce

__all__ = [
    "SCHEMA_VERSION",
    "Constraints",
    "Decision",
    "DecisionStatus",
    "ExecEvent",
    "ExecFill",
    "Gate",
    "Mode",
    "NormalizedOrder",
    "QtyMode",
    "RLAction",
    "action_id_of",
    "json_schemas",
]

SCHEMA_VERSION: Literal[1] = 1
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_enum_values=False)


class QtyMode(StrEnum):
    """How ``qty_value`` sizes the order: base units, quote units, or a fraction of equity at risk."""

    BASE = "BASE"
    QUOTE = "QUOTE"
    RISK = "RISK"  # qty = equity x qty_value / (stop_loss_pct x reference price)


class DecisionStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    NOOP = "NOOP"  # nothing to do: a replayed action already decided


class Gate(StrEnum):
    """Where a decision stopped: PARSE before the nine gates, then the gates in the roadmap's order."""

    PARSE = "PARSE"
    POLICY = "POLICY"  # 1
    TTL = "TTL"  # 2
    CONFIDENCE = "CONFIDENCE"  # 3
    KILL_SWITCH = "KILL_SWITCH"  # 4
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"  # 5
    PRICE_BAND = "PRICE_BAND"  # 6
    FILTERS = "FILTERS"  # 7
    RISK = "RISK"  # 8
    SUBMISSION = "SUBMISSION"  # 9: idempotent submission

    @property
    def number(self) -> int:
        """0 for PARSE, 1..9 for the gates."""
        return _GATE_NUMBERS[self]


_GATE_NUMBERS = {g: i for i, g in enumerate(Gate)}


class Mode(StrEnum):
    SHADOW = "shadow"  # every gate but the last; nothing is ever placed
    PAPER = "paper"
    LIVE = "live"


class ExecEvent(StrEnum):
    NEW = "NEW"
    PARTIAL = "PARTIAL"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REPLACED = "REPLACED"


class Constraints(BaseModel):
    """Per-action limits the policy asks for; they can tighten the adapter's, never loosen them.

    ``price_band_bps``: the largest |limit/ref - 1| x 10^4 the action accepts (None: the adapter's).
    ``stop_loss_pct``: the stop distance RISK sizing divides by (0.02 = 2 %).
    """

    model_config = _STRICT

    price_band_bps: Decimal | None = Field(default=None, gt=0, le=10_000)
    stop_loss_pct: Decimal = Field(default=Decimal("0.02"), gt=0, lt=1)


class RLAction(BaseModel):
    """One proposal of a policy. ``ts_ns``: when the policy made it (Unix ns, UTC); stale when the
    adapter sees it more than ``ttl_ms`` later. ``metadata``: free JSON (features, explanation)."""

    model_config = _STRICT

    schema_version: Literal[1] = SCHEMA_VERSION
    ts_ns: int = Field(ge=0)
    policy_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    model_version: str = Field(min_length=1, max_length=64)
    symbol: str = Field(pattern=r"^[A-Z0-9]{2,20}$")
    side: Side
    order_type: Literal[OrderType.MARKET, OrderType.LIMIT]
    qty_mode: QtyMode
    qty_value: Decimal = Field(gt=0)
    limit_price: Decimal | None = Field(default=None, gt=0)
    tif: TimeInForce = TimeInForce.GTC
    ttl_ms: int = Field(default=1500, gt=0, le=86_400_000)
    confidence: float = Field(ge=0, le=1)
    constraints: Constraints = Field(default_factory=Constraints)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _limit_price_with_limit(self) -> RLAction:
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("a LIMIT action needs limit_price")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("a MARKET action takes no limit_price")
        return self


def action_id_of(action: RLAction) -> str:
    """The action's identity: SHA-256 (32 hex) of its canonical JSON. The same action replayed, from
    the same line or another, has the same id, hence the same client order id (idempotent submission)."""
    text = action.model_dump_json(round_trip=True)  # field order is the model's: canonical for one version
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class NormalizedOrder(BaseModel):
    """The order as it would reach the venue: rounded to tick and step, checked against every filter."""

    model_config = _STRICT

    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    notional: Decimal  # quantity x (limit price, or the live price a MARKET order is checked against)


class Decision(BaseModel):
    """What THUNES decided about one action: one per input, ACCEPTED, REJECTED or NOOP.

    ``gate`` and ``reason`` name the first gate that refused it (``reason`` is a code such as
    ``TTL_EXPIRED``, ``KILL_SWITCH``, ``FILTERS_LOT_SIZE``, ``STALE_REFERENCE``; ``detail`` says why in
    words). ``placed``: an order was sent for it (never in shadow mode). ``latency_us``: time from the
    action's arrival to the decision, in process. ``param_hash`` identifies the gates' settings.
    """

    model_config = _STRICT

    schema_version: Literal[1] = SCHEMA_VERSION
    action_id: str
    client_order_id: str | None = None
    status: DecisionStatus
    gate: Gate | None = None
    reason: str | None = None
    detail: str = ""
    policy_id: str | None = None
    model_version: str | None = None
    symbol: str | None = None
    side: Side | None = None
    normalized_order: NormalizedOrder | None = None
    reference_price: Decimal | None = None
    reference_age_ms: int | None = None
    risk_snapshot: dict[str, Any] = Field(default_factory=dict)
    explanation: dict[str, Any] | None = None
    mode: Mode
    placed: bool = False
    param_hash: str
    latency_us: int = 0
    line: int | None = None  # the input line number, when the action came from a stream of lines
    ts_ns: int

    @property
    def accepted(self) -> bool:
        return self.status is DecisionStatus.ACCEPTED


class ExecFill(BaseModel):
    """What the venue did with an accepted order, as the policy sees it."""

    model_config = _STRICT

    schema_version: Literal[1] = SCHEMA_VERSION
    client_order_id: str
    symbol: str
    event: ExecEvent
    price: Decimal | None = None
    qty_base: Decimal = Field(ge=0)
    commission: Decimal = Field(default=Decimal(0), ge=0)
    commission_asset: str | None = None
    ts_ns: int = Field(ge=0)


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each wire model, by name (``thunes schema rl`` prints them)."""
    return {model.__name__: model.model_json_schema() for model in (RLAction, Decision, ExecFill)}
