"""The adapter's own gates (1, 2, 3, 6) and its sizing, as small pure functions.

Gates 4, 5, 7, 8 and 9 are not here: they are the risk engine's trading-state rule and circuit
breaker, the domain's filter normaliser, the risk engine's check and the order manager, called by the
adapter (:mod:`thunes.rl.adapter`). Each function returns ``None`` to pass, or a :class:`Refusal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from thunes.domain.enums import OrderType, Side
from thunes.rl.reference import Quote
from thunes.rl.schemas import Gate, QtyMode, RLAction
from thunes.rl.settings import BandSettings, PolicySettings

__all__ = ["Refusal", "band_bps", "check_band", "check_confidence", "check_policy", "check_ttl", "size"]

NS_PER_MS = 1_000_000
BPS = Decimal(10_000)
_BUY, _LIMIT = Side.BUY, OrderType.LIMIT


@dataclass(frozen=True, slots=True)
class Refusal:
    """Which gate refused, its reason code, and why in words."""

    gate: Gate
    reason: str
    detail: str


def check_policy(action: RLAction, policies: dict[str, PolicySettings]) -> Refusal | PolicySettings:
    """Gate 1: the policy is whitelisted, and so is its model version when the whitelist names versions."""
    policy = policies.get(action.policy_id)
    if policy is None:
        return Refusal(Gate.POLICY, "UNKNOWN_POLICY", f"policy {action.policy_id!r} is not whitelisted")
    if policy.model_versions and action.model_version not in policy.model_versions:
        return Refusal(Gate.POLICY, "UNKNOWN_MODEL_VERSION",
                       f"model {action.model_version!r} of {action.policy_id!r} is not whitelisted")  # fmt: skip
    return policy


def check_ttl(action: RLAction, now_ns: int) -> Refusal | None:
    """Gate 2: stale when the action is older than its ``ttl_ms``; an action dated further in the future
    than its ttl is refused too (a policy clock that far ahead cannot be trusted to date anything)."""
    age_ns = now_ns - action.ts_ns
    ttl_ns = action.ttl_ms * NS_PER_MS
    if age_ns > ttl_ns:
        return Refusal(Gate.TTL, "TTL_EXPIRED", f"action is {age_ns // NS_PER_MS} ms old, ttl {action.ttl_ms} ms")
    if -age_ns > ttl_ns:
        return Refusal(Gate.TTL, "FUTURE_TIMESTAMP", f"action dated {-age_ns // NS_PER_MS} ms ahead of the clock")
    return None


def check_confidence(action: RLAction, policy: PolicySettings) -> Refusal | None:
    """Gate 3: the policy's confidence at least its configured floor."""
    if action.confidence < policy.min_confidence:
        return Refusal(Gate.CONFIDENCE, "LOW_CONFIDENCE",
                       f"confidence {action.confidence} < minimum {policy.min_confidence}")  # fmt: skip
    return None


def band_bps(price: Decimal, reference: Decimal) -> Decimal:
    """|price / reference - 1| x 10^4: how far a price sits from the reference, in basis points."""
    return abs(price / reference - 1) * BPS


def check_band(action: RLAction, quote: Quote, bands: BandSettings) -> Refusal | None:
    """Gate 6, for LIMIT actions: the limit within the band around the reference mid on its side of it,
    PERCENT_PRICE_BY_SIDE's shape (a BUY above the mid is bounded by ``bid_up_bps``, below it by
    ``bid_down_bps``; a SELL by the ask pair). The action's own ``price_band_bps`` narrows it."""
    if action.order_type is not _LIMIT or action.limit_price is None:
        return None
    mid = quote.mid
    above = action.limit_price >= mid
    if action.side is _BUY:
        band = bands.bid_up_bps if above else bands.bid_down_bps
    else:
        band = bands.ask_up_bps if above else bands.ask_down_bps
    own = action.constraints.price_band_bps
    if own is not None and own < band:
        band = own
    distance = band_bps(action.limit_price, mid)
    if distance > band:
        where = "above" if above else "below"
        return Refusal(Gate.PRICE_BAND, "PRICE_BAND",
                       f"limit {action.limit_price} is {distance:.2f} bps {where} the reference {mid}, "
                       f"band {band} bps")  # fmt: skip
    return None


def size(action: RLAction, price: Decimal, equity: Decimal | None) -> Decimal | Refusal:
    """The base quantity the action asks for at ``price`` (the limit, or the live price a MARKET order
    takes), before rounding: BASE as given, QUOTE / price, RISK = equity x qty_value / (stop_loss_pct x
    price) (SPEC §9). Refused (gate 7, sizing comes before the filters) when it cannot be sized."""
    mode = action.qty_mode
    if mode is QtyMode.BASE:
        return action.qty_value
    try:
        if mode is QtyMode.QUOTE:
            quantity = action.qty_value / price
        else:
            if equity is None:
                return Refusal(Gate.FILTERS, "SIZING_NO_EQUITY", "RISK sizing needs the account equity: not known")
            quantity = equity * action.qty_value / (action.constraints.stop_loss_pct * price)
    except (ArithmeticError, InvalidOperation) as e:
        return Refusal(Gate.FILTERS, "SIZING_FAILED", f"cannot size {mode.value} {action.qty_value}: {e}")
    if not quantity.is_finite() or quantity <= 0:
        return Refusal(Gate.FILTERS, "SIZING_FAILED", f"{mode.value} {action.qty_value} sizes to {quantity}")
    return quantity
