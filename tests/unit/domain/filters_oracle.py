"""An independent reading of ``filters.md``, written straight from the doc over the raw JSON.

It shares no code with ``thunes.domain.rules`` (nor its parser), so agreement between the two is
evidence, not tautology. Zero bounds disable a rule where ``filters.md`` says so (PRICE_FILTER);
MARKET_LOT_SIZE is published as zeros when unused, so its zero ``maxQty``/``stepSize`` are treated
as disabled too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def oracle_violations(
    raw_symbol: dict[str, Any],
    *,
    side: str,
    order_type: str,
    quantity: Decimal,
    price: Decimal | None,
    reference_price: Decimal,
) -> set[str]:
    """Names of the filters an order breaks, per filters.md."""
    broken: set[str] = set()
    filters = {f["filterType"]: f for f in raw_symbol["filters"]}
    market = order_type == "MARKET"
    pf = filters["PRICE_FILTER"]
    if price is not None:
        lo, hi, tick = _d(pf["minPrice"]), _d(pf["maxPrice"]), _d(pf["tickSize"])
        if (lo != 0 and price < lo) or (hi != 0 and price > hi) or (tick != 0 and price % tick != 0):
            broken.add("PRICE_FILTER")
        pps = filters.get("PERCENT_PRICE_BY_SIDE")
        if pps is not None:
            key = "bid" if side == "BUY" else "ask"
            up, down = _d(pps[f"{key}MultiplierUp"]), _d(pps[f"{key}MultiplierDown"])
            if not (reference_price * down <= price <= reference_price * up):
                broken.add("PERCENT_PRICE_BY_SIDE")
    lot = filters["LOT_SIZE"]
    if not (_d(lot["minQty"]) <= quantity <= _d(lot["maxQty"])) or quantity % _d(lot["stepSize"]) != 0:
        broken.add("LOT_SIZE")
    mls = filters.get("MARKET_LOT_SIZE")
    if market and mls is not None:
        lo, hi, step = _d(mls["minQty"]), _d(mls["maxQty"]), _d(mls["stepSize"])
        if quantity < lo or (hi != 0 and quantity > hi) or (step != 0 and quantity % step != 0):
            broken.add("MARKET_LOT_SIZE")
    notional = (reference_price if market else price) * quantity  # type: ignore[operator]
    nf = filters.get("NOTIONAL")
    if nf is not None:
        if (not market or nf["applyMinToMarket"]) and notional < _d(nf["minNotional"]):
            broken.add("NOTIONAL")
        if (not market or nf["applyMaxToMarket"]) and notional > _d(nf["maxNotional"]):
            broken.add("NOTIONAL")
    mn = filters.get("MIN_NOTIONAL")
    if mn is not None and (not market or mn.get("applyToMarket", True)) and notional < _d(mn["minNotional"]):
        broken.add("MIN_NOTIONAL")
    mp = filters.get("MAX_POSITION")
    if mp is not None and side == "BUY" and quantity > _d(mp["maxPosition"]):
        broken.add("MAX_POSITION")
    return broken
