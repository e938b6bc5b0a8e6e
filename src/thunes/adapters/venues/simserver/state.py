"""Everything the simulated Binance server shares between its REST handlers, streams and replay.

Two clocks, on purpose, and each answer says one of them:

* the *replay* clock (the recorded market's time, possibly accelerated) is the venue's "now" for
  everything a client reads: ``serverTime`` (``/api/v3/time``, ``exchangeInfo``, the WebSocket API's
  ``time``), klines and market trades, and every order and trade time (``transactTime``, ``time``,
  ``updateTime``). So a client sees one coherent time: ccxt's ``fetch_time`` and the timestamps of its
  orders and trades all lie in the replayed market, never two years apart;
* the *wall* clock checks request freshness only: ``timestamp``/``recvWindow`` of signed requests
  (and rate-limit windows, bans, faults), because clients sign with their own real time. An
  unmodified ccxt (``adjustForTimeDifference`` off, its default) signs with its wall clock and is
  accepted; the recvWindow keeps its meaning (a signed request is replayable for at most 60 s of
  real time, however fast the replay runs). A client that instead shifts its timestamps by
  ``serverTime - its clock`` (ccxt's ``adjustForTimeDifference``) cannot work against an accelerated
  replay whichever clock signatures used, since that offset moves at the replay's speed: THUNES's own
  client only adopts such an offset after its wall-clock retry was refused too.

The opposite choice (``serverTime`` on the wall clock, orders on it too) would have put orders and
fills outside the market they traded in (a fill at a 2026 time on a 2024 candle).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from thunes.adapters.venues.simserver.tape import TradeTape
from thunes.domain.exchange_info import ExchangeInfo
from thunes.simvenue.book import L2Book
from thunes.simvenue.candles import CandleHistory
from thunes.simvenue.core import SimVenue

__all__ = ["PAPER_API_KEY", "PAPER_API_SECRET", "STATE", "ApiKey", "ReplayClock", "ServerState"]

# The embedded paper venue's default credentials: loopback only, not a real exchange key. The key
# has Binance's format (64 alphanumerics) so that unmodified clients and the format check accept it.
PAPER_API_KEY = "thunespaper" + "0" * 53
PAPER_API_SECRET = "thunespapersecret" + "0" * 47


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key of the simulated venue and what it may do (``apiRestrictions``)."""

    key: str
    secret: str
    account: str
    can_trade: bool = True
    can_withdraw: bool = False
    can_read: bool = True


class ReplayClock:
    """Replay time in ns: set by the replay driver as events are published."""

    def __init__(self, start_ns: int = 0) -> None:
        self.ns = start_ns

    def __call__(self) -> int:
        return self.ns


@dataclass
class ServerState:
    """The venue core, its published candles and trades, exchangeInfo payload, keys and listen keys."""

    venue: SimVenue
    exchange_info: ExchangeInfo
    exchange_info_payload: dict[str, Any]
    candles: CandleHistory
    clock: ReplayClock
    wall_ns: Callable[[], int] = time.time_ns
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    listen_keys: dict[str, str] = field(default_factory=dict)  # listenKey -> account
    books: dict[str, L2Book] = field(default_factory=dict)  # the published depth book per symbol
    tape: TradeTape = field(default_factory=TradeTape)  # the published public trades per symbol
    halted: str | None = None  # why the market is halted (its replay broke): new orders are refused

    def add_api_key(self, account: str, *, can_withdraw: bool = False, key: str | None = None,
                    secret: str | None = None) -> ApiKey:  # fmt: skip
        """Register a key for ``account`` (random 64-char key and secret unless given)."""
        api_key = ApiKey(key or secrets.token_hex(32), secret or secrets.token_hex(32), account,
                         can_withdraw=can_withdraw)  # fmt: skip
        self.api_keys[api_key.key] = api_key
        return api_key

    def server_time_ms(self) -> int:
        """The venue's "now" as clients read it (``serverTime``): the replay clock, in ms."""
        return self.clock() // 1_000_000

    def new_listen_key(self, account: str) -> str:
        """A listenKey for ``account``'s user data stream (one per account, reused like Binance)."""
        for existing, owner in self.listen_keys.items():
            if owner == account:
                return existing
        key = secrets.token_hex(32)
        self.listen_keys[key] = account
        return key


STATE = web.AppKey("state", ServerState)
