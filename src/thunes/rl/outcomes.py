"""Shadow outcome tracking: what each accepted shadow decision would have done, on a shadow account.

In shadow mode nothing reaches the venue, so without more a policy could never sell: gate 8 refuses a
SELL of what the account does not hold (``INSUFFICIENT_BALANCE``), and the risk book would never see a
position, a cool-down or a day's loss. So a shadow session keeps a **shadow account**: its own kernel
(risk engine, order manager, traders, in-memory journal) over an in-process matching core that the
session feeds with the real market's quotes and trades. Each ACCEPTED decision waits for the next
quote of its symbol; then :class:`WouldBeFills` sends its normalised order to that shadow core, which
fills it at that book (the would-be fill), and the symbol's trader books it: position, risk ledger,
cool-down and daily loss move as if the order had been placed. The real venue receives nothing. With
the adapter's ``shadow_fills`` an accepted BUY keeps its risk slot until then (the trader's booking of
the fill, or the refusal here, frees it), so a burst of BUYs in flight is judged as it would be live. A
SELL in flight does not lower what the risk book holds until it fills: a second SELL of the same
quantity decided meanwhile passes gate 8 and is REJECTED here by the shadow core (insufficient balance).

The slippage delta of a fill is ``(fill - reference) / reference`` in basis points, signed so that a
positive delta is a cost (a BUY paid more, a SELL got less, than the reference the adapter priced it
at). A LIMIT order is sent IOC: one that does not cross the next book is recorded UNFILLED and leaves
the account as it was (the shadow account carries no resting orders: a simplification, said here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from thunes.domain.enums import OrderType, Side, TimeInForce
from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol
from thunes.domain.messages import OrderRejected
from thunes.domain.orders import OrderRequest
from thunes.engine.kernel import Kernel
from thunes.engine.trader import Trader
from thunes.rl.schemas import Decision, DecisionStatus, Mode

__all__ = ["WouldBeFill", "WouldBeFills", "slippage_bps"]

_BPS = Decimal(10_000)
_IOC = TimeInForce.IOC


def slippage_bps(side: Side, fill: Decimal, reference: Decimal) -> Decimal:
    """The fill against the reference, in bps; positive is a cost to the policy."""
    sign = 1 if side is Side.BUY else -1
    return sign * (fill / reference - 1) * _BPS


@dataclass(frozen=True, slots=True)
class WouldBeFill:
    """One accepted decision's outcome on the shadow account. ``status``: FILLED, PARTIAL, UNFILLED (an
    IOC limit the book did not reach) or REJECTED (the shadow core refused it, e.g. a balance spent by
    an earlier would-be fill still in flight when it was decided)."""

    action_id: str
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    status: str
    reference_price: Decimal
    quantity: Decimal
    filled: Decimal
    fill_price: Decimal | None
    slippage_bps: Decimal | None
    decided_market_ns: int
    filled_market_ns: int
    detail: str = ""

    def record(self) -> dict[str, Any]:
        """The shadow log's ``fill`` record (JSON-ready: decimals as strings)."""
        return {"record": "fill", "action_id": self.action_id, "client_order_id": self.client_order_id,
                "symbol": self.symbol, "side": self.side.value, "order_type": self.order_type.value,
                "status": self.status, "reference_price": str(self.reference_price), "quantity": str(self.quantity),
                "filled": str(self.filled),
                "fill_price": None if self.fill_price is None else str(self.fill_price),
                "slippage_bps": None if self.slippage_bps is None else float(round(self.slippage_bps, 4)),
                "decided_market_ns": self.decided_market_ns, "market_ns": self.filled_market_ns,
                "detail": self.detail}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Pending:
    order: OrderRequest
    strategy_id: StrategyId
    action_id: str
    reference: Decimal
    decided_ns: int


