"""The account as the operator sees it, in the quote currency: positions, exposure per asset, cash,
equity, realised and unrealised PnL. One body (:class:`~thunes.adapters.control.PortfolioBody`) whoever
builds it, so the control API, ``thunes portfolio`` (table or JSON) and the file a session leaves agree:

- :func:`session_body`: a running session's latest valuation (:attr:`PaperStatus.account`), served by
  its control API and written to ``portfolio.json`` (:class:`PortfolioFile`) a few times a minute and at
  the stop;
- :func:`ledger_body`: no session running. Positions come from the ledger's fills (the record of what
  was traded); prices and cash from the ``portfolio.json`` the last session left, moved on by every fill
  booked after it (a crash between two writes loses nothing): a symbol traded after the file is priced
  at its last fill, as is every symbol when there is no file (and then the cash is not known).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError

from thunes.adapters.control import PortfolioBody, PortfolioLine, PriceSource, ViewSource
from thunes.adapters.storage.durable import replace_atomically
from thunes.control.status import PaperStatus, SymbolStatus
from thunes.domain.identifiers import Symbol
from thunes.domain.orders import Fill
from thunes.domain.position import Position
from thunes.engine.portfolio import AssetLine, Valuation, cash_moved, valuation_of

__all__ = ["PORTFOLIO_FILE", "PortfolioFile", "ledger_body", "read_saved", "session_body"]

PORTFOLIO_FILE = "portfolio.json"
ZERO = Decimal(0)
# Quote assets a symbol's name may end with, longest first (a ledger without portfolio.json names no asset).
_QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "EUR", "TRY", "BTC", "ETH", "BNB")


def _body(valuation: Valuation, lines: list[PortfolioLine], *, source: ViewSource, quote: str, digits: int | None,
          market_ns: int | None, wall_ns: int, fills: int, cash: Decimal | None, cash_source: str,
          notes: list[str]) -> PortfolioBody:  # fmt: skip
    unpriced = [line.symbol for line in lines if line.quantity and line.price is None]
    if unpriced:
        notes.append(f"no price known for {', '.join(unpriced)}: valued at 0, so the equity is not known")
    equity = None if cash is None or unpriced else cash + valuation.exposure
    return PortfolioBody(source=source, quote_asset=quote, quote_precision=digits, market_ns=market_ns,
                         wall_ns=wall_ns, fills=fills, cash=cash, cash_source=cash_source,
                         exposure=valuation.exposure, equity=equity, realized_pnl=valuation.realized_pnl,
                         unrealized_pnl=valuation.unrealized_pnl, fees=valuation.fees, lines=lines,
                         notes=notes)  # fmt: skip


def _line(line: AssetLine, base: str, source: PriceSource, tick: Decimal | None, step: Decimal | None) -> PortfolioLine:
    return PortfolioLine(symbol=str(line.symbol), base_asset=base, quantity=line.quantity,
                         average_price=line.average_price, price=line.price, price_ns=line.price_ns,
                         price_source=source if line.price is not None else PriceSource.NONE,
                         exposure=line.exposure, realized_pnl=line.realized_pnl,
                         unrealized_pnl=line.unrealized_pnl, fees=line.fees, tick_size=tick,
                         step_size=step)  # fmt: skip


def session_body(status: PaperStatus, wall_ns: Callable[[], int] = time.time_ns) -> PortfolioBody:
    """The running session's account as it last valued it (before its first valuation: the rows'
    positions, no price, no cash)."""
    account = status.account
    if account is None:
        positions = [Position(Symbol(r.symbol), r.base_asset, status.quote_asset, r.position) for r in _rows(status)]
        valuation = valuation_of(ZERO, positions, {})
        market_ns, wall, fills, cash, cash_source = None, wall_ns(), 0, None, "not read yet"
        notes = ["the session has not valued its account yet (it reads its cash once it has recovered)"]
    else:
        valuation, market_ns, wall, fills = account.valuation, account.market_ns, account.wall_ns, account.fills
        cash, cash_source, notes = valuation.cash, account.cash_source, []
    rows = {r.symbol: r for r in _rows(status)}
    lines = []
    for line in valuation.lines:
        row = rows.get(str(line.symbol)) or SymbolStatus(str(line.symbol))
        lines.append(_line(line, row.base_asset, PriceSource.LAST_CLOSE, row.tick_size, row.step_size))
    return _body(valuation, lines, source=ViewSource.SESSION, quote=status.quote_asset, digits=status.quote_precision,
                 market_ns=market_ns, wall_ns=wall, fills=fills, cash=cash, cash_source=cash_source,
                 notes=notes)  # fmt: skip


def _rows(status: PaperStatus) -> list[SymbolStatus]:
    return list(status.symbols.values())  # a copy: the session may add a row while another thread reads


def ledger_body(fills: Sequence[Fill], saved: PortfolioBody | None, wall_ns: int,
                problem: str | None = None) -> PortfolioBody:  # fmt: skip
    """The account from the ledger's ``fills`` (every one, in booking order) and the session's ``saved``
    valuation (``portfolio.json``, or None: ``problem`` says why, when it was there but unusable).

    ``PositionError`` when a fill cannot be applied (a fee in a third asset has no quote value here)."""
    notes = [] if problem is None else [problem]
    if saved is not None and saved.fills > len(fills):
        notes.append(f"{PORTFOLIO_FILE} counts {saved.fills} fills but the ledger holds {len(fills)}: it belongs "
                     "to another ledger and is ignored")  # fmt: skip
        saved = None
    if saved is None and problem is None:
        notes.append(f"no {PORTFOLIO_FILE} (a session writes it): each symbol is priced at its last fill and the "
                     "cash is not known")  # fmt: skip
    known = {line.symbol: line for line in saved.lines} if saved is not None else {}
    quote = saved.quote_asset if saved is not None else _quote_of(fills, notes)
    later = fills[saved.fills :] if saved is not None else fills  # booked after the session's valuation
    positions = _positions(fills, known, quote)
    prices, times, sources = _marks(positions, known, fills, later)
    market_ns = max((f.ts_ns for f in fills), default=None)
    cash, cash_source = None, "not known: no session valued this ledger's account"
    if saved is not None:
        market_ns = saved.market_ns if not later else max(saved.market_ns or 0, market_ns or 0)
        cash, cash_source = _cash(saved, later, notes)
    valuation = valuation_of(ZERO if cash is None else cash, positions.values(), prices, times)
    lines = []
    for asset in valuation.lines:
        symbol = str(asset.symbol)
        saved_line = known.get(symbol)
        tick, step = (saved_line.tick_size, saved_line.step_size) if saved_line is not None else (None, None)
        lines.append(_line(asset, positions[symbol].base_asset, sources.get(symbol, PriceSource.NONE), tick, step))
    return _body(valuation, lines, source=ViewSource.LEDGER, quote=quote,
                 digits=None if saved is None else saved.quote_precision, market_ns=market_ns, wall_ns=wall_ns,
                 fills=len(fills), cash=cash, cash_source=cash_source, notes=notes)  # fmt: skip


_Marks = tuple[dict[Symbol, Decimal], dict[Symbol, int], dict[str, PriceSource]]


def _marks(positions: dict[str, Position], known: dict[str, PortfolioLine], fills: Sequence[Fill],
           later: Sequence[Fill]) -> _Marks:  # fmt: skip
    """Each symbol's price, its time and its kind: the session's last close when no fill of the symbol
    came after the session valued it, else the symbol's last fill."""
    last_fill = {str(f.symbol): f for f in fills}
    moved = {str(f.symbol) for f in later}
    prices: dict[Symbol, Decimal] = {}
    times: dict[Symbol, int] = {}
    sources: dict[str, PriceSource] = {}
    for symbol in positions:
        line, fill = known.get(symbol), last_fill.get(symbol)
        if line is not None and line.price is not None and symbol not in moved:
            prices[Symbol(symbol)], sources[symbol] = line.price, line.price_source
            if line.price_ns is not None:
                times[Symbol(symbol)] = line.price_ns
        elif fill is not None:
            prices[Symbol(symbol)], times[Symbol(symbol)], sources[symbol] = (
                fill.price,
                fill.ts_ns,
                PriceSource.LAST_FILL,
            )
    return prices, times, sources


