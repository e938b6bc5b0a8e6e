"""The portfolio a session or a backtest trades: (symbol, decision source with its parameters) pairs
on one account. A pair names its strategy and overrides only the ``[strategy]`` parameters it
changes, so a TOML file states each difference once:

    [[portfolio]]
    symbol = "BTCUSDT"
    strategy = "sma_cross"
    params = { sma_fast = 10, sma_slow = 30 }
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from thunes.app.config_fields import SymbolField

__all__ = ["MAX_PAIRS", "PairSettings", "check_pairs", "pair_strategy", "parse_pairs"]

MAX_PAIRS = 64  # more pairs on one account is a typo, not a portfolio


class PairSettings(BaseModel):
    """One (symbol, strategy) pair of the portfolio."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: SymbolField = Field(description="Symbol in Binance form, e.g. ETHUSDT.")
    strategy: str | None = Field(default=None, description="Strategy of this pair (default: [strategy].name).")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters over [strategy]'s for this pair, e.g. { sma_fast = 10 }."
    )


def pair_strategy(base: BaseModel, pair: PairSettings) -> Any:
    """``base`` (the ``[strategy]`` settings) with the pair's strategy and parameters, validated as a
    whole (a pair's ``sma_fast`` above the shared ``sma_slow`` is refused, as in ``[strategy]``). A key
    that is no ``[strategy]`` setting is a user strategy's parameter (``params = { window = 5 }``); the
    ``[strategy.params]`` of another strategy than the pair's are not its own, and are left out."""
    if "name" in pair.params:
        raise ValueError("name the strategy with 'strategy', not in 'params'")
    fields = type(base).model_fields
    data = {**base.model_dump(), **{k: v for k, v in pair.params.items() if k in fields}}
    if pair.strategy is not None and pair.strategy != data["name"]:
        data["name"], data["params"] = pair.strategy, {}
    own = {k: v for k, v in pair.params.items() if k not in fields}
    if own:
        data["params"] = {**data.get("params", {}), **own}
    return type(base).model_validate(data)


def check_pairs(pairs: Sequence[PairSettings], base: BaseModel) -> None:
    """One decision source per symbol (a symbol holds one position), at most :data:`MAX_PAIRS`, and each
    pair's strategy valid; ``ValueError`` naming the pair otherwise."""
    if len(pairs) > MAX_PAIRS:
        raise ValueError(f"at most {MAX_PAIRS} pairs, got {len(pairs)}")
    seen: set[str] = set()
    for i, pair in enumerate(pairs):
        if pair.symbol in seen:
            raise ValueError(f"portfolio[{i}]: {pair.symbol} is already traded by an earlier pair (one per symbol)")
        seen.add(pair.symbol)
        try:
            pair_strategy(base, pair)
        except ValidationError as e:
            details = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'strategy'}: {err['msg']}"
                                for err in e.errors(include_url=False, include_input=False))  # fmt: skip
            raise ValueError(f"portfolio[{i}] ({pair.symbol}): {details}") from None


def parse_pairs(text: str) -> list[dict[str, str]]:
    """``BTCUSDT:sma_cross,ETHUSDT:rsi_reversion`` (``--pairs``) as ``portfolio`` entries; a bare symbol
    takes ``[strategy]``. The strategy part may itself hold a colon (``pkg.mod:Class``), so only the
    first colon splits. ``ValueError`` naming the bad entry."""
    entries: list[dict[str, str]] = []
    for raw in text.split(","):
        item = raw.strip()
        symbol, colon, strategy = item.partition(":")
        if not symbol.strip():
            raise ValueError(f"--pairs: empty entry in {text!r}; expected SYMBOL[:STRATEGY],...")
        if colon and not strategy.strip():
            raise ValueError(f"--pairs: {item!r} names no strategy after ':'")
        entry = {"symbol": symbol.strip().upper()}
        if strategy.strip():
            entry["strategy"] = strategy.strip()
        entries.append(entry)
    return entries
