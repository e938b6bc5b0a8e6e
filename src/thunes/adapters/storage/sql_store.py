"""The order journal and the trade ledger in SQL: SQLite by default, PostgreSQL by URL.

Every write commits before it returns, so a crash right after a call never loses what the call
recorded. Fills are unique per (symbol, trade id): recording one twice is a no-op, which makes
reconciliation and replays idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from thunes.adapters.storage.sql_engine import open_engine, open_readonly
from thunes.adapters.storage.sql_schema import METADATA, fills, intent_order, order_journal, orders
from thunes.domain.enums import Liquidity, OrderType, Side, TimeInForce
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import Fill, OrderRequest
from thunes.domain.venue import OrderReport
from thunes.execution.ports import JournalEntry, JournalState

__all__ = ["SqlStore", "ledger_fills"]


class SqlStore:
    """Implements ``OrderJournal`` plus the order/fill ledger over one SQLAlchemy engine."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        if engine is None:
            if url is None:
                raise ValueError("give the ledger's URL or an engine")
            engine = open_engine(url, METADATA)
        self.engine: Engine = engine

    @classmethod
    def read_only(cls, path: Path) -> SqlStore:
        """The ledger at ``path`` for reading only (``thunes status``): nothing on disk changes."""
        return cls(engine=open_readonly(path, ("orders", "fills", "order_journal")))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- OrderJournal ---------------------------------------------------------------------------
    def record_intent(self, request: OrderRequest, ts_ns: int) -> bool:
        row = {
            "client_order_id": str(request.client_order_id), "symbol": str(request.symbol),
            "side": request.side.value, "order_type": request.order_type.value, "quantity": request.quantity,
            "price": request.price, "quote_quantity": request.quote_quantity,
            "time_in_force": request.time_in_force.value if request.time_in_force else None,
            "state": JournalState.INTENT.value, "ts_ns": ts_ns, "attempts": 0, "detail": "",
        }  # fmt: skip
        try:
            with self._tx() as conn:
                conn.execute(insert(order_journal).values(**row))
                conn.execute(insert(intent_order).values(client_order_id=row["client_order_id"]))
        except IntegrityError:
            return False
        return True

    def mark(self, client_order_id: ClientOrderId, state: JournalState, ts_ns: int, detail: str = "") -> None:
        with self._tx() as conn:
            result = conn.execute(
                update(order_journal)
                .where(order_journal.c.client_order_id == str(client_order_id))
                .values(state=state.value, ts_ns=ts_ns, detail=detail)
            )
            if result.rowcount != 1:
                raise KeyError(f"order {client_order_id} is not journaled")

    def count_attempt(self, client_order_id: ClientOrderId) -> int:
        with self._tx() as conn:
            conn.execute(
                update(order_journal)
                .where(order_journal.c.client_order_id == str(client_order_id))
                .values(attempts=order_journal.c.attempts + 1)
            )
            attempts = conn.execute(
                select(order_journal.c.attempts).where(order_journal.c.client_order_id == str(client_order_id))
            ).scalar_one()
        return int(attempts)

    def get(self, client_order_id: ClientOrderId) -> JournalEntry | None:
        with self._tx() as conn:
            row = conn.execute(
                select(order_journal).where(order_journal.c.client_order_id == str(client_order_id))
            ).first()
        return None if row is None else _entry(row._mapping)

    def unresolved(self) -> list[JournalEntry]:
        states = [s.value for s in JournalState if s.unresolved]
        with self._tx() as conn:
            rows = conn.execute(select(order_journal).where(order_journal.c.state.in_(states))).all()
        return [_entry(r._mapping) for r in rows]

    def newest_intent(self, symbol: Symbol) -> JournalEntry | None:
        """The order the trader decided last on ``symbol`` (journal order; intents journaled before
        the order was kept come first, by time), or None when it never traded it."""
        cid = order_journal.c.client_order_id
        joined = order_journal.outerjoin(intent_order, intent_order.c.client_order_id == cid)
        query = (
            select(order_journal, intent_order.c.seq).select_from(joined).where(order_journal.c.symbol == str(symbol))
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return None
        newest = max(rows, key=lambda r: (r.seq is not None, r.seq or 0, r.ts_ns))
        return _entry(newest._mapping)

    def unbooked(self) -> list[JournalEntry]:
        """Orders the venue answered (ACCEPTED or DONE here) whose booking the ledger lacks: no order
        row, or fills short of its filled quantity. The journal is marked before the trader books the
        answer, in another transaction: a crash between the two leaves exactly these, and a restart
        must fetch and book them or their fills are lost."""
        answered = [JournalState.ACCEPTED.value, JournalState.DONE.value]
        with self._tx() as conn:
            journal = conn.execute(select(order_journal).where(order_journal.c.state.in_(answered))).all()
            booked = {cid: qty for cid, qty in conn.execute(select(orders.c.client_order_id, orders.c.filled_quantity))}
            filled: dict[str, Decimal] = {}
            for cid, quantity in conn.execute(select(fills.c.client_order_id, fills.c.quantity)):
                filled[cid] = filled.get(cid, Decimal(0)) + Decimal(quantity)
        return [
            _entry(r._mapping)
            for r in journal
            if r.client_order_id not in booked
            or Decimal(booked[r.client_order_id]) > filled.get(r.client_order_id, Decimal(0))
        ]

    def never_placed_unbooked(self, since_ns: int) -> list[JournalEntry]:
        """Orders journaled NOT_PLACED or REJECTED since ``since_ns`` of which the ledger has no row:
        ledgers written before the lookup waited out the venue's recvWindow can hold one the venue
        filled after all (its fill never booked); reconciliation looks them up by client id."""
        final = [JournalState.NOT_PLACED.value, JournalState.REJECTED.value]
        with self._tx() as conn:
            journal = conn.execute(
                select(order_journal).where(order_journal.c.state.in_(final), order_journal.c.ts_ns >= since_ns)
            ).all()
            booked = {cid for (cid,) in conn.execute(select(orders.c.client_order_id))}
        return sorted((_entry(r._mapping) for r in journal if r.client_order_id not in booked), key=lambda e: e.ts_ns)

    # --- ledger ---------------------------------------------------------------------------------
    def record_report(self, report: OrderReport) -> None:
        """Insert or update the order's latest state."""
        row = {
            "venue_order_id": str(report.venue_order_id), "symbol": str(report.symbol), "side": report.side.value,
            "order_type": report.order_type.value, "status": report.status.value, "quantity": report.quantity,
            "filled_quantity": report.filled_quantity, "cumulative_quote": report.cumulative_quote,
            "price": report.price, "ts_ns": report.ts_ns,
        }  # fmt: skip
        cid = str(report.client_order_id)
        with self._tx() as conn:
            updated = conn.execute(update(orders).where(orders.c.client_order_id == cid).values(**row))
            if updated.rowcount == 0:
                conn.execute(insert(orders).values(client_order_id=cid, **row))

    def record_fill(self, fill: Fill) -> bool:
        """Store ``fill``; False when this (symbol, trade id) is already in the ledger."""
        row = {
            "symbol": str(fill.symbol), "trade_id": fill.trade_id, "client_order_id": str(fill.client_order_id),
            "side": fill.side.value, "price": fill.price, "quantity": fill.quantity, "commission": fill.commission,
            "commission_asset": fill.commission_asset, "liquidity": fill.liquidity.value, "ts_ns": fill.ts_ns,
        }  # fmt: skip
        try:
            with self._tx() as conn:
                conn.execute(insert(fills).values(**row))
        except IntegrityError:
            return False
        return True

    def orders(self, *, open_only: bool = False) -> list[dict[str, Any]]:
        """Orders as last reported, newest first (rows as plain dicts, decimals exact)."""
        query = select(orders).order_by(orders.c.ts_ns.desc())
        if open_only:
            query = query.where(orders.c.status.in_(["NEW", "PARTIALLY_FILLED"]))
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]

    def fills(self, symbol: str | None = None) -> list[Fill]:
        query = select(fills).order_by(fills.c.ts_ns, fills.c.id)
        if symbol is not None:
            query = query.where(fills.c.symbol == symbol)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [_fill(r._mapping) for r in rows]

    def booked_fills(self) -> list[Fill]:
        """Every fill in the order it was booked (the risk state counts them in this order: ``RiskEngine.catch_up``)."""
        with self._tx() as conn:
            rows = conn.execute(select(fills).order_by(fills.c.id)).all()
        return [_fill(r._mapping) for r in rows]


def ledger_fills(ledger: Path) -> list[Fill]:
    """Every fill booked in the SQLite ledger at ``ledger``, for a report; none when no session made one."""
    if not ledger.is_file():
        return []
    store = SqlStore(f"sqlite:///{ledger}")
    try:
        return store.fills()
    finally:
        store.close()


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _entry(row: Any) -> JournalEntry:
    tif = row["time_in_force"]
    request = OrderRequest(
        ClientOrderId(row["client_order_id"]), Symbol(row["symbol"]), Side(row["side"]), OrderType(row["order_type"]),
        _dec(row["quantity"]), _dec(row["price"]), _dec(row["quote_quantity"]), TimeInForce(tif) if tif else None,
    )  # fmt: skip
    return JournalEntry(request, JournalState(row["state"]), int(row["ts_ns"]), int(row["attempts"]), row["detail"])


def _fill(row: Any) -> Fill:
    return Fill(
        ClientOrderId(row["client_order_id"]), row["trade_id"], Symbol(row["symbol"]), Side(row["side"]),
        Decimal(row["price"]), Decimal(row["quantity"]), Decimal(row["commission"]), row["commission_asset"],
        Liquidity(row["liquidity"]), int(row["ts_ns"]),
    )  # fmt: skip
