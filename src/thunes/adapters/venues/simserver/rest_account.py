"""Account endpoints: balances, trades, commissions, order counts, listen keys and key restrictions.

``GET /api/v3/account`` lists every asset of the listed symbols (zeros included, like Binance)
unless ``omitZeroBalances=true``. Commission rates are the venue's fee rate, maker and taker
alike (the matching core charges one rate per symbol); ``uid`` is a stable number derived from
the account name. The listen-key endpoints (USER_STREAM: API key, no signature) manage the keys
the WebSocket user data stream accepts.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from thunes.adapters.venues.simserver import formats as fmt
from thunes.adapters.venues.simserver.auth import Security
from thunes.adapters.venues.simserver.rest_params import Params
from thunes.adapters.venues.simserver.rest_types import Ctx, Endpoint, endpoint
from thunes.simvenue.errors import VenueError
from thunes.simvenue.models import Balance

__all__ = ["ENDPOINTS", "account_uid"]

_BPS = Decimal(10_000)


def account_uid(account: str) -> int:
    """A stable positive 9-digit id for ``account`` (Binance's ``uid``)."""
    return int.from_bytes(hashlib.sha256(account.encode()).digest()[:8], "big") % 900_000_000 + 100_000_000


def _fee_rate(ctx: Ctx, symbol: str | None = None) -> Decimal:
    venue = ctx.state.venue
    return venue.market(symbol or venue.symbols[0]).fee_rate


def _assets(ctx: Ctx) -> list[str]:
    seen: dict[str, None] = {}
    for symbol in ctx.state.venue.symbols:
        instrument = ctx.state.venue.market(symbol).instrument
        seen[instrument.base_asset] = seen[instrument.quote_asset] = None
    return list(seen)


def _account(ctx: Ctx) -> dict[str, Any]:
    omit_zero = ctx.params.boolean("omitZeroBalances", False)
    held = ctx.state.venue.balances(ctx.account)
    assets = list(held) if omit_zero else _assets(ctx) + [a for a in held if a not in _assets(ctx)]
    rate = _fee_rate(ctx)
    bps = int(rate * _BPS)
    assert ctx.key is not None
    return {
        "makerCommission": bps,
        "takerCommission": bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": fmt.dec(rate), "taker": fmt.dec(rate), "buyer": fmt.dec(None),
                            "seller": fmt.dec(None)},
        "canTrade": True,
        "canWithdraw": ctx.key.can_withdraw,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": ctx.replay_ms(),
        "accountType": "SPOT",
        "balances": [fmt.balance_row(a, held.get(a, Balance())) for a in assets],
        "permissions": ["SPOT"],
        "uid": account_uid(ctx.account),
    }  # fmt: skip


def _my_trades(ctx: Ctx) -> list[dict[str, Any]]:
    p = ctx.params
    symbol = p.symbol(ctx.state.venue.symbols)
    order_id, from_id = p.long("orderId"), p.long("fromId")
    start, end = p.long("startTime"), p.long("endTime")
    limit = p.limit(500, 1000)
    if (from_id is not None and (start is not None or end is not None)) or (order_id is not None and start is not None):
        raise VenueError(-1128, "Combination of optional parameters invalid.")
    if start is not None and end is not None and end - start > 86_400_000:
        raise VenueError(-1127, "More than 24 hours between startTime and endTime.")
    trades = [
        t for t in ctx.state.venue.my_trades(ctx.account, symbol)
        if (order_id is None or t.order_id == order_id)
        and (from_id is None or t.trade_id >= from_id)
        and (start is None or t.time_ms >= start)
        and (end is None or t.time_ms <= end)
    ]  # fmt: skip
    chosen = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
    return [fmt.my_trade(t) for t in chosen]


def _commission(ctx: Ctx) -> dict[str, Any]:
    symbol = ctx.params.symbol(ctx.state.venue.symbols)
    rate = fmt.dec(_fee_rate(ctx, symbol))
    zero = fmt.dec(None)
    return {
        "symbol": symbol,
        "standardCommission": {"maker": rate, "taker": rate, "buyer": zero, "seller": zero},
        "specialCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
        "taxCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
        "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB", "discount": zero},
    }


def _order_count(ctx: Ctx) -> list[dict[str, Any]]:
    return [
        {"rateLimitType": r.rate_limit_type, "interval": r.interval, "intervalNum": r.interval_num, "limit": r.limit,
         "count": used}
        for r, used in ctx.limiter.order_usage(ctx.account)
    ]  # fmt: skip


def _listen_key_of(ctx: Ctx) -> str:
    key = ctx.params.require("listenKey")
    if ctx.state.listen_keys.get(key) != ctx.account:
        raise VenueError(-1125, "This listenKey does not exist.")
    return key


def _new_listen_key(ctx: Ctx) -> dict[str, str]:
    return {"listenKey": ctx.state.new_listen_key(ctx.account)}


def _keepalive(ctx: Ctx) -> dict[str, str]:
    _listen_key_of(ctx)
    return {}


def _close_listen_key(ctx: Ctx) -> dict[str, str]:
    del ctx.state.listen_keys[_listen_key_of(ctx)]
    return {}


def _api_restrictions(ctx: Ctx) -> dict[str, Any]:
    key = ctx.key
    assert key is not None
    return {
        "ipRestrict": False,
        "createTime": ctx.started_ms,  # keys carry no creation time; the server's start stands in
        "enableReading": key.can_read,
        "enableWithdrawals": key.can_withdraw,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": False,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": key.can_trade,
        "enablePortfolioMarginTrading": False,
        "tradingAuthorityExpirationTime": -1,
    }


def _trades_weight(p: Params) -> int:
    return 5 if "orderId" in p else 20


ENDPOINTS: tuple[Endpoint, ...] = (
    endpoint("GET", "/api/v3/account", _account, Security.USER_DATA, 20, ("omitZeroBalances",)),
    endpoint("GET", "/api/v3/myTrades", _my_trades, Security.USER_DATA, _trades_weight,
             ("symbol", "orderId", "startTime", "endTime", "fromId", "limit")),
    endpoint("GET", "/api/v3/account/commission", _commission, Security.USER_DATA, 20, ("symbol",)),
    endpoint("GET", "/api/v3/rateLimit/order", _order_count, Security.USER_DATA, 40),
    endpoint("POST", "/api/v3/userDataStream", _new_listen_key, Security.USER_STREAM, 2),
    endpoint("PUT", "/api/v3/userDataStream", _keepalive, Security.USER_STREAM, 2, ("listenKey",)),
    endpoint("DELETE", "/api/v3/userDataStream", _close_listen_key, Security.USER_STREAM, 2, ("listenKey",)),
    endpoint("GET", "/sapi/v1/account/apiRestrictions", _api_restrictions, Security.USER_DATA, 1),
)  # fmt: skip