class WouldBeFills:
    """Accepted shadow decisions waiting for their symbol's next book, then filled on the shadow account.

    ``kernel``: the shadow account's engine (its venue port is the shadow core, never the real venue);
    ``market_ns``: the market's clock (when a decision and its fill happened, in market time)."""

    def __init__(self, kernel: Kernel, market_ns: Callable[[], int],
                 on_fill: Callable[[WouldBeFill], None] | None = None) -> None:  # fmt: skip
        self.kernel = kernel
        self.traders: Mapping[str, Trader] = {str(t.instrument.symbol): t for t in kernel.portfolio}
        self._market_ns = market_ns
        self._on_fill = on_fill or (lambda _: None)
        self._pending: defaultdict[str, list[_Pending]] = defaultdict(list)
        self.filled = self.unfilled = self.rejected = 0

    def attach(self, bus: Any) -> None:
        """Listen to the decisions on ``bus`` (the adapter publishes every one)."""
        bus.subscribe(Decision, self.on_decision)

    @property
    def waiting(self) -> int:
        return sum(len(p) for p in self._pending.values())

    def on_decision(self, decision: Decision) -> None:
        """An accepted shadow decision waits for its symbol's next book."""
        order = decision.normalized_order
        if decision.status is not DecisionStatus.ACCEPTED or decision.mode is not Mode.SHADOW or order is None:
            return
        assert decision.client_order_id is not None
        assert decision.reference_price is not None
        tif = _IOC if order.order_type is OrderType.LIMIT else None
        request = OrderRequest(ClientOrderId(decision.client_order_id), Symbol(order.symbol), order.side,
                               order.order_type, order.quantity, order.price, None, tif)  # fmt: skip
        self._pending[order.symbol].append(_Pending(request, StrategyId(decision.policy_id or "unknown"),
                                                    decision.action_id, decision.reference_price,
                                                    self._market_ns()))  # fmt: skip

    async def on_book(self, symbol: str) -> list[WouldBeFill]:
        """The shadow core holds ``symbol``'s next book: fill what waited for it, in decision order."""
        pending = self._pending.pop(symbol, None)
        if not pending:
            return []
        out = [await self._fill(p) for p in pending]
        for fill in out:
            self._on_fill(fill)
        return out

    async def _fill(self, pending: _Pending) -> WouldBeFill:
        order = pending.order
        try:
            outcome = await self.kernel.orders.submit(order, pending.strategy_id)
        except Exception as e:  # the shadow core is in process: a failure is a bug to see, not a stop
            self.kernel.risk.on_order_closed(order.client_order_id)
            self.rejected += 1
            return self._outcome(pending, "REJECTED", Decimal(0), None, f"{type(e).__name__}: {e}")
        if isinstance(outcome, OrderRejected):
            self.kernel.risk.on_order_closed(order.client_order_id)  # the slot a BUY kept (shadow_fills)
            self.rejected += 1
            return self._outcome(pending, "REJECTED", Decimal(0), None, f"{outcome.code}: {outcome.message}")
        self.traders[str(order.symbol)].book(outcome)
        filled = outcome.filled_quantity
        if filled <= 0:
            self.unfilled += 1
            return self._outcome(pending, "UNFILLED", filled, None, f"the next book did not reach {order.price}")
        self.filled += 1
        assert order.quantity is not None  # the adapter sizes in base units
        return self._outcome(pending, "FILLED" if filled >= order.quantity else "PARTIAL", filled,
                             outcome.cumulative_quote / filled)  # fmt: skip

    def _outcome(self, pending: _Pending, status: str, filled: Decimal, price: Decimal | None,
                 detail: str = "") -> WouldBeFill:  # fmt: skip
        order = pending.order
        assert order.quantity is not None
        slip = None if price is None else slippage_bps(order.side, price, pending.reference)
        return WouldBeFill(pending.action_id, str(order.client_order_id), str(order.symbol), order.side,
                           order.order_type, status, pending.reference, order.quantity, filled, price, slip,
                           pending.decided_ns, self._market_ns(), detail)  # fmt: skip
