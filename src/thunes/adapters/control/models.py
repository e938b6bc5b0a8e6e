"""The control API's bodies, as frozen pydantic models: the handlers serialise them, the OpenAPI
schema is generated from them, and the CLI's client parses answers with them, so the three
cannot drift apart. Money is a decimal string (exact), times are Unix nanoseconds (UTC)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ControlResult",
    "ErrorBody",
    "KillSwitchOffRequest",
    "KillSwitchOnRequest",
    "KillSwitchView",
    "OperatorAction",
    "OrderView",
    "OrdersBody",
    "PortfolioBody",
    "PortfolioLine",
    "PositionView",
    "PositionsBody",
    "PriceSource",
    "StatusBody",
    "StopEntryRequest",
    "ViewSource",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class OperatorAction(StrEnum):
    """What an operator may ask a running trader (CLI, control API, Telegram alike)."""

    KILL_SWITCH_ON = "KILL_SWITCH_ON"
    KILL_SWITCH_OFF = "KILL_SWITCH_OFF"
    STOP_ENTRY = "STOP_ENTRY"  # no new entries: the kill-switch's REDUCING, exits still allowed


class KillSwitchView(BaseModel):
    model_config = _FROZEN

    active: bool
    by: str = Field(description="Who turned it on (or off, when inactive).")
    reason: str
    since_ns: int | None = Field(description="When it last changed (risk clock, Unix ns).")


class StatusBody(BaseModel):
    """The running trader: its risk state, its ledger and its progress."""

    model_config = _FROZEN

    symbol: str
    trading_state: str = Field(description="ACTIVE, REDUCING (exits only) or HALTED (cancels only).")
    kill_switch: KillSwitchView
    realized_pnl_today: Decimal = Field(description="Realised PnL of the UTC day, quote currency.")
    realized_pnl: Decimal = Field(description="Realised PnL of the position since the ledger began, net of fees.")
    open_positions: list[str] = Field(description="Symbols holding a position slot.")
    position: Decimal = Field(description="Quantity held, base asset.")
    last_close: Decimal | None
    last_bar_ns: int | None = Field(description="Open time of the last candle traded (market clock, Unix ns).")
    bars: int
    orders_submitted: int
    fills: int
    orders_in_doubt: int = Field(description="Journaled orders whose venue answer is not known yet.")
    fills_in_ledger: int
    control_requests: int = Field(description="Operator requests applied by this session.")


class PositionView(BaseModel):
    model_config = _FROZEN

    symbol: str
    quantity: Decimal
    average_price: Decimal | None
    realized_pnl: Decimal
    fees: Decimal = Field(description="Fees paid, in the quote currency.")


class PositionsBody(BaseModel):
    model_config = _FROZEN

    positions: list[PositionView]


class ViewSource(StrEnum):
    """Where a portfolio's figures come from."""

    SESSION = "session"  # the session's own valuation (its control API, or the portfolio.json it left)
    LEDGER = "ledger"  # rebuilt from the ledger's fills by the CLI, no session running


class PriceSource(StrEnum):
    """What a symbol is valued at."""

    LAST_CLOSE = "last close"  # the close of the last candle the session traded
    LAST_FILL = "last fill"  # the ledger's last fill of the symbol (no later close known)
    NONE = "none"  # no price known: valued at 0


class PortfolioLine(BaseModel):
    """One symbol of the account, valued in the quote currency."""

    model_config = _FROZEN

    symbol: str
    base_asset: str
    quantity: Decimal = Field(description="Held, base asset.")
    average_price: Decimal | None = Field(description="Cost per unit held, entry fees included; null when flat.")
    price: Decimal | None = Field(description="The price the symbol is valued at; null when none is known.")
    price_ns: int | None = Field(description="When that price was made (market clock, Unix ns).")
    price_source: PriceSource
    exposure: Decimal = Field(description="quantity x price, quote currency.")
    realized_pnl: Decimal = Field(description="Realised PnL net of fees, quote currency.")
    unrealized_pnl: Decimal = Field(description="The position at price, less its fee-inclusive cost.")
    fees: Decimal = Field(description="Fees paid, quote currency.")
    tick_size: Decimal | None = Field(description="Prices are shown at it (null: unknown).")
    step_size: Decimal | None = Field(description="Quantities are shown at it (null: unknown).")


class PortfolioBody(BaseModel):
    """The account across its symbols in the quote currency: positions, exposure per asset, cash,
    equity, realised and unrealised PnL. ``equity`` = ``cash`` + ``exposure`` exactly; null when the cash
    or a held symbol's price is not known."""

    model_config = _FROZEN

    source: ViewSource
    quote_asset: str
    quote_precision: int | None = Field(description="Decimals of the quote asset: money is shown at it.")
    market_ns: int | None = Field(description="The session's clock when valued (market clock, Unix ns).")
    wall_ns: int = Field(description="When the figures were taken (wall clock, Unix ns).")
    fills: int = Field(description="Ledger fills the figures include.")
    cash: Decimal | None = Field(description="The quote balance (free + locked); null when not known.")
    cash_source: str = Field(description="Where the cash comes from.")
    exposure: Decimal = Field(description="The sum of the lines' exposures.")
    equity: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    lines: list[PortfolioLine] = Field(description="One per symbol, in portfolio order.")
    notes: list[str] = Field(default_factory=list, description="What the reader should know about the figures.")


class OrderView(BaseModel):
    model_config = _FROZEN

    client_order_id: str
    symbol: str
    side: str
    order_type: str
    status: str
    quantity: Decimal
    filled_quantity: Decimal
    price: Decimal | None
    ts_ns: int


class OrdersBody(BaseModel):
    model_config = _FROZEN

    orders: list[OrderView] = Field(description="Newest first, as the venue last reported them.")


class KillSwitchOnRequest(BaseModel):
    model_config = _FROZEN

    by: str = Field(default="operator", min_length=1, description="Who turns it on.")
    reason: str = Field(default="manual", min_length=1, description="Why (recorded with the switch).")


class KillSwitchOffRequest(BaseModel):
    model_config = _FROZEN

    by: str = Field(min_length=1, description="The person turning it off (never an automatic actor).")


class StopEntryRequest(BaseModel):
    model_config = _FROZEN

    by: str = Field(default="operator", min_length=1)
    reason: str = Field(default="stop entry", min_length=1)


class ControlResult(BaseModel):
    """A request posted to the session's control file, and whether the trader has applied it."""

    model_config = _FROZEN

    seq: int = Field(description="The request's number in the control file.")
    action: OperatorAction
    applied: bool = Field(description="Applied by the trader before the answer (else: between the next candles).")
    kill_switch: bool = Field(description="The kill-switch when answering.")
    was_active: bool = Field(description="The kill-switch before the request.")


class ErrorBody(BaseModel):
    model_config = _FROZEN

    error: str
