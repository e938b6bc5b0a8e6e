"""``thunes capital``: deposits, equity, realised profit and what may be withdrawn, by ISO week.

Why by week: micro-live grows the stake only from proven profit, and the operator decides once a
week whether to take profit out. The figures come from what the session keeps: the ledger's fills
(realised PnL net of every fee, open positions at cost), its daily summaries (days traded), and
the deposits and withdrawals the operator records here (``capital.jsonl``; the venue's own deposit
history needs a wallet permission a trading key should not have).

- equity = deposits - withdrawals + realised profit (open positions valued at cost: no price here);
- withdrawable = realised profit not yet withdrawn, as far as the cash outside open positions
  allows; deposits stay as trading capital.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from thunes.adapters.clock import SystemClock
from thunes.adapters.storage.sql_store import ledger_fills
from thunes.app.cli.options import asset
from thunes.app.errors import fail
from thunes.domain.identifiers import Symbol
from thunes.domain.orders import Fill
from thunes.domain.position import Position, PositionError

__all__ = ["CAPITAL_FILE", "Movement", "MovementKind", "WeekRow", "capital_app", "read_movements", "record_movement",
           "weekly_capital"]  # fmt: skip

CAPITAL_FILE = "capital.jsonl"
ZERO = Decimal(0)
NS = 1_000_000_000

capital_app = typer.Typer(help="Capital by ISO week: deposits, equity, realised profit, withdrawable amount.")
DataDir = Annotated[Path, typer.Option(help="The session's data directory (ledger.db, capital.jsonl).")]


class MovementKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"


@dataclass(frozen=True, slots=True)
class Movement:
    """Money put into or taken out of the trading account, in the quote currency."""

    ts_ns: int
    kind: MovementKind
    amount: Decimal
    note: str = ""


@dataclass(frozen=True, slots=True)
class WeekRow:
    """One ISO week: flows during the week, balances at its end (quote currency)."""

    week: str  # 2026-W48
    deposits: Decimal
    withdrawals: Decimal
    realised: Decimal  # net of fees
    fees: Decimal
    equity: Decimal
    withdrawable: Decimal
    days_traded: int


def _week(ts_ns: int) -> str:
    year, week, _ = datetime.fromtimestamp(ts_ns // NS, tz=UTC).isocalendar()
    return f"{year:04d}-W{week:02d}"


def _weeks_between(first: str, last: str) -> Iterator[str]:
    """Every ISO week from ``first`` to ``last``, quiet ones included (balances carry over)."""
    day = date.fromisocalendar(int(first[:4]), int(first[6:]), 1)
    while (key := f"{day.isocalendar().year:04d}-W{day.isocalendar().week:02d}") <= last:
        yield key
        day = date.fromordinal(day.toordinal() + 7)


@dataclass(slots=True)
class _Book:
    """Running totals while fills and movements are replayed in time order."""

    positions: dict[str, Position]
    deposits: Decimal = ZERO
    withdrawals: Decimal = ZERO
    realised: Decimal = ZERO

    def apply(self, fill: Fill, quote: str) -> tuple[Decimal, Decimal]:
        """Book ``fill``; the realised PnL and the fees it adds."""
        symbol = str(fill.symbol)
        held = self.positions.get(symbol) or Position(Symbol(symbol), symbol.removesuffix(quote), quote)
        after = held.apply(fill)
        self.positions[symbol] = after
        gained = after.realized_pnl - held.realized_pnl
        self.realised += gained
        return gained, after.fees_quote - held.fees_quote

    def cash(self) -> Decimal:
        return self.equity() - sum((p.cost_basis for p in self.positions.values()), ZERO)

    def equity(self) -> Decimal:
        return self.deposits - self.withdrawals + self.realised


def weekly_capital(fills: Iterable[Fill], movements: Iterable[Movement], days: Iterable[str],
                   quote: str = "USDT") -> list[WeekRow]:  # fmt: skip
    """The weekly table, oldest first; ``days`` are the ISO dates of the daily summaries."""
    events: list[tuple[int, Fill | Movement]] = [(f.ts_ns, f) for f in fills] + [(m.ts_ns, m) for m in movements]
    events.sort(key=lambda e: e[0])
    traded = Counter(_week(int(datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp()) * NS) for d in days)
    if not events and not traded:
        return []
    weeks = sorted({_week(ts) for ts, _ in events} | set(traded))
    book, rows, i = _Book({}), [], 0
    for week in _weeks_between(weeks[0], weeks[-1]):
        flows = dict.fromkeys(("deposits", "withdrawals", "realised", "fees"), ZERO)
        while i < len(events) and _week(events[i][0]) == week:
            item = events[i][1]
            if isinstance(item, Movement) and item.kind is MovementKind.DEPOSIT:
                book.deposits += item.amount
                flows["deposits"] += item.amount
            elif isinstance(item, Movement):
                book.withdrawals += item.amount
                flows["withdrawals"] += item.amount
            else:
                gained, fees = book.apply(item, quote)
                flows["realised"] += gained
                flows["fees"] += fees
            i += 1
        withdrawable = max(ZERO, min(book.realised - book.withdrawals, book.cash()))
        rows.append(WeekRow(week, flows["deposits"], flows["withdrawals"], flows["realised"], flows["fees"],
                            book.equity(), withdrawable, traded.get(week, 0)))  # fmt: skip
    return rows


def record_movement(data_dir: Path, movement: Movement) -> None:
    """Append ``movement`` to the session's ``capital.jsonl`` (one JSON line, flushed to disk)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"ts_ns": movement.ts_ns, "kind": movement.kind.value, "amount": str(movement.amount),
                       "note": movement.note}, sort_keys=True)  # fmt: skip
    with (data_dir / CAPITAL_FILE).open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def read_movements(data_dir: Path) -> list[Movement]:
    """Every recorded deposit and withdrawal (none when the file does not exist)."""
    path = data_dir / CAPITAL_FILE
    if not path.is_file():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            row = json.loads(line)
            out.append(
                Movement(int(row["ts_ns"]), MovementKind(row["kind"]), Decimal(row["amount"]), row.get("note", ""))
            )
        except (ValueError, KeyError, TypeError, InvalidOperation):
            fail(f"{path}:{number}: unreadable line; fix or remove it")
    return out


