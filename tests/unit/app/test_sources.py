"""A portfolio's candles are cut to the time range every symbol covers, and the cut is said."""

from __future__ import annotations

import pytest

from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.app.config import DataSettings
from thunes.app.sources import common_range, load_portfolio_bars
from thunes.domain import Timeframe

HOUR = 3_600_000_000_000


def test_common_range_when_symbols_start_and_end_apart_then_cut_to_the_overlap_and_said() -> None:
    btc = generate_ohlcv("BTCUSDT", Timeframe.H1, 100, seed=1)
    eth = generate_ohlcv("ETHUSDT", Timeframe.H1, 100, seed=2, start_ns=int(btc.open_time_ns[10]))

    (btc_cut, eth_cut), note = common_range([btc, eth])

    assert btc_cut.open_time_ns.tolist() == btc.open_time_ns[10:].tolist()
    assert eth_cut.open_time_ns.tolist() == eth.open_time_ns[:90].tolist()
    assert note is not None and "BTCUSDT -10" in note and "ETHUSDT -10" in note
    assert note.startswith("cut to the common range 2024-01-01 10:00 → 2024-01-05 03:00 UTC")


def test_common_range_when_symbols_cover_the_same_hours_then_nothing_cut() -> None:
    btc, eth = generate_ohlcv("BTCUSDT", Timeframe.H1, 50, seed=1), generate_ohlcv("ETHUSDT", Timeframe.H1, 50, seed=2)

    (btc_cut, eth_cut), note = common_range([btc, eth])

    assert note is None and btc_cut is btc and eth_cut is eth


def test_common_range_when_the_ranges_do_not_meet_then_refused_naming_them() -> None:
    btc = generate_ohlcv("BTCUSDT", Timeframe.H1, 20, seed=1)
    eth = generate_ohlcv("ETHUSDT", Timeframe.H1, 20, seed=2, start_ns=int(btc.open_time_ns[-1]) + HOUR)

    with pytest.raises(ValueError, match="share no time range"):
        common_range([btc, eth])


def test_load_portfolio_bars_when_synthetic_then_each_symbol_its_own_market() -> None:
    info = builtin_exchange_info()

    loaded = load_portfolio_bars([info.get("BTCUSDT"), info.get("ETHUSDT")], Timeframe.H1, DataSettings(),
                                 synthetic_bars=60, seed=5)  # fmt: skip

    btc, eth = loaded.bars
    assert (btc.symbol, eth.symbol) == ("BTCUSDT", "ETHUSDT") and loaded.cut is None
    assert btc.close.tolist() != eth.close.tolist()  # seeds 5 and 6: the symbols do not move in lockstep
    assert [item.source for item in loaded.loaded] == ["synthetic market (seed 5)", "synthetic market (seed 6)"]
