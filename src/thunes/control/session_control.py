"""What the control API and the Telegram commands read from, and ask of, a running trader.

One place, so both answer alike, and so every state change takes the CLI's path: it is posted to
the session's control file and the trader applies it between candles (``ControlInbox``); nothing
here touches the risk engine's state. Reads come from the API's and the bot's own thread: the risk
engine is locked, the position is an immutable value, the ledger opens a connection per call.

``/stopentry`` means "no new entries": that is the kill-switch's REDUCING state (SPEC §2: only
orders that reduce exposure, and cancels), so it turns the kill-switch on with its own reason.
HALTED (cancels only) would also block the SELL that closes a position, which is not what an
operator who stops entries wants; and only a person turns the switch off again (``/killswitch off``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from thunes.adapters.alerts import Command, CommandHandler
from thunes.adapters.control import (
    ControlResult,
    KillSwitchView,
    OperatorAction,
    OrdersBody,
    OrderView,
    PortfolioBody,
    PositionsBody,
    PositionView,
    StatusBody,
)
from thunes.adapters.storage.control_file import ControlAction, ControlFile
from thunes.control.portfolio_view import session_body
from thunes.control.status import PaperStatus
from thunes.domain.orders import Fill
from thunes.engine.portfolio import Portfolio
from thunes.engine.trader import Trader
from thunes.risk import AUTOMATIC_ACTORS

__all__ = ["LedgerView", "SessionControl", "check_person"]


class LedgerView(Protocol):
    """What the operator surface reads of a session's journal and ledger (any store that keeps them)."""

    def orders(self, *, open_only: bool = False) -> list[dict[str, Any]]: ...

    def fills(self, symbol: str | None = None) -> list[Fill]: ...

    def unresolved(self) -> Sequence[object]: ...


def check_person(by: str) -> str:
    """``by`` stripped, when it names a person who may turn the kill-switch off (SPEC §2)."""
    actor = by.strip()
    if not actor:
        raise ValueError("say who turns the kill-switch off (by)")
    if actor in AUTOMATIC_ACTORS:
        raise ValueError(f"{actor!r} is an automatic actor: only a person turns the kill-switch off")
    return actor


def _money(value: Decimal) -> str:
    return f"{value:,.4f}"


