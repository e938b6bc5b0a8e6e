"""The RL adapter's decision latency, in process: ``python bench/rl_adapter.py [N]`` prints p50/p95/p99.

Paths measured (each on its own real kernel: risk engine, order manager, in-memory journal and ledger,
the matching core behind the in-process venue port):

- ``paper, 9 gates``: ``RLAdapter.act`` on actions that pass every gate, so each one runs the policy,
  TTL and confidence gates, the kill-switch rule, the breaker, the reference price and band, sizing and
  the normaliser, ``RiskEngine.check`` (with its reservation) and the order manager's journaled
  submission to the matching core, and the trader's booking of the fill. BUY and SELL alternate so
  every action is accepted and placed (cool-down 0, wide limits);
- ``shadow, gates 1-8``: ``RLAdapter.decide`` on the same kind of actions (nothing placed, SPEC §9);
- ``shadow, line in``: ``decide_line`` from the JSON text, parsing included (what ``thunes shadow`` does);
- ``rejected at gate 1``: the cheapest refusal.

Latency is the wall clock around each call (``perf_counter_ns``), so a loaded machine inflates the tail
(time given to other processes counts); ``cpu_p*`` are the same percentiles of the process CPU time of
each call, which preemption does not inflate (cache and frequency effects of a busy machine still do).
The target is p95 <= 300 us for the 9 gates (SPEC §9 asks < 15 ms); it is printed, never asserted.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.domain.enums import OrderType, Side
from thunes.domain.identifiers import Symbol, VenueId
from thunes.engine.clock import ManualClock
from thunes.engine.kernel import KernelSpec, build_kernel
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.execution.journal_memory import InMemoryJournal
from thunes.risk import RiskLimits
from thunes.risk.store import InMemoryRiskStore
from thunes.rl import (
    AdapterSettings,
    DecisionStatus,
    Mode,
    PolicySettings,
    PolicySource,
    QtyMode,
    ReferencePriceCache,
    RLAction,
    RLAdapter,
)
from thunes.simvenue import SimVenue

D = Decimal
T0 = 1_767_225_600_000_000_000
MS = 1_000_000
POLICY = "bench-policy"
PRICE = D("60000.00")
LOT = D("0.0005")
LIMITS = RiskLimits(max_order_notional=D(1000), max_daily_loss=D(1_000_000), max_open_positions=5, cool_down_s=0)


def _adapter(mode: Mode) -> tuple[RLAdapter, ManualClock, ReferencePriceCache]:
    info = builtin_exchange_info()
    clock = ManualClock(T0)
    core = SimVenue(info.instruments, clock.now_ns, user_stream=False)
    core.deposit("me", "USDT", D(10_000_000))
    core.on_quote("BTCUSDT", PRICE, D(1_000_000), PRICE, D(1_000_000))
    core.on_trade("BTCUSDT", PRICE, D(1))
    journal = InMemoryJournal()
    kernel = build_kernel(KernelSpec(VenueId("sim"), LIMITS, D("0.001")), clock.now_ns,
                          InProcessVenue(core, "me", info), [(PolicySource(POLICY), info.get("BTCUSDT"))],
                          risk_store=InMemoryRiskStore(), journal=journal, ledger=InMemoryLedger())  # fmt: skip
    quotes = ReferencePriceCache(clock.now_ns)
    settings = AdapterSettings(mode=mode, policies={POLICY: PolicySettings()})
    return RLAdapter.on_kernel(settings, kernel, journal, quotes, clock.now_ns), clock, quotes


def _action(clock: ManualClock, i: int, held: Decimal = LOT, **overrides: Any) -> RLAction:
    """Action ``i``: BUY 0.0005 BTC (30 USDT) on even ``i``, SELL what is ``held`` (floored to the step) on
    odd, a LIMIT every third pair."""
    sell = i % 2 == 1
    data: dict[str, Any] = {"ts_ns": clock.now_ns(), "policy_id": POLICY, "model_version": "v1",
                            "symbol": "BTCUSDT", "side": Side.SELL if sell else Side.BUY,
                            "order_type": OrderType.MARKET, "qty_mode": QtyMode.BASE,
                            "qty_value": held.quantize(D("0.00001"), ROUND_DOWN) if sell else LOT,
                            "confidence": 0.9, "metadata": {"i": i}}  # fmt: skip
    if (i // 2) % 3 == 2:
        data |= {"order_type": OrderType.LIMIT, "limit_price": PRICE - 1 if sell else PRICE + 1}
    data.update(overrides)
    return RLAction(**data)


def _percentiles(samples_ns: Sequence[int], prefix: str = "") -> dict[str, float]:
    cuts = statistics.quantiles(samples_ns, n=100, method="inclusive")
    return {f"{prefix}p50_us": cuts[49] / 1000, f"{prefix}p95_us": cuts[94] / 1000, f"{prefix}p99_us": cuts[98] / 1000}


def _row(name: str, n: int, wall: Sequence[int], cpu: Sequence[int], wrong: int) -> dict[str, Any]:
    return {"path": name, "n": n, **_percentiles(wall), **_percentiles(cpu, "cpu_"), "unexpected": wrong}


def _measure(name: str, n: int, make: Callable[[int], Any], call: Callable[[Any], DecisionStatus],
             expect: DecisionStatus, tick: Callable[[], None]) -> dict[str, Any]:  # fmt: skip
    """``call`` on ``make(i)`` for ``i`` in ``range(n)``, after a warm-up; the input is made off the clock."""
    for i in range(-200, 0):  # warm-up (caches, first use); even, so the BUY/SELL alternation carries on
        tick()
        call(make(i))
    samples: list[int] = []
    cpu: list[int] = []
    wrong = 0
    gc.collect()
    gc.freeze()  # as ``thunes`` does once its command is mounted (app/cli/main.py)
    for i in range(n):
        tick()
        given = make(i)
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        status = call(given)
        samples.append(time.perf_counter_ns() - t0)
        cpu.append(time.process_time_ns() - c0)
        wrong += status is not expect
    return _row(name, n, samples, cpu, wrong)


def _measure_async(name: str, n: int, make: Callable[[int], Any], call: Callable[[Any], Awaitable[DecisionStatus]],
                   expect: DecisionStatus, tick: Callable[[], None]) -> dict[str, Any]:  # fmt: skip
    """:func:`_measure` inside one event loop, as a stream consumer awaits each action."""
    out: dict[str, Any] = {}

    async def run() -> None:
        for i in range(-200, 0):
            tick()
            await call(make(i))
        samples: list[int] = []
        cpu: list[int] = []
        wrong = 0
        gc.collect()
        gc.freeze()
        for i in range(n):
            tick()
            given = make(i)
            c0, t0 = time.process_time_ns(), time.perf_counter_ns()
            status = await call(given)
            samples.append(time.perf_counter_ns() - t0)
            cpu.append(time.process_time_ns() - c0)
            wrong += status is not expect
        out.update(_row(name, n, samples, cpu, wrong))

    asyncio.run(run())
    return out


def main(n: int) -> list[dict[str, Any]]:
    rows = []
    paper, clock, quotes = _adapter(Mode.PAPER)

    def tick_paper() -> None:
        clock.advance(MS)
        quotes.on_book_ticker("BTCUSDT", PRICE, PRICE)

    async def act(action: RLAction) -> DecisionStatus:
        return (await paper.act(action)).decision.status

    held = paper.risk.held
    symbol = Symbol("BTCUSDT")
    rows.append(_measure_async("paper, 9 gates", n, lambda i: _action(clock, i, held(symbol)), act,
                               DecisionStatus.ACCEPTED, tick_paper))  # fmt: skip

    shadow, sclock, squotes = _adapter(Mode.SHADOW)

    def tick_shadow() -> None:
        sclock.advance(MS)
        squotes.on_book_ticker("BTCUSDT", PRICE, PRICE)

    buy = {"side": Side.BUY, "qty_value": D("0.0005")}
    rows.append(_measure("shadow, gates 1-8", n, lambda i: _action(sclock, i, **buy),
                         lambda a: shadow.decide(a).status, DecisionStatus.ACCEPTED, tick_shadow))  # fmt: skip
    rows.append(_measure("shadow, line in", n, lambda i: _action(sclock, i, **buy).model_dump_json(),
                         lambda text: shadow.decide_line(text).status, DecisionStatus.ACCEPTED,
                         tick_shadow))  # fmt: skip
    rows.append(_measure("rejected at gate 1", n, lambda i: _action(sclock, i, policy_id="rogue"),
                         lambda a: shadow.decide(a).status, DecisionStatus.REJECTED, tick_shadow))  # fmt: skip
    return rows


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    for row in main(count):
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}))
    print("target: paper, 9 gates p95 <= 300 us (not asserted)", file=sys.stderr)
