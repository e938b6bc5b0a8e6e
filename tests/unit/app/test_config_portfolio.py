"""The portfolio in the settings: ``[[portfolio]]`` in TOML and ``--pairs`` on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from thunes.app.composition import portfolio_pairs
from thunes.app.config import ConfigError, load_settings
from thunes.app.config_portfolio import MAX_PAIRS, parse_pairs


def test_parse_pairs_when_symbols_and_strategies_then_entries_in_order() -> None:
    assert parse_pairs("BTCUSDT:sma_cross, ethusdt:rsi_reversion,BNBUSDT") == [
        {"symbol": "BTCUSDT", "strategy": "sma_cross"},
        {"symbol": "ETHUSDT", "strategy": "rsi_reversion"},
        {"symbol": "BNBUSDT"},
    ]
    assert parse_pairs("SOLUSDT:my_pkg.mod:MyStrategy") == [{"symbol": "SOLUSDT", "strategy": "my_pkg.mod:MyStrategy"}]


@pytest.mark.parametrize("text", ["", ",", "BTCUSDT,", ":sma_cross", "BTCUSDT:", "BTCUSDT: ,ETHUSDT"])
def test_parse_pairs_when_an_entry_is_empty_then_value_error_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="--pairs"):
        parse_pairs(text)


def test_settings_when_toml_portfolio_then_pairs_resolved_against_the_strategy_section(tmp_path: Path) -> None:
    config = tmp_path / "thunes.toml"
    config.write_text(
        "[strategy]\nsma_fast = 12\nsma_slow = 40\n\n"
        '[[portfolio]]\nsymbol = "BTCUSDT"\n\n'
        '[[portfolio]]\nsymbol = "ETHUSDT"\nstrategy = "rsi_reversion"\nparams = { rsi_period = 7 }\n\n'
        '[[portfolio]]\nsymbol = "SOLUSDT"\nparams = { sma_fast = 5 }\n'
    )

    pairs = portfolio_pairs(load_settings(config, env={}))

    assert [p.symbol for p in pairs] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert [p.strategy.name for p in pairs] == ["sma_cross", "rsi_reversion", "sma_cross"]
    assert (pairs[0].strategy.sma_fast, pairs[0].strategy.sma_slow) == (12, 40)
    assert pairs[1].strategy.rsi_period == 7
    assert (pairs[2].strategy.sma_fast, pairs[2].strategy.sma_slow) == (5, 40)


def test_settings_when_no_portfolio_then_one_pair_of_the_backtest_symbol() -> None:
    settings = load_settings(None, env={}, overrides={"backtest": {"symbol": "ETHUSDT"}})
    (pair,) = portfolio_pairs(settings)
    assert (pair.symbol, pair.strategy) == ("ETHUSDT", settings.strategy)


def test_settings_when_cli_pairs_then_they_replace_the_files_portfolio(tmp_path: Path) -> None:
    config = tmp_path / "thunes.toml"
    config.write_text('[[portfolio]]\nsymbol = "BTCUSDT"\n')
    settings = load_settings(config, env={}, overrides={"portfolio": parse_pairs("ETHUSDT,BNBUSDT:rsi_reversion")})
    assert [p.symbol for p in portfolio_pairs(settings)] == ["ETHUSDT", "BNBUSDT"]


@pytest.mark.parametrize(
    ("portfolio", "message"),
    [
        ([{"symbol": "BTCUSDT"}, {"symbol": "BTCUSDT"}], "already traded"),
        ([{"symbol": "btc-usdt"}], "portfolio"),
        ([{"symbol": "BTCUSDT", "strategy": "../no_such"}], "portfolio\\[0\\] \\(BTCUSDT\\)"),
        ([{"symbol": "BTCUSDT", "params": {"sma_fast": 80}}], "sma_fast \\(80\\) must be less"),
        ([{"symbol": "BTCUSDT", "params": {"nope": 1}}], "nope"),
        ([{"symbol": "BTCUSDT", "params": {"name": "rsi_reversion"}}], "not in 'params'"),
        ([{"symbol": "BTCUSDT", "extra": 1}], "extra"),
        ([{"symbol": f"X{i}USDT"} for i in range(MAX_PAIRS + 1)], f"at most {MAX_PAIRS}"),
    ],
)
def test_settings_when_the_portfolio_is_bad_then_config_error_naming_the_pair(
    portfolio: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, env={}, overrides={"portfolio": portfolio})


def test_settings_when_a_pair_runs_a_user_strategy_then_its_own_keys_are_its_params(tmp_path: Path) -> None:
    config = tmp_path / "thunes.toml"
    config.write_text(
        '[strategy]\nname = "mine.py:Mine"\n\n[strategy.params]\nwindow = 9\n\n'
        '[[portfolio]]\nsymbol = "BTCUSDT"\nparams = { depth = 2 }\n\n'
        '[[portfolio]]\nsymbol = "ETHUSDT"\nstrategy = "sma_cross"\nparams = { sma_fast = 5 }\n\n'
        '[[portfolio]]\nsymbol = "SOLUSDT"\nstrategy = "theirs.py:Theirs"\nparams = { window = 3 }\n'
    )

    btc, eth, sol = portfolio_pairs(load_settings(config, env={}))

    assert (btc.strategy.name, btc.strategy.params) == ("mine.py:Mine", {"window": 9, "depth": 2})
    assert (eth.strategy.name, eth.strategy.params, eth.strategy.sma_fast) == ("sma_cross", {}, 5)
    assert (sol.strategy.name, sol.strategy.params) == ("theirs.py:Theirs", {"window": 3})  # not Mine's window 9


def test_check_strategy_when_a_pair_names_a_missing_file_then_refused_naming_it(tmp_path: Path) -> None:
    from thunes.app.composition import check_strategy

    settings = load_settings(None, env={}, overrides={"portfolio": [{"symbol": "BTCUSDT"},
                                                                    {"symbol": "ETHUSDT", "strategy": "gone.py:X"}]})  # fmt: skip

    with pytest.raises(ValueError, match=r"strategy file not found: gone\.py"):
        check_strategy(settings)
