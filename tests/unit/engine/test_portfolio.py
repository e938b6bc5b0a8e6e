"""A portfolio on the kernel: several symbols on one account, one risk engine, one order manager, the
real matching core. Decision sources are scripted, so each test states which bar decides what."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

import pytest

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.sim_inprocess import InProcessVenue
from thunes.domain import VenueId
from thunes.domain.enums import Liquidity, Side
from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol
from thunes.domain.market import Bar, Timeframe
from thunes.domain.messages import OrderFilled
from thunes.domain.orders import Fill
from thunes.engine.clock import ManualClock
from thunes.engine.kernel import Kernel, KernelSpec, build_kernel
from thunes.engine.ledger_memory import InMemoryLedger
from thunes.engine.portfolio import CashBook, Portfolio, cash_moved
from thunes.engine.trader import Trader, TraderConfig
from thunes.execution.journal_memory import InMemoryJournal
from thunes.risk import RiskLimits
from thunes.risk.store import InMemoryRiskStore
from thunes.simvenue import SimVenue
from thunes.strategy.base import Signal
from thunes.strategy.source import Decision, DecisionSource, TargetPosition

D = Decimal
VENUE = VenueId("sim")
HOUR_NS = 3_600_000_000_000
PRICES = {"BTCUSDT": D("60000.00"), "ETHUSDT": D("3000.00"), "BNBUSDT": D("600.0"), "SOLUSDT": D("150.00")}


class Scripted:
    """Answers bar ``i`` of its symbol with ``decisions[i]`` (HOLD past the end)."""

    def __init__(self, name: str, decisions: Sequence[Decision]) -> None:
        self._id, self.decisions, self.seen = StrategyId(name), list(decisions), 0

    @property
    def strategy_id(self) -> StrategyId:
        return self._id

    def on_bar(self, bar: Bar) -> Decision:
        i, self.seen = self.seen, self.seen + 1
        return self.decisions[i] if i < len(self.decisions) else Signal.HOLD


def _kernel(scripts: dict[str, Sequence[Decision]], limits: RiskLimits) -> tuple[Kernel, SimVenue, ManualClock]:
    info = builtin_exchange_info()
    clock = ManualClock(HOUR_NS)
    core = SimVenue(info.instruments, clock.now_ns, user_stream=False)
    core.deposit("me", "USDT", D(10_000))
    for symbol, price in PRICES.items():
        core.on_quote(symbol, price, D(1000), price, D(1000))
        core.on_trade(symbol, price, D(1))
    pairs = [(Scripted(f"s-{s.lower()}", d), info.get(s)) for s, d in scripts.items()]
    kernel = build_kernel(KernelSpec(VENUE, limits, D("0.001")), clock.now_ns, InProcessVenue(core, "me", info), pairs,
                          risk_store=InMemoryRiskStore(), journal=InMemoryJournal(), ledger=InMemoryLedger())  # fmt: skip
    return kernel, core, clock


def _bar(symbol: str, i: int) -> Bar:
    p = PRICES[symbol]
    return Bar(Symbol(symbol), Timeframe.H1, i * HOUR_NS, p, p, p, p, D(10))


def _close_bar(kernel: Kernel, clock: ManualClock, i: int) -> None:
    """Bar ``i`` of every symbol closes; the portfolio takes them in its order."""
    clock.set((i + 1) * HOUR_NS)

    async def run() -> None:
        for symbol in kernel.portfolio.symbols:
            await kernel.portfolio.on_bar(_bar(symbol, i))

    asyncio.run(run())


@pytest.mark.parametrize("max_positions", [1, 2, 3, 4])
def test_portfolio_when_every_symbol_enters_on_the_same_bar_then_the_limit_admits_exactly_that_many(
    max_positions: int,
) -> None:
    enter = [Signal.ENTER_LONG]
    kernel, core, clock = _kernel({s: enter for s in PRICES}, RiskLimits(max_open_positions=max_positions,
                                                                         max_order_notional=D(100)))  # fmt: skip

    _close_bar(kernel, clock, 0)

    held = [t.instrument.symbol for t in kernel.portfolio if t.position.quantity > 0]
    assert held == list(PRICES)[:max_positions]  # in the portfolio's order: the first ones are admitted
    stats = kernel.portfolio.stats()
    assert stats.filled == max_positions
    assert sum(stats.denied.values()) == len(PRICES) - max_positions
    venue_symbols = {t.symbol for s in PRICES for t in core.my_trades("me", s)}
    assert venue_symbols == set(held)


def test_portfolio_when_a_position_closes_then_its_slot_is_free_for_another_symbol() -> None:
    kernel, _, clock = _kernel(
        {
            "BTCUSDT": [Signal.ENTER_LONG, Signal.EXIT_LONG],
            "ETHUSDT": [Signal.ENTER_LONG, Signal.HOLD, Signal.ENTER_LONG],
        },
        RiskLimits(max_open_positions=1, max_order_notional=D(100), cool_down_s=0),
    )

    for i in range(3):
        _close_bar(kernel, clock, i)

    eth = kernel.portfolio.trader(Symbol("ETHUSDT"))
    assert eth.stats.denied  # bar 0: BTC took the only slot
    assert eth.position.quantity > 0  # bar 2: BTC's exit (bar 1) freed it
    btc = kernel.portfolio.trader(Symbol("BTCUSDT"))
    assert btc.position.quantity < btc.instrument.step_size  # sold: what is left is the fee's dust


def test_trader_when_the_source_targets_positions_then_it_orders_the_difference() -> None:
    targets = [TargetPosition(D("0.010")), TargetPosition(D("0.030")), TargetPosition(D("0.005")), TargetPosition(D(0))]
    limits = RiskLimits(max_order_notional=D(200), cool_down_s=0, one_position_per_symbol=False)  # adds to a position
    kernel, core, clock = _kernel({"ETHUSDT": targets}, limits)
    eth = kernel.portfolio.trader(Symbol("ETHUSDT"))
    held = []

    for i in range(len(targets)):
        _close_bar(kernel, clock, i)
        held.append(eth.position.quantity)

    step, fee = eth.instrument.step_size, D("0.001")  # the venue takes its fee in the base asset bought
    for got, target in zip(held, targets, strict=True):
        assert abs(got - target.quantity) <= target.quantity * fee + step, (got, target)
    assert held[-1] < step  # flat but for the fee's dust
    sides = [t.side for t in core.my_trades("me", "ETHUSDT")]
    assert sides == [Side.BUY, Side.BUY, Side.SELL, Side.SELL]


def test_target_position_when_negative_or_not_finite_then_refused() -> None:
    for bad in (D(-1), D("NaN"), D("Infinity")):
        with pytest.raises(ValueError, match="target position"):
            TargetPosition(bad)


def test_portfolio_when_traders_do_not_share_risk_or_a_symbol_repeats_then_refused() -> None:
    kernel, _, _ = _kernel({"BTCUSDT": [], "ETHUSDT": []}, RiskLimits())
    btc = kernel.portfolio.trader(Symbol("BTCUSDT"))
    other, _, _ = _kernel({"ETHUSDT": []}, RiskLimits())
    eth_elsewhere = other.portfolio.trader(Symbol("ETHUSDT"))
    with pytest.raises(ValueError, match="share one risk engine"):
        Portfolio([btc, eth_elsewhere])
    twin = Trader(btc.strategy, btc.instrument, btc.risk, btc.orders, btc.ledger, btc.bus, TraderConfig(VENUE))
    with pytest.raises(ValueError, match="traded twice"):
        Portfolio([btc, twin])
    with pytest.raises(KeyError, match="not in the portfolio"):
        kernel.portfolio.trader(Symbol("SOLUSDT"))


def test_valuation_when_holding_two_symbols_then_equity_is_cash_plus_exposure_at_the_marks() -> None:
    kernel, core, clock = _kernel({"BTCUSDT": [Signal.ENTER_LONG], "ETHUSDT": [Signal.ENTER_LONG]},
                                  RiskLimits(max_order_notional=D(100)))  # fmt: skip
    _close_bar(kernel, clock, 0)
    cash = core.balances("me")["USDT"].total
    marks = {Symbol("BTCUSDT"): D("61000.00"), Symbol("ETHUSDT"): D("2900.00")}

    value = kernel.portfolio.valuation(cash, marks)

    btc, eth = (kernel.portfolio.trader(s).position for s in marks)
    assert value.exposure == btc.quantity * marks[Symbol("BTCUSDT")] + eth.quantity * marks[Symbol("ETHUSDT")]
    assert value.equity == cash + value.exposure
    assert value.unrealized_pnl == btc.unrealized_pnl(marks[Symbol("BTCUSDT")]) + eth.unrealized_pnl(
        marks[Symbol("ETHUSDT")]
    )
    assert value.unrealized_pnl != 0  # BTC up, ETH down, fees paid: a real number, not a placeholder
    assert isinstance(kernel.portfolio.trader(Symbol("BTCUSDT")).strategy, DecisionSource)


def test_cash_book_when_fills_follow_its_start_then_it_tracks_the_venue_quote_balance_exactly() -> None:
    kernel, core, clock = _kernel({"BTCUSDT": [Signal.ENTER_LONG, Signal.HOLD, Signal.EXIT_LONG],
                                   "ETHUSDT": [Signal.HOLD, Signal.ENTER_LONG, Signal.HOLD, Signal.EXIT_LONG]},
                                  RiskLimits(max_order_notional=D(100)))  # fmt: skip
    book = CashBook("USDT")
    kernel.bus.subscribe(OrderFilled, book.on_fill)
    _close_bar(kernel, clock, 0)  # BTC bought before the start: already in the balance read at the start
    before = core.balances("me")["USDT"].total
    book.start(before, 1)

    moved = []
    for i in range(1, 4):
        _close_bar(kernel, clock, i)
        moved.append(book.balance)

    trades = [t for s in ("BTCUSDT", "ETHUSDT") for t in core.my_trades("me", s)]
    assert len(trades) == 4 and book.fills == 4  # the one before the start counted once, by the start
    assert book.balance == core.balances("me")["USDT"].total
    assert len(set(moved)) == 3  # each bar's fill moved it: ETH bought, BTC sold, ETH sold
    assert book.balance != before


def test_cash_moved_when_the_fee_is_in_quote_base_or_a_third_asset_then_only_a_quote_fee_comes_off() -> None:
    def fill(side: Side, asset: str) -> Fill:
        return Fill(ClientOrderId("c"), "1", Symbol("BTCUSDT"), side, D("60000"), D("0.002"), D("0.5"), asset,
                    Liquidity.TAKER, 0)  # fmt: skip

    assert cash_moved(fill(Side.BUY, "USDT"), "USDT") == D("-120.5")
    assert cash_moved(fill(Side.SELL, "USDT"), "USDT") == D("119.5")
    assert cash_moved(fill(Side.BUY, "BTC"), "USDT") == D("-120")
    assert cash_moved(fill(Side.SELL, "BNB"), "USDT") == D("120")


def test_valuation_when_a_holding_has_no_price_then_not_priced_and_its_time_and_cost_are_carried() -> None:
    kernel, _, clock = _kernel({"BTCUSDT": [Signal.ENTER_LONG], "ETHUSDT": [Signal.ENTER_LONG]},
                               RiskLimits(max_order_notional=D(100)))  # fmt: skip
    _close_bar(kernel, clock, 0)
    btc = kernel.portfolio.trader(Symbol("BTCUSDT")).position

    value = kernel.portfolio.valuation(D(9_800), {Symbol("BTCUSDT"): D("61000.00")}, {Symbol("BTCUSDT"): 7})

    line = value.lines[0]
    assert (line.price_ns, line.average_price) == (7, btc.average_price)
    assert value.lines[1].price is None and value.lines[1].exposure == 0
    assert not value.priced
    assert value.fees == btc.fees_quote + kernel.portfolio.trader(Symbol("ETHUSDT")).position.fees_quote
