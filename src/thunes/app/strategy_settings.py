"""The strategy's settings (``[strategy]``): which strategy trades and its parameters.

The built-ins keep their own keys (``sma_fast``, ``rsi_period``...); a user strategy is named by its spec
(docs/strategy-api.md) and takes its parameters from ``[strategy.params]``. The spec's form is checked
here, with the settings; what it names is loaded and its parameters checked by the command that runs it
(:func:`thunes.app.composition.check_strategy`), since that imports the user's code.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from thunes.strategy.loader import is_builtin, parse_spec

__all__ = ["MAX_PARAMS", "MAX_WINDOW", "StrategySettings"]

MAX_WINDOW = 1_000_000  # bars: a longer window is a typo (a 1e40 one overflowed numpy after the work began)
MAX_PARAMS = 256  # a user strategy's parameters: more is not a configuration


class StrategySettings(BaseModel):
    """Which strategy trades and its parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        default="sma_cross",
        description="Strategy to run: sma_cross, rsi_reversion, an installed strategy's name (entry point group "
        "thunes.strategies), module:Class or path/to/file.py:Class (docs/strategy-api.md).",
    )
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict,
        max_length=MAX_PARAMS,
        description="A user strategy's parameters by name (the built-ins take the sma_* and rsi_* keys).",
    )
    sma_fast: int = Field(default=20, ge=1, le=MAX_WINDOW, description="Fast moving-average window, in bars.")
    sma_slow: int = Field(
        default=50, ge=2, le=MAX_WINDOW, description="Slow moving-average window, in bars; above sma_fast."
    )
    rsi_period: int = Field(default=14, ge=2, le=MAX_WINDOW, description="RSI look-back, in bars.")
    rsi_oversold: float = Field(default=30.0, gt=0, lt=100, description="RSI level (0-100) below which to buy.")
    rsi_overbought: float = Field(default=70.0, gt=0, lt=100, description="RSI level (0-100) above which to sell.")
    rsi_stop_loss: Decimal = Field(
        default=Decimal("0.03"), gt=0, lt=1, description="Stop-loss distance below entry, a fraction (0.03 = 3 %)."
    )

    @field_validator("name")
    @classmethod
    def _spec_has_a_form(cls, name: str) -> str:
        parse_spec(name)  # the form only: what it names is loaded by the command that runs it
        return name

    @model_validator(mode="after")
    def _windows_are_ordered(self) -> Self:
        if self.params and is_builtin(self.name):
            raise ValueError(f"params are for a user strategy; {self.name} takes the sma_* and rsi_* keys, "
                             f"not {', '.join(sorted(self.params))}")  # fmt: skip
        if self.sma_fast >= self.sma_slow:
            raise ValueError(f"sma_fast ({self.sma_fast}) must be less than sma_slow ({self.sma_slow})")
        if self.rsi_oversold >= self.rsi_overbought:
            raise ValueError(
                f"rsi_oversold ({self.rsi_oversold}) must be less than rsi_overbought ({self.rsi_overbought})"
            )
        return self

    @model_serializer(mode="wrap")
    def _params_only_when_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No ``params`` key for a built-in: the parameter hashes recorded before user strategies (the
        audit trail's, the parameter history's) are of these very dumps, and stay the same."""
        data: dict[str, Any] = handler(self)
        if not self.params:
            data.pop("params", None)
        return data