class SessionControl:
    """The backend of the control API (``ControlBackend``) and of the Telegram commands.

    ``traders``: the session's portfolio (or its one trader); they share one risk engine. The status's
    symbol, position and last close are the first pair's (a one-pair session's), its counters the account's.
    ``wait_s``: how long a request waits for the trader to apply it before answering "posted".
    """

    def __init__(self, control: ControlFile, traders: Trader | Portfolio, store: LedgerView, status: PaperStatus, *,
                 wait_s: float = 5.0, wall_ns: Callable[[], int] = time.time_ns) -> None:  # fmt: skip
        self.traders = list(traders) if isinstance(traders, Portfolio) else [traders]
        self.trader = self.traders[0]  # the account's risk engine is every trader's
        self.control, self.store, self.state = control, store, status
        self.wait_s, self.wall_ns = wait_s, wall_ns

    # --- reads ----------------------------------------------------------------------------------
    def status(self) -> StatusBody:
        trader, risk = self.trader, self.trader.risk
        switch, position = risk.kill_switch, trader.position
        return StatusBody(
            symbol=",".join(str(t.instrument.symbol) for t in self.traders),
            trading_state=risk.trading_state.value,
            kill_switch=KillSwitchView(
                active=switch.active, by=switch.by, reason=switch.reason, since_ns=switch.since_ns
            ),
            realized_pnl_today=risk.realized_pnl_today,
            realized_pnl=sum((t.position.realized_pnl for t in self.traders), Decimal(0)),
            open_positions=sorted(str(s) for s in risk.open_symbols()),
            position=position.quantity,
            last_close=self.state.last_close,
            last_bar_ns=self.state.last_bar_ns,
            bars=self.state.bars,
            orders_submitted=sum(t.stats.submitted for t in self.traders),
            fills=sum(t.stats.filled for t in self.traders),
            orders_in_doubt=len(self.store.unresolved()),
            fills_in_ledger=len(self.store.fills()),
            control_requests=self.state.control_requests,
        )

    def positions(self) -> PositionsBody:
        """Every symbol the session has traded (held, or with realised PnL or fees), in portfolio order."""
        held = [t.position for t in self.traders]
        views = [PositionView(symbol=str(p.symbol), quantity=p.quantity, average_price=p.average_price,
                              realized_pnl=p.realized_pnl, fees=p.fees_quote)
                 for p in held if p.quantity or p.realized_pnl or p.fees_quote]  # fmt: skip
        return PositionsBody(positions=views)

    def portfolio(self) -> PortfolioBody:
        """The account as the session last valued it (after its latest close time's candles)."""
        return session_body(self.state, self.wall_ns)

    def orders(self, *, open_only: bool, limit: int) -> OrdersBody:
        rows = self.store.orders(open_only=open_only)[:limit]
        fields = OrderView.model_fields
        return OrdersBody(orders=[OrderView(**{k: v for k, v in row.items() if k in fields}) for row in rows])

    # --- requests -------------------------------------------------------------------------------
    async def request(self, action: OperatorAction, by: str, reason: str) -> ControlResult:
        """Post ``action`` to the control file, then wait (``wait_s`` at most) for the trader to apply it."""
        by, reason = by.strip(), reason.strip() or "manual"
        if action is OperatorAction.KILL_SWITCH_OFF:
            by = check_person(by)
        elif not by:
            raise ValueError("say who acts (by)")
        if action is OperatorAction.STOP_ENTRY and not reason.startswith("stop entry"):
            reason = f"stop entry: {reason}"
        wanted = (
            ControlAction.KILL_SWITCH_OFF if action is OperatorAction.KILL_SWITCH_OFF else ControlAction.KILL_SWITCH_ON
        )
        was = self.trader.risk.kill_switch.active
        seq = self.control.post(wanted, by, reason, self.wall_ns())
        applied = await self._applied(seq)
        return ControlResult(seq=seq, action=action, applied=applied,
                             kill_switch=self.trader.risk.kill_switch.active, was_active=was)  # fmt: skip

    async def _applied(self, seq: int) -> bool:
        deadline = time.monotonic() + self.wait_s
        while self.control.applied() < seq:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # --- Telegram -------------------------------------------------------------------------------
    def telegram_commands(self) -> dict[str, CommandHandler]:
        """``/status``, ``/profit``, ``/positions``, ``/killswitch on|off``, ``/stopentry``, ``/help``."""
        return {"status": self._tg_status, "profit": self._tg_profit, "positions": self._tg_positions,
                "killswitch": self._tg_killswitch, "stopentry": self._tg_stopentry, "help": self._tg_help}  # fmt: skip

    async def _tg_status(self, _: Command) -> str:
        s = self.status()
        switch = f"ON by {s.kill_switch.by}: {s.kill_switch.reason}" if s.kill_switch.active else "off"
        return (
            f"{s.symbol} {s.trading_state}, kill-switch {switch}\n"
            f"position {s.position.normalize()}, last close {s.last_close}\n"
            f"PnL today {_money(s.realized_pnl_today)}, total {_money(s.realized_pnl)}\n"
            f"bars {s.bars}, orders {s.orders_submitted}, fills {s.fills}, in doubt {s.orders_in_doubt}"
        )

    async def _tg_profit(self, _: Command) -> str:
        """The account as ``/portfolio`` values it (the session's latest valuation)."""
        body, quote = self.portfolio(), self.state.quote_asset
        cash = "not known yet" if body.cash is None else _money(body.cash)
        equity = "not known yet" if body.equity is None else _money(body.equity)
        return (f"realised PnL {_money(body.realized_pnl)} {quote} (net of fees {_money(body.fees)})\n"
                f"today {_money(self.trader.risk.realized_pnl_today)}, unrealised {_money(body.unrealized_pnl)}\n"
                f"cash {cash}, exposure {_money(body.exposure)}, equity {equity}\n"
                f"equity at start {_money(self.state.equity_start)}")  # fmt: skip

    async def _tg_positions(self, _: Command) -> str:
        views = self.positions().positions
        if not views:
            return "no position"
        return "\n".join(f"{v.symbol} {v.quantity.normalize()} @ {v.average_price or '-'}, realised "
                         f"{_money(v.realized_pnl)}, fees {_money(v.fees)}" for v in views)  # fmt: skip

    async def _tg_killswitch(self, command: Command) -> str:
        choice = command.args[0].lower() if command.args else ""
        if choice not in ("on", "off"):
            switch = self.trader.risk.kill_switch
            state = f"ON by {switch.by}: {switch.reason}" if switch.active else "off"
            return f"kill-switch {state}. Usage: /killswitch on [reason] | /killswitch off"
        if choice == "off":
            if command.username is None:
                raise ValueError("set a Telegram username first: only a named person turns the kill-switch off")
            result = await self.request(OperatorAction.KILL_SWITCH_OFF, f"@{command.username}", "manual")
        else:
            reason = " ".join(command.args[1:]) or "manual (Telegram)"
            result = await self.request(OperatorAction.KILL_SWITCH_ON, _who(command), reason)
        return _answer(result, "kill-switch " + choice.upper())

    async def _tg_stopentry(self, command: Command) -> str:
        reason = " ".join(command.args) or "stop entry (Telegram)"
        result = await self.request(OperatorAction.STOP_ENTRY, _who(command), reason)
        return _answer(
            result, "no new entries: kill-switch ON (REDUCING, exits still allowed; /killswitch off resumes)"
        )

    async def _tg_help(self, _: Command) -> str:
        return ("/status, /profit, /positions, /killswitch on [reason], /killswitch off, "
                "/stopentry (no new entries; exits still allowed)")  # fmt: skip


def _who(command: Command) -> str:
    return f"@{command.username}" if command.username else f"telegram chat {command.chat_id}"


def _answer(result: ControlResult, done: str) -> str:
    if not result.applied:
        return f"{done}: request #{result.seq} posted; the trader applies it between candles"
    return done + (" (it already was)" if result.was_active == result.kill_switch else "")
