"""The adapter's settings: typed, frozen, validated at start (STYLE habit 5), and hashed.

The hash (:meth:`AdapterSettings.param_hash`) goes into every decision and its audit record: two
decisions with the same hash were judged by the same whitelist, thresholds and bands.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from thunes.rl.schemas import Mode

__all__ = ["AdapterSettings", "BandSettings", "PolicySettings"]

_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PolicySettings(BaseModel):
    """One whitelisted policy: which model versions may act (empty: any) and the confidence floor."""

    model_config = _FROZEN

    model_versions: tuple[str, ...] = ()
    min_confidence: float = Field(default=0.5, ge=0, le=1)


class BandSettings(BaseModel):
    """The widest distance a LIMIT price may sit from the reference mid, per side, in basis points:
    Binance's PERCENT_PRICE_BY_SIDE shape (``bidMultiplierUp`` = 1 + bid_up_bps / 10^4, ...), but much
    tighter than the venue's. An action's ``price_band_bps`` can only narrow these."""

    model_config = _FROZEN

    bid_up_bps: Decimal = Field(default=Decimal(100), gt=0, le=10_000)
    bid_down_bps: Decimal = Field(default=Decimal(100), gt=0, le=10_000)
    ask_up_bps: Decimal = Field(default=Decimal(100), gt=0, le=10_000)
    ask_down_bps: Decimal = Field(default=Decimal(100), gt=0, le=10_000)


class AdapterSettings(BaseModel):
    """``policies``: the whitelist (gate 1), by policy id. ``max_reference_age_ms``: how old a quote may
    be (older: STALE_REFERENCE). ``fee_rate``: what exit feasibility assumes. ``remember_actions``: how
    many decided action ids are kept in memory to answer replays (the order journal keeps the rest)."""

    model_config = _FROZEN

    mode: Mode = Mode.SHADOW
    venue: str = Field(default="sim", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    policies: dict[str, PolicySettings] = Field(default_factory=dict)
    bands: BandSettings = Field(default_factory=BandSettings)
    max_reference_age_ms: int = Field(default=2000, gt=0)
    fee_rate: Decimal = Field(default=Decimal("0.001"), ge=0, lt=1)
    remember_actions: int = Field(default=100_000, ge=1)
    max_line_bytes: int = Field(default=65_536, ge=256)
    # Shadow mode with a shadow account (thunes shadow): an accepted BUY keeps its risk slot until its
    # would-be fill is booked there (thunes.rl.outcomes), so decisions in flight count as they would live.
    shadow_fills: bool = False

    def param_hash(self, *context: str) -> str:
        """SHA-256 of the settings' canonical JSON (sorted keys) and ``context`` (the adapter's gate
        version, the risk engine's description): everything that decided."""
        text = json.dumps([self.model_dump(mode="json"), *context], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
