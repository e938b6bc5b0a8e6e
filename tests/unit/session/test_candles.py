"""``CloseTimes``: each symbol's closed candles, arriving in any order, are handed one close time at a
time in portfolio order; a symbol with a hole never holds the others; a stalled one holds them for
its patience at most; in lockstep the venue's gate opens for a candle that waits for others at once,
and for the one completing its close time only after the trader acted on the whole close time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

from thunes.domain.identifiers import Symbol
from thunes.domain.market import Bar, Timeframe
from thunes.session.candles import BarGate, CloseTimes
from thunes.simvenue.replay import BarClosed

H = Timeframe.H1.nanoseconds
T0 = 1_700_000_000_000_000_000 // H * H
PORTFOLIO = [Symbol(s) for s in ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")]


def bar(symbol: str, hour: int) -> Bar:
    one = Decimal(1)
    return Bar(Symbol(symbol), Timeframe.H1, T0 + hour * H, one, one, one, one, one)


class Feed:
    """A symbol's stream, fed by the test: candles arrive exactly when the test puts them."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Bar | None] = asyncio.Queue()

    async def stream(self) -> AsyncIterator[Bar]:
        while (item := await self.queue.get()) is not None:
            yield item


def feeds(symbols: list[Symbol]) -> dict[Symbol, Feed]:
    return {s: Feed() for s in symbols}


async def settled(fed: dict[Symbol, Feed]) -> None:
    """Every candle put so far taken by its stream, and the event loop idle again (no wall time)."""
    while not all(f.queue.empty() for f in fed.values()):
        await asyncio.sleep(0)
    for _ in range(10):
        await asyncio.sleep(0)


async def next_batch(batches: AsyncIterator[list[Bar]]) -> list[tuple[str, int]]:
    got = await asyncio.wait_for(anext(batches), 10)
    return [(str(b.symbol), (b.open_time_ns - T0) // H) for b in got]


def test_close_time_when_candles_arrive_in_any_order_then_handed_together_in_portfolio_order() -> None:
    async def scenario() -> list[list[tuple[str, int]]]:
        fed = feeds(PORTFOLIO)
        close_times = CloseTimes({s: f.stream() for s, f in fed.items()}, None, None)
        batches = close_times.batches()
        for symbol in ("SOLUSDT", "BNBUSDT", "BTCUSDT"):  # three of four: nothing may be handed yet
            fed[Symbol(symbol)].queue.put_nowait(bar(symbol, 0))
        early = asyncio.ensure_future(next_batch(batches))
        await settled(fed)
        handed_before_eth = early.done()
        fed[Symbol("ETHUSDT")].queue.put_nowait(bar("ETHUSDT", 0))
        first = await early
        for symbol in ("ETHUSDT", "BTCUSDT", "SOLUSDT", "BNBUSDT"):
            fed[Symbol(symbol)].queue.put_nowait(bar(symbol, 1))
        second = await next_batch(batches)
        await batches.aclose()
        assert not handed_before_eth
        return [first, second]

    first, second = asyncio.run(scenario())

    assert first == [("BTCUSDT", 0), ("ETHUSDT", 0), ("BNBUSDT", 0), ("SOLUSDT", 0)]
    assert second == [("BTCUSDT", 1), ("ETHUSDT", 1), ("BNBUSDT", 1), ("SOLUSDT", 1)]


def test_close_time_when_a_symbol_has_a_hole_then_the_others_go_once_it_moved_past() -> None:
    async def scenario() -> list[list[tuple[str, int]]]:
        symbols = PORTFOLIO[:2]
        fed = feeds(symbols)
        batches = CloseTimes({s: f.stream() for s, f in fed.items()}, None, None).batches()
        fed[symbols[0]].queue.put_nowait(bar("BTCUSDT", 0))
        fed[symbols[1]].queue.put_nowait(bar("ETHUSDT", 1))  # ETHUSDT has no candle at hour 0
        first = await next_batch(batches)
        fed[symbols[0]].queue.put_nowait(bar("BTCUSDT", 1))
        second = await next_batch(batches)
        await batches.aclose()
        return [first, second]

    assert asyncio.run(scenario()) == [[("BTCUSDT", 0)], [("BTCUSDT", 1), ("ETHUSDT", 1)]]


def test_close_time_when_a_stream_stalls_then_the_others_go_after_the_patience_and_its_candle_later() -> None:
    async def scenario() -> list[list[tuple[str, int]]]:
        symbols = PORTFOLIO[:2]
        fed = feeds(symbols)
        batches = CloseTimes({s: f.stream() for s, f in fed.items()}, None, 0.05).batches()
        fed[symbols[0]].queue.put_nowait(bar("BTCUSDT", 0))  # ETHUSDT's stream says nothing
        first = await next_batch(batches)
        fed[symbols[1]].queue.put_nowait(bar("ETHUSDT", 0))  # late, but in its own order
        fed[symbols[0]].queue.put_nowait(bar("BTCUSDT", 1))
        fed[symbols[1]].queue.put_nowait(bar("ETHUSDT", 1))
        second = await next_batch(batches)
        third = await next_batch(batches)
        await batches.aclose()
        return [first, second, third]

    assert asyncio.run(scenario()) == [[("BTCUSDT", 0)], [("ETHUSDT", 0)], [("BTCUSDT", 1), ("ETHUSDT", 1)]]


def test_close_time_when_a_stream_fails_then_its_error_ends_the_batches() -> None:
    async def failing() -> AsyncIterator[Bar]:
        yield bar("ETHUSDT", 0)
        raise ConnectionError("stream broke")

    async def scenario() -> str:
        fed = Feed()
        batches = CloseTimes({PORTFOLIO[0]: fed.stream(), PORTFOLIO[1]: failing()}, None, None).batches()
        try:
            await asyncio.wait_for(anext(batches), 10)
        except ConnectionError as e:
            return str(e)
        return "no error"

    assert asyncio.run(scenario()) == "stream broke"


def test_lockstep_when_a_candle_waits_for_others_then_the_venue_goes_on_and_the_last_waits_for_the_trader() -> None:
    async def scenario() -> dict[str, bool]:
        symbols = PORTFOLIO[:2]
        fed, gate = feeds(symbols), BarGate()
        close_times = CloseTimes({s: f.stream() for s, f in fed.items()}, gate, None)
        batches = close_times.batches()
        btc, eth = bar("BTCUSDT", 0), bar("ETHUSDT", 0)
        handing = asyncio.ensure_future(next_batch(batches))
        fed[symbols[0]].queue.put_nowait(btc)  # the venue published BTCUSDT's candle and waits for the gate
        await asyncio.wait_for(gate.wait(BarClosed("BTCUSDT", btc.close_time_ns, btc)), 10)
        fed[symbols[1]].queue.put_nowait(eth)  # then ETHUSDT's: it completes the close time
        await handing
        eth_waiting = asyncio.ensure_future(gate.wait(BarClosed("ETHUSDT", eth.close_time_ns, eth)))
        await settled(fed)
        before_the_trader_acted = eth_waiting.done()
        close_times.taken([btc, eth])
        await asyncio.wait_for(eth_waiting, 10)
        await batches.aclose()
        return {"eth gate open before the trader acted": before_the_trader_acted}

    assert asyncio.run(scenario()) == {"eth gate open before the trader acted": False}
