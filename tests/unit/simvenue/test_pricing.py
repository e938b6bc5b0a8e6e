"""The venue says how it prices a taker (fee, slippage model, avgPrice window, book), and prices that way:
what code reproducing it elsewhere checks before it trusts itself."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.domain import Side
from thunes.domain.instrument import NotionalFilter
from thunes.simvenue.core import SimVenue
from thunes.simvenue.slippage import FixedSlippage, SlippageModel, SlippageSpec

D = Decimal
BTC = builtin_exchange_info().get("BTCUSDT")
MINUTE_NS = 60_000_000_000


def _venue(**kwargs: object) -> tuple[SimVenue, list[int]]:
    clock = [0]
    instrument = kwargs.pop("instrument", BTC)
    return SimVenue({BTC.symbol: instrument}, lambda: clock[0], **kwargs), clock  # type: ignore[arg-type, dict-item]


def test_pricing_when_built_by_default_then_square_root_model_and_the_symbols_window() -> None:
    pricing = _venue(fee_rate=D("0.00075"))[0].pricing("BTCUSDT")

    assert pricing.fee_rate == D("0.00075")
    assert pricing.slippage == SlippageSpec("sqrt_impact", 1, (("base_bps", 5.0), ("cap_bps", 50.0),
                                                               ("reference_range", 0.01)))  # fmt: skip
    assert pricing.avg_price_window_ms == 5 * 60_000  # NOTIONAL's avgPriceMins
    assert not pricing.depth_book
    one_minute = dataclasses.replace(BTC, notional=NotionalFilter(D(5), True, D(9_000_000), False, 1))
    assert _venue(instrument=one_minute)[0].pricing("BTCUSDT").avg_price_window_ms == 60_000
    assert (
        _venue(instrument=dataclasses.replace(BTC, notional=None))[0].pricing("BTCUSDT").avg_price_window_ms == 300_000
    )


def test_avg_price_when_the_window_is_set_then_the_average_is_over_that_window() -> None:
    venue, clock = _venue(avg_price_mins=2)
    for minute, price in enumerate(("100", "200", "300")):
        clock[0] = minute * MINUTE_NS
        venue.on_trade("BTCUSDT", D(price), D(1))
    clock[0] = 3 * MINUTE_NS + 1

    assert venue.pricing("BTCUSDT").avg_price_window_ms == 120_000
    assert venue.avg_price("BTCUSDT") == D(250)  # the trades of minutes 1 and 2; minute 0's is out
    with pytest.raises(ValueError, match="avg_price_mins"):
        _venue(avg_price_mins=-1)


def test_quote_levels_when_fixed_slippage_then_every_taker_moves_by_it_and_the_venue_says_so() -> None:
    venue, _ = _venue(slippage=FixedSlippage(20.0))
    venue.on_quote("BTCUSDT", D("49999.99"), D(1), D("50000.01"), D(1))
    venue.on_bar_context("BTCUSDT", D("0.5"), 0.03)  # a bar context the square-root model would scale by

    buy = venue.market("BTCUSDT").quote_levels(Side.BUY, D("0.1"), None)
    sell = venue.market("BTCUSDT").quote_levels(Side.SELL, D("0.1"), None)

    assert venue.pricing("BTCUSDT").slippage == SlippageSpec("fixed", 1, (("fixed_bps", 20.0),))
    assert buy == [(D("50100.02"), D("0.1"))]  # 50000.01 * 1.002 = 50100.01002, up to the tick
    assert sell == [(D("49899.99"), D("0.1"))]  # 49999.99 * 0.998 = 49899.99002, down to the tick
    assert SlippageModel().bps(D("0.1"), D("0.5"), 0.03) != 20.0
    with pytest.raises(ValueError, match="fixed_bps"):
        FixedSlippage(float("nan"))
