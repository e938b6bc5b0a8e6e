"""The inputs of a portfolio run, gathered the same way by every command that backtests several pairs
(``backtest``, ``report backtest``): the instruments, each symbol's candles from the store or the
shared data cut to their common range, the warm-up checked, and the pairs ready for the engine."""

from __future__ import annotations

from dataclasses import dataclass

from thunes.app.composition import Pair
from thunes.app.config import Settings
from thunes.app.errors import fail
from thunes.app.sources import PortfolioBars, load_exchange_info_source, load_portfolio_bars
from thunes.backtest.event import PairMarket
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.market import Timeframe

__all__ = ["PortfolioInputs", "portfolio_inputs"]


@dataclass(frozen=True, slots=True)
class PortfolioInputs:
    info: ExchangeInfo
    instruments_origin: str  # where the exchange filters came from
    loaded: PortfolioBars
    markets: list[PairMarket]

    @property
    def sources(self) -> list[str]:
        return [item.source for item in self.loaded.loaded]


def portfolio_inputs(settings: Settings, pairs: tuple[Pair, ...], synthetic: int | None, seed: int) -> PortfolioInputs:
    """The pairs' instruments and candles (one error line, exit 2, for ``--data``, which is one symbol's
    file, and for too few bars after the warm-up). Raises what :func:`input_errors` turns into one line."""
    bt = settings.backtest
    if bt.data_path is not None:
        fail(f"--data {bt.data_path} is one symbol's candles and the portfolio has {len(pairs)} pairs: each "
             "symbol's candles come from the store or the shared data (drop --data, or pick one pair "
             "with --symbol)")  # fmt: skip
    info, origin = load_exchange_info_source(settings.rules, settings.data)
    instruments = [info.get(p.symbol) for p in pairs]
    loaded = load_portfolio_bars(
        instruments, Timeframe(bt.timeframe), settings.data, synthetic_bars=synthetic, seed=seed
    )
    shortest = min(len(b) for b in loaded.bars)
    if bt.warmup_bars >= shortest:
        fail(f"no bar after the {bt.warmup_bars}-bar warm-up: {shortest} bars are too few")
    markets = [PairMarket(p.strategy, i, b) for p, i, b in zip(pairs, instruments, loaded.bars, strict=True)]
    return PortfolioInputs(info, origin, loaded, markets)
