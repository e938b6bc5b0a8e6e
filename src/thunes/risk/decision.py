"""What goes into the risk gate (an intent) and what comes out (a decision, never an exception).

A denial is a business outcome to audit and publish as ``OrderDenied``, exactly like nautilus_trader's
risk engine: raising would let a strategy bug look like an infrastructure fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from thunes.domain.identifiers import StrategyId, VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.messages import DenialReason, OrderDenied
from thunes.domain.orders import OrderRequest

__all__ = ["DEFAULT_FEE_RATE", "RiskDecision", "RiskIntent"]

DEFAULT_FEE_RATE = Decimal("0.001")  # Binance spot taker fee without BNB discount


@dataclass(frozen=True, slots=True)
class RiskIntent:
    """An order a strategy wants placed on ``venue``, with what the gate needs to judge it.

    - ``reference_price`` prices MARKET orders (notional limit, exit feasibility) and anchors the
      percent-price filters; use the venue's average price (``GET /api/v3/avgPrice``).
    - ``instrument``, when given, turns on the exchange-filter check (the order is normalised:
      rounded to tick and step) and, for BUYs, exit feasibility with ``fee_rate``/``fee_in_base``.
    - ``open_orders`` is the account's open order count on the symbol (MAX_NUM_ORDERS filter).
    """

    request: OrderRequest
    strategy_id: StrategyId
    venue: VenueId
    reference_price: Decimal | None = None
    instrument: Instrument | None = None
    fee_rate: Decimal = DEFAULT_FEE_RATE
    fee_in_base: bool = True
    open_orders: int = 0


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """Approved with the order to send (possibly normalised), or denied with a reason and detail.

    For filter failures ``reason`` is ``FILTERS`` and ``detail`` starts with ``FILTERS_<NAME>``
    (SPEC §2 reason codes); :attr:`reason_code` gives that full code.
    """

    intent: RiskIntent
    order: OrderRequest
    reason: DenialReason | None = None
    detail: str = ""
    ts_ns: int = 0

    @property
    def approved(self) -> bool:
        return self.reason is None

    @property
    def reason_code(self) -> str | None:
        """``KILL_SWITCH``, ``DAILY_LOSS``, ..., or ``FILTERS_LOT_SIZE`` for a filter failure."""
        if self.reason is DenialReason.FILTERS and self.detail.startswith("FILTERS_"):
            return self.detail.split(":", 1)[0]
        return None if self.reason is None else self.reason.value

    def denied_event(self) -> OrderDenied:
        """The ``OrderDenied`` event to publish; only for a denial."""
        if self.reason is None:
            raise ValueError("an approved decision has no denial event")
        return OrderDenied(
            ts_ns=self.ts_ns,
            venue=self.intent.venue,
            client_order_id=self.order.client_order_id,
            reason=self.reason,
            detail=self.detail,
            symbol=self.order.symbol,
            side=self.order.side,
        )
