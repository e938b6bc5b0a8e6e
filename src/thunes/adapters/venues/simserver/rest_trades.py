"""Public trade lists (rest-api.md, "Recent trades list", "Old trade lookup", "Compressed/Aggregate
trades list"), served from the tape of trades the replay published (:mod:`.tape`).

``historicalTrades`` is public (security NONE since the CHANGELOG's 2023 change). ``aggTrades``
returns the oldest rows from a ``startTime`` and the newest otherwise; ``fromId`` cannot be
combined with a time range (-1128). Timestamps may be sent in µs, like every Binance time parameter.
"""

from __future__ import annotations

from thunes.adapters.venues.simserver.auth import Security
from thunes.adapters.venues.simserver.formats import Json, dec
from thunes.adapters.venues.simserver.rest_params import Params
from thunes.adapters.venues.simserver.rest_types import Ctx, Endpoint, endpoint
from thunes.adapters.venues.simserver.tape import PublicTrade
from thunes.simvenue.errors import VenueError

__all__ = ["ENDPOINTS"]

_MICROSECONDS = 10**14  # a time this large is in µs (ms times stay below until year 5138)


def _row(t: PublicTrade) -> Json:
    return {"id": t.trade_id, "price": dec(t.price), "qty": dec(t.qty), "quoteQty": dec(t.price * t.qty),
            "time": t.time_ms, "isBuyerMaker": t.buyer_is_maker, "isBestMatch": True}  # fmt: skip


def _agg_row(t: PublicTrade) -> Json:
    return {"a": t.trade_id, "p": dec(t.price), "q": dec(t.qty), "f": t.trade_id, "l": t.trade_id,
            "T": t.time_ms, "m": t.buyer_is_maker, "M": True}  # fmt: skip


def _symbol(ctx: Ctx) -> str:
    return ctx.params.symbol(ctx.state.venue.symbols)


def _trades(ctx: Ctx) -> list[Json]:
    symbol = _symbol(ctx)
    return [_row(t) for t in ctx.state.tape.recent(symbol, ctx.params.limit(500, 1000))]


def _historical(ctx: Ctx) -> list[Json]:
    symbol = _symbol(ctx)
    limit, first = ctx.params.limit(500, 1000), ctx.params.long("fromId")
    tape = ctx.state.tape
    rows = tape.recent(symbol, limit) if first is None else tape.from_id(symbol, first, limit)
    return [_row(t) for t in rows]


def _ms(p: Params, name: str) -> int | None:
    value = p.long(name)
    return value // 1000 if value is not None and value >= _MICROSECONDS else value


def _agg_trades(ctx: Ctx) -> list[Json]:
    p = ctx.params
    symbol = _symbol(ctx)
    first, start, end = p.long("fromId"), _ms(p, "startTime"), _ms(p, "endTime")
    limit = p.limit(500, 1000)
    if first is not None and (start is not None or end is not None):
        raise VenueError(-1128, "Combination of optional parameters invalid.")
    tape = ctx.state.tape
    rows = tape.from_id(symbol, first, limit) if first is not None else tape.between(symbol, start, end, limit)
    return [_agg_row(t) for t in rows]


ENDPOINTS: tuple[Endpoint, ...] = (
    endpoint("GET", "/api/v3/trades", _trades, Security.NONE, 25, ("symbol", "limit")),
    endpoint("GET", "/api/v3/historicalTrades", _historical, Security.NONE, 25, ("symbol", "limit", "fromId")),
    endpoint("GET", "/api/v3/aggTrades", _agg_trades, Security.NONE, 4,
             ("symbol", "fromId", "startTime", "endTime", "limit")),
)  # fmt: skip
