"""What a backtest's engine is built from besides the data and the deposit: the kernel's spec (limits,
risk rules, fee rate), the decision source, and the venue's pricing (slippage model, ``avgPrice`` window).

Every backtest path builds its engine from one :class:`EngineParts` through the one assembly
(``engine.kernel.build_kernel``): the event-driven backtest, the fast path's engine core and the fast
path's kernel check, so the compiled kernel is checked against the very engine the other paths would
run. ``EngineParts.of(settings)`` is what paper and live trade with; research or a test may hand other
parts, and the fast path then runs its kernel only when they make the engine it reproduces
(``fast_scope``), otherwise the engine core, saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from thunes.app.composition import kernel_spec, strategy_for
from thunes.app.config import Settings
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import VenueId
from thunes.domain.instrument import Instrument
from thunes.engine.kernel import Kernel, KernelSpec, build_kernel
from thunes.engine.trader import FillLedger
from thunes.execution.journal_memory import InMemoryJournal
from thunes.execution.ports import VenuePort
from thunes.risk.store import OnDemandRiskStore
from thunes.simvenue.core import SimVenue
from thunes.simvenue.slippage import Slippage, SlippageModel
from thunes.strategy.base import Strategy

__all__ = ["ACCOUNT", "VENUE", "EngineParts", "StrategyFactory"]

ACCOUNT = "paper"  # the account name the embedded venue uses: ids and reports come out the same
VENUE = VenueId("sim")

StrategyFactory = Callable[[Settings, Decimal], Strategy]
"""Builds the strategy of a run from the settings and the symbol's tick size (``strategy_for``)."""


@dataclass(frozen=True, slots=True)
class EngineParts:
    """The parts; build with :meth:`of` and ``dataclasses.replace`` what differs. ``strategy`` builds the
    strategy of a one-pair run (a portfolio's pairs carry their own)."""

    kernel: KernelSpec
    strategy: StrategyFactory = strategy_for
    slippage: Slippage = field(default_factory=SlippageModel)
    avg_price_mins: int | None = None  # None: each symbol's avgPriceMins, as Binance

    @classmethod
    def of(cls, settings: Settings) -> EngineParts:
        """The parts paper and live trade with, for ``settings``."""
        return cls(kernel_spec(settings, VENUE))

    def venue(self, info: ExchangeInfo, clock_ns: Callable[[], int]) -> SimVenue:
        """A fresh venue over ``info``'s symbols charging the spec's fee rate (reports read directly)."""
        return SimVenue(info.instruments, clock_ns, fee_rate=self.kernel.fee_rate, slippage=self.slippage,
                        avg_price_mins=self.avg_price_mins, seed=0, user_stream=False)  # fmt: skip

    def engine(self, clock_ns: Callable[[], int], venue: VenuePort, pairs: Sequence[tuple[Strategy, Instrument]],
               ledger: FillLedger) -> Kernel:  # fmt: skip
        """The engine for ``pairs`` in portfolio order (risk state and journal in memory)."""
        return build_kernel(self.kernel, clock_ns, venue, pairs, risk_store=OnDemandRiskStore(),
                            journal=InMemoryJournal(), ledger=ledger)  # fmt: skip
