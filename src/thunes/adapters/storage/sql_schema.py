"""The SQL schema (SQLAlchemy 2 Core), one definition for SQLite and PostgreSQL.

Money columns are ``NUMERIC(38, 18)`` on PostgreSQL and exact decimal text on SQLite (via the
``Decimal`` type decorator below): no float ever touches a price or a quantity.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, Dialect, Integer, MetaData, Numeric, String, Table, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator

__all__ = ["METADATA", "ExactDecimal", "fills", "intent_order", "order_journal", "orders"]

METADATA = MetaData()


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL; text on SQLite (whose NUMERIC would round through a float)."""

    impl = Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).normalize() if dialect.name != "sqlite" else Decimal(value)


order_journal = Table(
    "order_journal",
    METADATA,
    Column("client_order_id", String(36), primary_key=True),
    Column("symbol", String(20), nullable=False),
    Column("side", String(4), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("quantity", ExactDecimal, nullable=True),
    Column("price", ExactDecimal, nullable=True),
    Column("quote_quantity", ExactDecimal, nullable=True),
    Column("time_in_force", String(3), nullable=True),
    Column("state", String(12), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
)

# The order in which intents were journaled (``order_journal.ts_ns`` moves with every mark, and a
# replay's clock restarts behind the market after a restart): what the trader decided last.
# A table of its own, so a ledger written before it existed needs no ALTER (its rows have no seq).
intent_order = Table(
    "intent_order",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("client_order_id", String(36), nullable=False, unique=True),
)

orders = Table(
    "orders",
    METADATA,
    Column("client_order_id", String(36), primary_key=True),
    Column("venue_order_id", String(64), nullable=False),
    Column("symbol", String(20), nullable=False),
    Column("side", String(4), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("status", String(20), nullable=False),
    Column("quantity", ExactDecimal, nullable=False),
    Column("filled_quantity", ExactDecimal, nullable=False),
    Column("cumulative_quote", ExactDecimal, nullable=False),
    Column("price", ExactDecimal, nullable=True),
    Column("ts_ns", BigInteger, nullable=False),
)

fills = Table(
    "fills",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("symbol", String(20), nullable=False),
    Column("trade_id", String(64), nullable=False),
    Column("client_order_id", String(36), nullable=False),
    Column("side", String(4), nullable=False),
    Column("price", ExactDecimal, nullable=False),
    Column("quantity", ExactDecimal, nullable=False),
    Column("commission", ExactDecimal, nullable=False),
    Column("commission_asset", String(16), nullable=False),
    Column("liquidity", String(5), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    UniqueConstraint("symbol", "trade_id", name="uq_fills_symbol_trade"),
)
