"""The live-mode venue checks against the real simulated venue on a socket (never binance.com): the
client is the production ``BinanceClient``, pointed at the sim venue through its paper config."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.adapters.venues.binance.client import ApiRestrictions
from thunes.adapters.venues.simserver.state import ApiKey
from thunes.domain.enums import Liquidity, OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.market import Timeframe
from thunes.domain.orders import Fill, OrderRequest
from thunes.preflight.live_safety import venue_problems

D = Decimal
T = TypeVar("T")
BTC = Symbol("BTCUSDT")
CAP = D(10)
_accounts = itertools.count(1)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


def on_server(live: LiveVenue, fn: Callable[[], T]) -> T:
    async def call() -> T:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), live.loop).result(TIMEOUT)


def account(live: LiveVenue, *, can_withdraw: bool = False, can_trade: bool = True, **funds: str) -> ApiKey:
    """A fresh account on the venue with its own key and ``funds`` (default: 100 USDT only)."""
    name = f"live-safety-{next(_accounts)}"

    def make() -> ApiKey:
        for asset, amount in (funds or {"USDT": "100"}).items():
            live.state.venue.deposit(name, asset, D(amount))
        key = replace(live.state.add_api_key(name, can_withdraw=can_withdraw), can_trade=can_trade)
        live.state.api_keys[key.key] = key
        return key

    return on_server(live, make)


def client_for(live: LiveVenue, key: ApiKey) -> BinanceClient:
    return BinanceClient(BinanceConfig("paper", live.base_url, live.ws_url), key.key, key.secret)


def problems(live: LiveVenue, key: ApiKey, data_dir: Path, max_capital: Decimal = CAP) -> list[str]:
    async def main() -> list[str]:
        async with client_for(live, key) as client:
            return await venue_problems(client, BTC, data_dir, max_capital)

    return asyncio.run(main())


def test_api_restrictions_when_asked_then_the_keys_permissions(live: LiveVenue) -> None:
    async def main(key: ApiKey) -> ApiRestrictions:
        async with client_for(live, key) as client:
            return await client.api_restrictions()

    safe = asyncio.run(main(account(live)))
    risky = asyncio.run(main(account(live, can_withdraw=True)))

    assert safe == ApiRestrictions(can_read=True, can_trade=True, can_withdraw=False, ip_restricted=False)
    assert risky.can_withdraw is True


def test_venue_checks_when_trade_only_key_and_quote_only_account_then_nothing_refused(
    live: LiveVenue, tmp_path: Path
) -> None:
    assert problems(live, account(live), tmp_path) == []


def test_venue_checks_when_key_can_withdraw_then_refused(live: LiveVenue, tmp_path: Path) -> None:
    found = problems(live, account(live, can_withdraw=True), tmp_path)

    assert len(found) == 1
    assert "can withdraw" in found[0]
    assert "Enable Withdrawals" in found[0]


def test_venue_checks_when_key_cannot_trade_then_refused(live: LiveVenue, tmp_path: Path) -> None:
    found = problems(live, account(live, can_trade=False), tmp_path)

    assert found == ["the API key cannot trade spot: enable 'Spot & Margin Trading' on it"]


def test_venue_checks_when_account_holds_base_the_ledger_does_not_know_then_refused(
    live: LiveVenue, tmp_path: Path
) -> None:
    found = problems(live, account(live, USDT="100", BTC="0.01"), tmp_path)

    assert len(found) == 1
    assert "reconciliation: BALANCE BTC: ledger 0 venue 0.01" in found[0]


def test_venue_checks_when_ledger_and_venue_agree_on_a_position_then_nothing_refused(
    live: LiveVenue, tmp_path: Path
) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.record_fill(Fill(ClientOrderId("b1"), "1", BTC, Side.BUY, D(40_000), D("0.01"), D("0.4"), "USDT",
                           Liquidity.TAKER, 1))  # fmt: skip
    store.close()

    assert problems(live, account(live, USDT="100", BTC="0.01"), tmp_path) == []


def test_venue_checks_when_an_order_the_ledger_does_not_know_rests_at_the_venue_then_refused(
    live: LiveVenue, tmp_path: Path
) -> None:
    key = account(live, USDT="1000")

    async def place() -> None:
        async with client_for(live, key) as client:
            close = (await client.klines(BTC, Timeframe.M1, 0))[-1].close
            price = (close * D("0.6")).quantize(D("0.01"))  # rests far below the market
            await client.submit(OrderRequest(ClientOrderId("manual-1"), BTC, Side.BUY, OrderType.LIMIT,
                                             quantity=D("0.001"), price=price))  # fmt: skip

    asyncio.run(place())
    found = problems(live, key, tmp_path)

    assert len(found) == 1
    assert "ORPHAN_ORDER manual-1" in found[0]


def test_venue_checks_when_max_capital_below_the_smallest_order_then_refused(live: LiveVenue, tmp_path: Path) -> None:
    found = problems(live, account(live), tmp_path, max_capital=D(1))

    assert len(found) == 1
    assert "max_capital 1 is below BTCUSDT's smallest order" in found[0]


def test_venue_checks_when_several_problems_then_all_reported_at_once(live: LiveVenue, tmp_path: Path) -> None:
    found = problems(live, account(live, can_withdraw=True, USDT="100", BTC="0.5"), tmp_path)

    assert len(found) == 2
    assert "can withdraw" in found[0]
    assert "BALANCE BTC" in found[1]
