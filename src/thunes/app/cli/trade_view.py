"""What ``thunes trade`` shows: the live view while a session runs and the summary after it, for one
pair (the account's figures) or a portfolio (a row per symbol, then the account's totals). Money is
shown at the instrument's precision (:mod:`thunes.app.display`)."""

from __future__ import annotations

import time
from decimal import Decimal

from rich.console import Console, Group, RenderableType
from rich.table import Table

from thunes.app.display import at_precision, at_step
from thunes.control.status import PaperStatus

__all__ = ["StatusLines", "status_view"]


class StatusLines:
    """The live view for a non-terminal: one line per ``every_s`` seconds, after ``prefix``."""

    def __init__(self, console: Console, every_s: float = 5.0, prefix: str = "") -> None:
        self.console, self.every_s, self.last, self.prefix = console, every_s, time.monotonic(), prefix

    def __call__(self, s: PaperStatus) -> None:
        if time.monotonic() - self.last < self.every_s:
            return
        self.last = time.monotonic()
        switch = "ON" if s.kill_switch else "off"
        pnl = at_precision(s.realized_pnl, s.quote_precision, grouped=False)
        if len(s.symbols) > 1:
            held = ", ".join(f"{r.symbol} {at_step(r.position, r.step_size, grouped=False)}"
                             for r in s.symbols.values())  # fmt: skip
            line = (f"{self.prefix}bars {s.bars} positions {held} orders {s.submitted} fills {s.filled} "
                    f"pnl {pnl} kill-switch {switch}")  # fmt: skip
        else:
            close = at_step(s.last_close, s.tick_size, grouped=False)
            position = at_step(s.position, s.step_size, grouped=False)
            line = (f"{self.prefix}bars {s.bars} close {close} position {position} orders {s.submitted} "
                    f"fills {s.filled} pnl {pnl} kill-switch {switch}")  # fmt: skip
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)  # one line, whatever the width


def status_view(status: PaperStatus, title: str, venue: str | None = None) -> RenderableType:
    """The account's table; with several symbols, a row per symbol above it."""
    totals = _account(status, title if len(status.symbols) <= 1 else f"{title}: account", venue)
    if len(status.symbols) <= 1:
        return totals
    return Group(_per_symbol(status, title), totals)


def _account(status: PaperStatus, title: str, venue: str | None) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    denied = ", ".join(f"{k} {v}" for k, v in sorted(status.denied.items())) or "none"
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(status.rejected.items())) or "none"
    several = len(status.symbols) > 1
    rows = [("venue", venue)] if venue else []
    digits = status.quote_precision
    rows.append(("bars", f"{status.bars:,}"))
    if several:
        rows.append(("symbols", ", ".join(status.symbols)))
    else:
        rows += [("last close", at_step(status.last_close, status.tick_size)),
                 ("position", at_step(status.position, status.step_size))]  # fmt: skip
    rows += [
        ("orders sent / fills", f"{status.submitted} / {status.filled}"),
        ("realised PnL (net of fees)", at_precision(status.realized_pnl, digits)),
        ("fees", at_precision(status.fees, digits)),
    ]
    rows += _valued(status)
    rows += [
        ("denied by risk", denied),
        ("rejected by venue", rejected),
        ("kill-switch", "ON" if status.kill_switch else "off"),
        ("missed candles", f"{status.missed_candles}"),
        ("reconciliations / mismatches", f"{status.reconciliations} / {status.mismatches}"),
    ]
    if status.metrics_url:
        rows.append(("metrics", f"{status.metrics_url}/metrics"))
    if status.control_url:
        rows.append(("control API", status.control_url))
    if status.equity_end:
        equity = f"{at_precision(status.equity_start, digits)} → {at_precision(status.equity_end, digits)}"
        rows += [("equity start → end", equity),
                 ("venue trades / ledger fills", f"{status.venue_trades} / {status.ledger_fills}")]  # fmt: skip
        if several:
            differ = [r.symbol for r in status.symbols.values() if r.venue_trades != r.ledger_fills]
            rows.append(("venue trades = ledger fills", "every symbol" if not differ else "NO: " + ", ".join(differ)))
            apart = [r.symbol for r in status.symbols.values() if r.venue_balance != r.position]
            rows.append(("position = venue balance", "every symbol" if not apart else "NO: " + ", ".join(apart)))
    for key, value in rows:
        table.add_row(key, value)
    return table


def _valued(status: PaperStatus) -> list[tuple[str, str]]:
    """The account valued at the last closes (as ``thunes portfolio`` shows it): cash, exposure, equity."""
    digits, account = status.quote_precision, status.account
    if account is None:
        return [("exposure at the last closes", at_precision(status.exposure, digits)),
                ("unrealised PnL", at_precision(status.unrealized_pnl, digits))]  # fmt: skip
    value = account.valuation
    equity = at_precision(value.equity, digits) if value.priced else "not known (a holding has no price yet)"
    return [("cash", at_precision(value.cash, digits)),
            ("exposure at the last closes", at_precision(value.exposure, digits)),
            ("equity (cash + exposure)", equity),
            ("unrealised PnL", at_precision(value.unrealized_pnl, digits))]  # fmt: skip


def _per_symbol(status: PaperStatus, title: str) -> Table:
    """A row per symbol (its exposure and PnL as the account was last valued), and the total."""
    ended = bool(status.equity_end)
    digits = status.quote_precision
    rows = list(status.symbols.values())
    lines = {str(line.symbol): line for line in status.account.valuation.lines} if status.account else {}
    exposure = [lines[r.symbol].exposure if r.symbol in lines else r.exposure for r in rows]
    unrealized = [lines[r.symbol].unrealized_pnl if r.symbol in lines else r.unrealized_pnl for r in rows]
    zero = Decimal(0)
    columns = [("symbol", "total"), ("bars", f"{sum(r.bars for r in rows):,}"), ("last close", ""), ("position", ""),
               ("exposure", at_precision(sum(exposure, zero), digits)),
               ("realised PnL", at_precision(sum((r.realized_pnl for r in rows), zero), digits)),
               ("unrealised PnL", at_precision(sum(unrealized, zero), digits)),
               ("fees", at_precision(sum((r.fees for r in rows), zero), digits)),
               ("orders / fills", f"{sum(r.submitted for r in rows)} / {sum(r.filled for r in rows)}")]  # fmt: skip
    if ended:
        columns += [("venue trades / ledger fills", f"{status.venue_trades} / {status.ledger_fills}"),
                    ("venue balance", "")]  # fmt: skip
    table = Table(title=f"{title}: per symbol", title_justify="left", show_footer=True)
    for name, footer in columns:
        table.add_column(name, footer, justify="left" if name == "symbol" else "right", no_wrap=name == "symbol")
    for r, held, gain in zip(rows, exposure, unrealized, strict=True):
        cells = [r.symbol, f"{r.bars:,}", at_step(r.last_close, r.tick_size), at_step(r.position, r.step_size),
                 at_precision(held, digits), at_precision(r.realized_pnl, digits), at_precision(gain, digits),
                 at_precision(r.fees, digits), f"{r.submitted} / {r.filled}"]  # fmt: skip
        if ended:
            cells += [f"{r.venue_trades} / {r.ledger_fills}", at_step(r.venue_balance, r.step_size)]
        table.add_row(*cells)
    return table