def _cash(saved: PortfolioBody, later: Sequence[Fill], notes: list[str]) -> tuple[Decimal | None, str]:
    """The session's cash moved on by each fill booked after it valued the account, and where it comes from."""
    written = datetime.fromtimestamp(saved.wall_ns / 1e9, tz=UTC).isoformat(timespec="seconds")
    source = f"{saved.cash_source}, as of {PORTFOLIO_FILE} (written {written})"
    cash = None if saved.cash is None else saved.cash + sum((cash_moved(f, saved.quote_asset) for f in later), ZERO)
    if later:
        source += f", moved by the {len(later)} fills booked after it"
        symbols = ", ".join(sorted({str(f.symbol) for f in later}))
        notes.append(f"{len(later)} fills were booked after {PORTFOLIO_FILE}: the cash moved by each, their "
                     f"symbols ({symbols}) priced at their last fill")  # fmt: skip
    return cash, source


def _positions(fills: Sequence[Fill], known: dict[str, PortfolioLine], quote: str) -> dict[str, Position]:
    """Each symbol's position from its fills: the session's symbols first (in its order), then any
    other the ledger traded (an earlier portfolio's)."""
    positions = {s: Position(Symbol(s), line.base_asset, quote) for s, line in known.items()}
    for fill in fills:
        symbol = str(fill.symbol)
        if symbol not in positions:
            positions[symbol] = Position(fill.symbol, _base_of(symbol, quote), quote)
        positions[symbol] = positions[symbol].apply(fill)
    return positions


