"""Public market-data endpoints (rest-api.md, "General endpoints" and "Market Data endpoints").

Everything comes from what the replay has published so far: the venue's quotes, last trade and
L2 book, and the closed candles. Without an L2 book, ``/depth`` shows the one level the matching
core would actually trade against (the quote), never invented depth. The 24h ticker reports
``firstId``/``lastId`` as -1 (its window comes from candles; public trades are in :mod:`.rest_trades`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from thunes.adapters.venues.simserver.auth import Security
from thunes.adapters.venues.simserver.formats import Json, dec, kline
from thunes.adapters.venues.simserver.rest_params import Params, invalid
from thunes.adapters.venues.simserver.rest_types import Ctx, Endpoint, endpoint
from thunes.simvenue import errors as err
from thunes.simvenue.book import L2Book
from thunes.simvenue.errors import VenueError
from thunes.simvenue.market import MarketState

__all__ = ["ENDPOINTS", "KLINE_INTERVALS"]

KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
_UTC = frozenset({"0", "+0", "-0", "0:00", "00:00", "+00:00", "-00:00", "+0:00"})
_STATUSES = ("TRADING", "HALT", "BREAK")
# enums.md, "Account and Symbol Permissions": exact spellings; anything else is -1100, never an empty answer
PERMISSIONS = ("SPOT", "MARGIN", "LEVERAGED", *(f"TRD_GRP_{n:03d}" for n in range(2, 26)))
_DAY_MS = 86_400_000
_ZERO = Decimal(0)


def _ping(_: Ctx) -> Json:
    return {}


def _time(ctx: Ctx) -> Json:
    return {"serverTime": ctx.state.server_time_ms()}  # the replay clock: see state.py


def _conflict() -> VenueError:
    return VenueError(-1128, "Combination of optional parameters invalid.")


def _permissions(p: Params) -> set[str] | None:
    """``permissions``: one name or a JSON array of names (rest-api.md). Malformed JSON is -1135; a name
    that is no permission (``FOO``, ``spot``) is -1100, and so is an empty array, which names none."""
    raw = p.text("permissions")
    if raw is None:
        return None
    listed: Any = [raw]
    if raw.startswith("["):
        try:
            listed = json.loads(raw)
        except ValueError:  # bad JSON, or numbers past Python's digit limit
            listed = None
        if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):  # e.g. [[1]]
            raise VenueError(-1135, "JSON sent for parameter 'permissions' is not valid")
    if not listed or any(name not in PERMISSIONS for name in listed):
        raise err.illegal_chars("permissions", ", ".join(PERMISSIONS))
    return set(listed)


def _exchange_info(ctx: Ctx) -> Json:
    p, payload = ctx.params, ctx.state.exchange_info_payload
    rows: list[dict[str, Any]] = payload["symbols"]
    known = [r["symbol"] for r in rows]
    one, many = p.optional_symbol(known), p.symbols(known)
    status = p.choice("symbolStatus", _STATUSES, VenueError(-1122, "Invalid symbolStatus."))
    permissions = _permissions(p)
    if (one and many) or ((one or many) and (status or permissions)):
        raise _conflict()
    wanted = {one} if one else set(many) if many else None
    selected = [r for r in rows if (wanted is None or r["symbol"] in wanted) and status in (None, r["status"])]
    if permissions is not None:  # the symbols with one of them in a permission set
        selected = [r for r in selected if permissions & {n for group in r["permissionSets"] for n in group}]
    if not p.boolean("showPermissionSets", True):
        selected = [{**r, "permissionSets": []} for r in selected]
    return {**payload, "serverTime": ctx.state.server_time_ms(), "symbols": selected}


def _depth_weight(p: Params) -> int:
    raw = p.text("limit") or "100"
    limit = int(raw) if raw.isdigit() else 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _symbol(ctx: Ctx) -> str:
    return ctx.params.symbol(ctx.state.venue.symbols)


def _depth(ctx: Ctx) -> Json:
    symbol = _symbol(ctx)
    limit = ctx.params.limit(100, 5000)
    m = ctx.state.venue.market(symbol)
    if _status(ctx) not in (None, m.instrument.status):
        raise _status_mismatch()
    # The venue's own L2 book when it trades against one, else the book the depth stream publishes.
    book = m.book if isinstance(m.book, L2Book) else ctx.state.books.get(symbol)
    if isinstance(book, L2Book) and book.synced:
        bids, asks = book.depth(limit)
        return {
            "lastUpdateId": book.last_update_id or 0,
            "bids": [[dec(book.price(t)), dec(book.qty(n))] for t, n in bids],
            "asks": [[dec(book.price(t)), dec(book.qty(n))] for t, n in asks],
        }
    top_bid = [[dec(m.bid), dec(m.bid_qty)]] if m.bid is not None and m.bid_qty else []
    top_ask = [[dec(m.ask), dec(m.ask_qty)]] if m.ask is not None and m.ask_qty else []
    return {"lastUpdateId": ctx.replay_ms(), "bids": top_bid, "asks": top_ask}


def _interval(p: Params) -> str:
    value = p.require("interval")
    if value not in KLINE_INTERVALS:
        raise VenueError(-1120, "Invalid interval.")
    return value


def _klines(ctx: Ctx) -> list[list[int | str]]:
    p = ctx.params
    symbol = _symbol(ctx)
    interval = _interval(p)
    start, end = p.long("startTime"), p.long("endTime")
    zone = p.text("timeZone")
    if zone is not None and zone not in _UTC:
        raise invalid("timeZone")
    limit = p.limit(500, 1000)
    try:
        candles = ctx.state.candles.klines(symbol, interval, start, end, limit)
    except ValueError:  # finer than the replay's timeframe (e.g. 1s or 30m from 1h candles)
        raise VenueError(-1120, "Invalid interval.") from None
    return [kline(c) for c in candles]


def _avg_price(ctx: Ctx) -> Json:
    symbol = _symbol(ctx)
    m = ctx.state.venue.market(symbol)
    mins = m.avg_mins_ms // 60_000  # the window the venue averages over
    price = ctx.state.venue.avg_price(symbol)
    trades = m.trades()
    close_time = trades[-1][0] if trades else ctx.replay_ms()
    return {"mins": mins, "price": dec(price), "closeTime": close_time}


def _status(ctx: Ctx) -> str | None:
    return ctx.params.choice("symbolStatus", _STATUSES, VenueError(-1122, "Invalid symbolStatus."))


def _status_mismatch() -> VenueError:
    return VenueError(-1220, "The symbol's status does not match the requested symbolStatus.")


def _selected(ctx: Ctx) -> tuple[list[str], bool]:
    """Symbols asked for and whether the answer is a single object (``symbol``) or an array.

    With ``symbolStatus``, a single symbol of another status is -1220; in a list it is left out.
    """
    p, venue = ctx.params, ctx.state.venue
    one, many = p.optional_symbol(venue.symbols), p.symbols(venue.symbols)
    if one and many:
        raise _conflict()
    status = _status(ctx)
    if one:
        if status not in (None, venue.market(one).instrument.status):
            raise _status_mismatch()
        return [one], True
    listed = many if many is not None else venue.symbols
    return [s for s in listed if status in (None, venue.market(s).instrument.status)], False


def _best(m: MarketState) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
    book = m.book
    if isinstance(book, L2Book) and book.synced:
        bid, ask = book.best_bid(), book.best_ask()
        return (
            book.price(bid[0]) if bid else None,
            book.qty(bid[1]) if bid else None,
            book.price(ask[0]) if ask else None,
            book.qty(ask[1]) if ask else None,
        )
    return m.bid, m.bid_qty, m.ask, m.ask_qty


def _book_row(symbol: str, m: MarketState) -> Json:
    bid, bid_qty, ask, ask_qty = _best(m)
    return {
        "symbol": symbol,
        "bidPrice": dec(bid),
        "bidQty": dec(bid_qty),
        "askPrice": dec(ask),
        "askQty": dec(ask_qty),
    }


def _many(ctx: Ctx, row: Any) -> Json | list[Json]:
    symbols, single = _selected(ctx)
    rows = [row(ctx, s) for s in symbols]
    return rows[0] if single else rows


def _book_ticker(ctx: Ctx) -> Json | list[Json]:
    return _many(ctx, lambda c, s: _book_row(s, c.state.venue.market(s)))


def _price_ticker(ctx: Ctx) -> Json | list[Json]:
    return _many(ctx, lambda c, s: {"symbol": s, "price": dec(c.state.venue.market(s).last_price)})


def _ticker_row(ctx: Ctx, symbol: str, mini: bool) -> Json:
    """24h statistics over the closed and forming candles of the replay timeframe."""
    candles, m = ctx.state.candles, ctx.state.venue.market(symbol)
    now = ctx.replay_ms()
    rows = candles.klines(symbol, candles.timeframe, now - _DAY_MS, None, 10**9)
    before = candles.klines(symbol, candles.timeframe, None, now - _DAY_MS - 1, 1)
    last = m.last_price if m.last_price is not None else (rows[-1].close if rows else _ZERO)
    open_ = rows[0].open if rows else last
    volume = sum((c.volume for c in rows), _ZERO)
    quote = sum((c.quote_volume for c in rows), _ZERO)
    row: Json = {"symbol": symbol}
    if not mini:
        change = last - open_
        bid, bid_qty, ask, ask_qty = _best(m)
        row |= {
            "priceChange": dec(change),
            "priceChangePercent": dec(change / open_ * 100 if open_ else _ZERO, 3),
            "weightedAvgPrice": dec(quote / volume if volume else last),
            "prevClosePrice": dec(before[-1].close if before else _ZERO),
            "lastPrice": dec(last),
            "lastQty": dec(trades[-1][2] if (trades := m.trades()) else _ZERO),
            "bidPrice": dec(bid), "bidQty": dec(bid_qty), "askPrice": dec(ask), "askQty": dec(ask_qty),
        }  # fmt: skip
    row |= {
        "openPrice": dec(open_),
        "highPrice": dec(max((c.high for c in rows), default=last)),
        "lowPrice": dec(min((c.low for c in rows), default=last)),
    }
    if mini:
        row["lastPrice"] = dec(last)
    row |= {
        "volume": dec(volume), "quoteVolume": dec(quote), "openTime": now - _DAY_MS, "closeTime": now,
        "firstId": -1, "lastId": -1, "count": sum(c.trades for c in rows),
    }  # fmt: skip
    return row


def _ticker_24hr(ctx: Ctx) -> Json | list[Json]:
    kind = ctx.params.choice("type", ("FULL", "MINI"), VenueError(-1139, "Invalid ticker type.")) or "FULL"
    return _many(ctx, lambda c, s: _ticker_row(c, s, kind == "MINI"))


def _ticker_weight(p: Params) -> int:
    if "symbol" in p:
        return 2
    raw = p.text("symbols")
    if raw is None:
        return 80
    n = raw.count(",") + 1
    return 2 if n <= 20 else 40 if n <= 100 else 80


def _symbol_weight(single: int, many: int) -> Any:
    return lambda p: single if "symbol" in p else many


_KLINE_PARAMS = ("symbol", "interval", "startTime", "endTime", "timeZone", "limit")
_TICKER_PARAMS = ("symbol", "symbols", "symbolStatus")
ENDPOINTS: tuple[Endpoint, ...] = (
    endpoint("GET", "/api/v3/ping", _ping, Security.NONE, 1),
    endpoint("GET", "/api/v3/time", _time, Security.NONE, 1),
    endpoint("GET", "/api/v3/exchangeInfo", _exchange_info, Security.NONE, 20,
             ("symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus")),
    endpoint("GET", "/api/v3/depth", _depth, Security.NONE, _depth_weight, ("symbol", "limit", "symbolStatus")),
    endpoint("GET", "/api/v3/klines", _klines, Security.NONE, 2, _KLINE_PARAMS),
    endpoint("GET", "/api/v3/uiKlines", _klines, Security.NONE, 2, _KLINE_PARAMS),
    endpoint("GET", "/api/v3/avgPrice", _avg_price, Security.NONE, 2, ("symbol",)),
    endpoint("GET", "/api/v3/ticker/24hr", _ticker_24hr, Security.NONE, _ticker_weight, (*_TICKER_PARAMS, "type")),
    endpoint("GET", "/api/v3/ticker/price", _price_ticker, Security.NONE, _symbol_weight(2, 4), _TICKER_PARAMS),
    endpoint("GET", "/api/v3/ticker/bookTicker", _book_ticker, Security.NONE, _symbol_weight(2, 4), _TICKER_PARAMS),
)  # fmt: skip
