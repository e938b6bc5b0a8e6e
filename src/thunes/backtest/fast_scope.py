"""What the fast backtest's compiled kernel reproduces, declared, and the check of a run's engine against it.

The kernel is the engine core rewritten in integers, so it reproduces one engine: this risk gate (these
rules, in this order, at these versions, with the limits it digests), the square-root slippage model,
the replay model's ``avgPrice`` window with the venue pricing at the quote, and the built-in strategies
(whose vectorised signals are tested equal to their bar-by-bar ones). The engine a run would use is
built from its :class:`~thunes.backtest.parts.EngineParts` by the one assembly and asked what it is
(``RiskEngine.describe``, ``SimVenue.pricing``, the trader's config); anything else -- a rule added,
removed, reordered or of another version, a limit the kernel does not digest, another slippage model,
another window, an L2 book, an unknown strategy -- is named in the reason the fast path gives for
running the engine core instead. Fail closed: what is not declared equal does not run on the kernel.

Free of numba: the check runs before the kernel is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.backtest.parts import ACCOUNT, EngineParts
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.engine.trader import TraderConfig
from thunes.risk import RiskDescription, RiskLimits, RuleSpec
from thunes.simvenue.market import PricingSpec
from thunes.simvenue.replay_model import MS_PER_MINUTE, REPLAY
from thunes.strategy import RsiReversion, SmaCross, Strategy

__all__ = [
    "KERNEL_ENTRY_RULES",
    "KERNEL_GATE_VERSION",
    "KERNEL_ORDER_RULES",
    "KERNEL_SLIPPAGE",
    "EngineModel",
    "engine_model",
    "pricing_unsupported",
    "risk_unsupported",
    "strategy_unsupported",
]

KERNEL_GATE_VERSION = 1  # ``risk.engine.GATE_VERSION`` the kernel follows (``_risk_code``)
KERNEL_ORDER_RULES = (RuleSpec("trading_state", 1), RuleSpec("held_quantity", 1))
KERNEL_ENTRY_RULES = (
    RuleSpec("daily_loss", 1),
    RuleSpec("cool_down", 1),
    RuleSpec("one_position_per_symbol", 1),
    RuleSpec("max_open_positions", 1),  # cannot deny with one symbol (at least one slot): not evaluated
    RuleSpec("max_order_notional", 1),
    RuleSpec("exit_feasibility", 1),
)
KERNEL_LIMITS = frozenset({"max_order_notional", "max_daily_loss", "max_open_positions", "cool_down_s",
                           "one_position_per_symbol", "dust_notional", "exit_buffer", "quote_asset"})  # fmt: skip
"""The limits the kernel digests; any other must be off (None): it knows no equity, for one."""
KERNEL_SLIPPAGE = ("sqrt_impact", 1, ("base_bps", "cap_bps", "reference_range"))
KERNEL_STRATEGIES: dict[str, tuple[type[Strategy], str]] = {
    SmaCross.name: (SmaCross, "1.0"),
    RsiReversion.name: (RsiReversion, "1.0"),
}


@dataclass(frozen=True, slots=True)
class EngineModel:
    """What the kernel takes from the engine it reproduces, once checked: the risk limits, the venue's
    pricing and the trader's config (budget, the fee rate it sizes with)."""

    limits: RiskLimits
    pricing: PricingSpec
    trader: TraderConfig


def strategy_unsupported(strategy: Strategy) -> str | None:
    """Why the fast path cannot act on ``strategy``'s vectorised signals alone (only the built-ins' are
    tested equal to their bar-by-bar ones); None when it can."""
    known = KERNEL_STRATEGIES.get(strategy.name)
    if known is not None and type(strategy) is known[0] and strategy.version == known[1]:
        return None
    name, kind = strategy.name, type(strategy)
    if known is not None:  # a built-in's name on another class or version
        name = f"{name} ({kind.__module__}.{kind.__qualname__} {strategy.version})"
    return f"user strategy {name}: the fast path runs the built-ins only"