def _days(data_dir: Path) -> list[str]:
    path = data_dir / "daily_summaries.jsonl"
    if not path.is_file():
        return []
    return [str(json.loads(line)["day"]) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _text(value: Decimal) -> str:
    """Exact and positional, without trailing zeros: ``0.983``, ``10``."""
    return format(value.normalize(), "f")


MAX_AMOUNT = Decimal(10) ** 15  # more than any account holds: a larger figure is a typo
MAX_DECIMALS = 18


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        fail(f"amount must be a number, got {text!r}")
    if not amount.is_finite() or amount <= 0:
        fail("amount must be positive")
    if amount > MAX_AMOUNT or -amount.normalize().as_tuple().exponent > MAX_DECIMALS:  # type: ignore[operator]
        fail(f"amount must be at most {MAX_AMOUNT:,} with at most {MAX_DECIMALS} decimals, got {text[:40]!r}")
    return amount


def _session_dir(data_dir: Path) -> Path:
    """The data directory must exist: a typo must not create a new one, nor show an empty account."""
    if not data_dir.is_dir():
        fail(f"no data directory at {data_dir} (check --data-dir; create it first for a new account)")
    return data_dir


def _record(kind: MovementKind, amount: str, data_dir: Path, note: str, on: str | None) -> None:
    ts_ns = SystemClock().now_ns()
    if on is not None:
        try:
            ts_ns = int(datetime.fromisoformat(on).replace(tzinfo=UTC).timestamp()) * NS
        except ValueError:
            fail(f"--on must be a date like 2026-11-30, got {on!r}")
    value = _amount(amount)
    record_movement(_session_dir(data_dir), Movement(ts_ns, kind, value, note))
    typer.echo(f"recorded {kind.value.lower()} of {value} in {data_dir / CAPITAL_FILE}")


Amount = Annotated[str, typer.Argument(help="Amount in the quote currency, e.g. 10.")]
Note = Annotated[str, typer.Option(help="Free text kept with the record.")]
On = Annotated[str | None, typer.Option(help="The day it happened (YYYY-MM-DD, UTC); default now.")]


@capital_app.command("deposit")
def deposit(amount: Amount, data_dir: DataDir = Path("data/live"), note: Note = "", on: On = None) -> None:
    """Record money put into the trading account."""
    _record(MovementKind.DEPOSIT, amount, data_dir, note, on)


@capital_app.command("withdraw")
def withdraw(amount: Amount, data_dir: DataDir = Path("data/live"), note: Note = "", on: On = None) -> None:
    """Record money taken out of the trading account."""
    _record(MovementKind.WITHDRAWAL, amount, data_dir, note, on)


@capital_app.command("show")
def show(
    data_dir: DataDir = Path("data/live"),
    quote: Annotated[str, typer.Option(help="The quote currency of the traded symbols.")] = "USDT",
    weeks: Annotated[int, typer.Option(min=1, help="Only the last N weeks.")] = 12,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Deposits, equity, realised profit (net of fees) and the withdrawable amount, by ISO week."""
    quote = asset(quote, "--quote")
    try:
        fills = ledger_fills(_session_dir(data_dir) / "ledger.db")
        rows = weekly_capital(fills, read_movements(data_dir), _days(data_dir), quote)[-weeks:]
    except PositionError as e:
        fail(f"cannot rebuild positions from {data_dir / 'ledger.db'}: {e}")
    if as_json:
        for row in rows:
            typer.echo(json.dumps({k: _text(v) if isinstance(v, Decimal) else v for k, v in asdict(row).items()}))
        return
    table = Table("week", "deposits", "withdrawals", "realised", "fees", "equity", "withdrawable", "days",
                  title=f"capital in {data_dir} ({quote}; open positions at cost)", title_justify="left")  # fmt: skip
    for r in rows:
        table.add_row(r.week, f"{r.deposits:.2f}", f"{r.withdrawals:.2f}", f"{r.realised:.4f}", f"{r.fees:.4f}",
                      f"{r.equity:.2f}", f"{r.withdrawable:.2f}", str(r.days_traded))  # fmt: skip
    Console().print(table if rows else f"nothing recorded in {data_dir} yet")