def _base_of(symbol: str, quote: str) -> str:
    return symbol.removesuffix(quote) if symbol.endswith(quote) and symbol != quote else symbol


def _quote_of(fills: Sequence[Fill], notes: list[str]) -> str:
    """The quote asset the ledger's symbols are priced in, read off their names."""
    quotes = {next((q for q in _QUOTES if str(f.symbol).endswith(q)), f.commission_asset) for f in fills}
    if len(quotes) > 1:
        notes.append(f"the ledger's symbols are priced in several assets ({', '.join(sorted(quotes))}): "
                     "the totals add them up as if they were one")  # fmt: skip
    return min(quotes) if quotes else ""


def read_saved(data_dir: Path) -> tuple[PortfolioBody | None, str | None]:
    """The valuation ``data_dir``'s last session wrote, or None and why not (None, None: no file)."""
    path = data_dir / PORTFOLIO_FILE
    try:
        return PortfolioBody.model_validate_json(path.read_bytes()), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValidationError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, (f"{PORTFOLIO_FILE} cannot be used ({reason}): each symbol is priced at its last fill and "
                      "the cash is not known")  # fmt: skip


class PortfolioFile:
    """``portfolio.json``: the session's latest valuation (:func:`session_body`), replaced atomically at
    most every ``every_s`` wall seconds (an accelerated replay values the account many times a second)
    and whenever forced (the start, the stop)."""

    def __init__(self, data_dir: Path, every_s: float = 5.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path, self.every_s, self.monotonic = data_dir / PORTFOLIO_FILE, every_s, monotonic
        self.last = -float("inf")

    def write(self, status: PaperStatus, *, force: bool = False) -> bool:
        """Write the status's valuation when due (or forced); False when not (nothing valued yet, too soon)."""
        if status.account is None or (not force and self.monotonic() - self.last < self.every_s):
            return False
        self.last = self.monotonic()
        replace_atomically(self.path, session_body(status).model_dump_json(indent=2).encode() + b"\n")
        return True