def _rules(kind: str, engine: tuple[RuleSpec, ...], kernel: tuple[RuleSpec, ...]) -> str | None:
    if engine == kernel:
        return None
    engine_ids, kernel_ids = [r.rule_id for r in engine], [r.rule_id for r in kernel]
    added = [str(r) for r in engine if r.rule_id not in kernel_ids]
    removed = [str(r) for r in kernel if r.rule_id not in engine_ids]
    if added or removed:
        detail = "; ".join(f"{what} {', '.join(rules)}" for what, rules in (("added", added), ("removed", removed))
                           if rules)  # fmt: skip
    elif engine_ids != kernel_ids:
        detail = "reordered"
    else:
        detail = "changed " + ", ".join(f"{e} (kernel: {k})" for e, k in zip(engine, kernel, strict=True) if e != k)
    listed = ", ".join(map(str, engine)) or "none"
    return f"risk {kind} rules differ from the kernel's ({detail}): the engine runs {listed}"


def risk_unsupported(risk: RiskDescription) -> str | None:
    """Why the kernel does not reproduce this risk gate; None when it does."""
    if risk.gate_version != KERNEL_GATE_VERSION:
        return f"risk gate version {risk.gate_version}, the kernel follows version {KERNEL_GATE_VERSION}"
    reason = _rules("order", risk.order_rules, KERNEL_ORDER_RULES) or _rules("entry", risk.entry_rules,
                                                                              KERNEL_ENTRY_RULES)  # fmt: skip
    if reason is not None:
        return reason
    unmodelled = [f"{f.name}={getattr(risk.limits, f.name)}" for f in fields(risk.limits)
                  if f.name not in KERNEL_LIMITS and getattr(risk.limits, f.name) is not None]  # fmt: skip
    if unmodelled:
        return f"risk limit {', '.join(unmodelled)}: the kernel does not model it (it knows no equity)"
    return None


def pricing_unsupported(pricing: PricingSpec, instrument: Instrument) -> str | None:
    """Why the kernel does not price like this venue; None when it does."""
    model_id, version, names = KERNEL_SLIPPAGE
    slippage = pricing.slippage
    if (slippage.model_id, slippage.version) != (model_id, version):
        return f"slippage model {slippage}: the kernel reproduces {model_id}/{version}"
    if tuple(k for k, _ in slippage.params) != names or not all(math.isfinite(v) and v > 0 for _, v in slippage.params):
        return f"slippage model {slippage}: the kernel needs {', '.join(names)}, each finite and positive"
    window = REPLAY.avg_price_window_ms(instrument)
    if pricing.avg_price_window_ms != window:
        return (f"avgPrice window {pricing.avg_price_window_ms / MS_PER_MINUTE:g} min: the kernel takes the replay "
                f"model's for {instrument.symbol}, {window / MS_PER_MINUTE:g} min")  # fmt: skip
    if pricing.depth_book:
        return "the venue walks an L2 book: the kernel prices at the quote"
    if pricing.fee_rate < 0:
        return f"venue fee rate {pricing.fee_rate} (a rebate)"
    return None


def engine_model(
    parts: EngineParts, info: ExchangeInfo, strategy: Strategy, instrument: Instrument
) -> EngineModel | str:
    """Build the engine ``parts`` make for ``strategy`` on ``instrument`` (``info`` holds it), as every
    backtest path builds it, and check it against the kernel: what the kernel takes from it, or why it
    cannot reproduce it."""
    venue = parts.venue(info, lambda: 0)
    engine = parts.engine(lambda: 0, InProcessVenue(venue, ACCOUNT, info), [(strategy, instrument)], InMemoryLedger())
    risk = engine.risk.describe()
    reason = risk_unsupported(risk)
    if reason is not None:
        return reason
    pricing = venue.pricing(str(instrument.symbol))
    reason = pricing_unsupported(pricing, instrument)
    trader = engine.portfolio.trader(instrument.symbol).config
    return reason if reason is not None else EngineModel(risk.limits, pricing, trader)
