from __future__ import annotations

import json
import os
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from thunes.app.config import (
    MASK,
    BacktestSettings,
    ConfigError,
    RiskSettings,
    Settings,
    StrategySettings,
    load_settings,
    render_settings,
    settings_json_schema,
)
from thunes.domain.identifiers import Symbol
from thunes.domain.market import Timeframe

SECRET = "sk-LIVE-7f3a9c2e1b8d4f60"
KEY = "ak-PUBLIC-0d9e8c7b6a5f"
COMPONENTS = {
    "venue": "VenueSettings",
    "risk": "RiskSettings",
    "data": "DataSettings",
    "rules": "ExchangeRulesSettings",
    "strategy": "StrategySettings",
    "backtest": "BacktestSettings",
    "logging": "LoggingSettings",
    "live": "LiveSettings",
    "bus": "BusSettings",
}


@pytest.fixture(autouse=True)
def _no_stray_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``./thunes.toml`` and no developer ``THUNES_*`` variables leak into a test."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.upper().startswith("THUNES_")]:
        monkeypatch.delenv(name)


def _toml(tmp_path: Path, text: str, name: str = "thunes.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / name


def _error(path: Path | None = None, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env or {})
    return caught.value


def _everything_shown(err: ConfigError) -> str:
    """Every text a user or log could see from the error, traceback included."""
    return str(err) + repr(err) + "".join(traceback.format_exception(err)) + "".join(err.problems)


def test_load_when_nothing_configured_then_risk_defaults_are_spec_values() -> None:
    risk = load_settings(env={}).risk

    assert (risk.max_order_notional, risk.max_daily_loss) == (Decimal(15), Decimal(20))
    assert all(type(money) is Decimal for money in (risk.max_order_notional, risk.max_daily_loss))
    assert (risk.max_open_positions, risk.cool_down_minutes, risk.one_position_per_symbol) == (3, 60, True)
    assert (risk.breaker_failure_threshold, risk.breaker_open_seconds) == (5, 60)


def test_load_when_nothing_configured_then_component_defaults_hold() -> None:
    shown = render_settings(load_settings(env={}))

    assert shown["venue"] == {
        **{"name": "sim", "mode": "paper", "rest_url": "http://127.0.0.1:8765", "ws_url": "ws://127.0.0.1:8765/ws"},
        **{"api_key": None, "api_secret": None, "recv_window_ms": 5000},
    }
    assert shown["data"] == {"store_dir": "data/store", "shared_data_dir": None}
    assert shown["rules"] == {"exchange_info_path": None, "cache_ttl_seconds": 3600}
    assert shown["strategy"] == {
        **{"name": "sma_cross", "sma_fast": 20, "sma_slow": 50, "rsi_period": 14},
        **{"rsi_oversold": 30, "rsi_overbought": 70, "rsi_stop_loss": "0.03"},
    }
    assert shown["backtest"] == {
        **{"symbol": "BTCUSDT", "timeframe": "1h", "initial_cash": "10000", "fee_rate": "0.001"},
        **{"warmup_bars": 100, "data_path": None},
    }
    assert shown["logging"] == {"level": "INFO", "json": False, "file_max_bytes": 10 * 2**20, "file_backups": 5}


def test_load_when_nothing_configured_then_typed_values_not_strings() -> None:
    backtest = load_settings(env={}).backtest

    assert type(backtest.symbol) is Symbol
    assert backtest.timeframe is Timeframe.H1
    assert all(type(v) is Decimal for v in (backtest.initial_cash, backtest.fee_rate))


def test_load_when_toml_file_given_then_its_values_are_used(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        '[risk]\nmax_order_notional = "12.5"\nmax_open_positions = 2\n'
        '[backtest]\nsymbol = "ETHUSDT"\ntimeframe = "4h"\nfee_rate = 0.00075\n'
        "[logging]\njson = true\n",
        name="custom.toml",
    )

    settings = load_settings(path, env={})

    assert settings.risk.max_order_notional == Decimal("12.5")
    assert settings.risk.max_open_positions == 2
    assert settings.risk.max_daily_loss == Decimal(20)  # untouched keys keep their defaults
    assert settings.backtest.symbol == Symbol("ETHUSDT")
    assert settings.backtest.timeframe is Timeframe.H4
    assert settings.backtest.fee_rate == Decimal("0.00075")  # a TOML float becomes the decimal it reads as
    assert settings.logging.json_output is True


def test_load_when_env_and_file_disagree_then_env_wins(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[risk]\nmax_order_notional = 12\nmax_daily_loss = 30\n")

    settings = load_settings(path, env={"THUNES_RISK__MAX_ORDER_NOTIONAL": "9.5"})

    assert settings.risk.max_order_notional == Decimal("9.5")
    assert settings.risk.max_daily_loss == Decimal(30)  # the file still supplies the keys env leaves alone


def test_load_when_nested_env_vars_set_then_each_component_takes_them() -> None:
    env = {
        "THUNES_VENUE__MODE": "testnet",
        "THUNES_VENUE__API_SECRET": SECRET,
        "THUNES_STRATEGY__NAME": "rsi_reversion",
        "THUNES_STRATEGY__RSI_STOP_LOSS": "0.05",
        "THUNES_BACKTEST__TIMEFRAME": "15m",
        "THUNES_DATA__SHARED_DATA_DIR": "/srv/shared",
        "thunes_logging__level": "DEBUG",
        "THUNES_LOGGING__JSON": "true",
    }

    settings = load_settings(env=env)

    assert settings.venue.mode == "testnet"
    assert isinstance(settings.venue.api_secret, SecretStr)
    assert settings.venue.api_secret.get_secret_value() == SECRET
    assert settings.strategy.name == "rsi_reversion"
    assert settings.strategy.rsi_stop_loss == Decimal("0.05")
    assert settings.backtest.timeframe is Timeframe.M15
    assert settings.data.shared_data_dir == Path("/srv/shared")
    assert settings.logging.level == "DEBUG"
    assert settings.logging.json_output is True


def test_load_when_path_absent_then_thunes_config_env_var_names_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[risk]\nmax_open_positions = 1\n", name="elsewhere.toml")

    settings = load_settings(env={"THUNES_CONFIG": str(path)})

    assert settings.risk.max_open_positions == 1


def test_load_when_thunes_toml_in_cwd_then_it_is_read(tmp_path: Path) -> None:
    _toml(tmp_path, "[risk]\ncool_down_minutes = 0\n")

    assert load_settings(env={}).risk.cool_down_minutes == 0


def test_load_when_path_given_then_it_beats_thunes_config(tmp_path: Path) -> None:
    chosen = _toml(tmp_path, "[risk]\nmax_open_positions = 1\n", name="chosen.toml")
    other = _toml(tmp_path, "[risk]\nmax_open_positions = 2\n", name="other.toml")

    assert load_settings(chosen, env={"THUNES_CONFIG": str(other)}).risk.max_open_positions == 1


def test_settings_when_init_kwargs_and_env_disagree_then_kwargs_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THUNES_RISK__MAX_OPEN_POSITIONS", "2")
    monkeypatch.setenv("THUNES_RISK__MAX_DAILY_LOSS", "40")

    settings = Settings(risk={"max_open_positions": 1})

    assert settings.risk.max_open_positions == 1
    assert settings.risk.max_daily_loss == Decimal(40)


def test_load_when_env_is_none_then_os_environ_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THUNES_RISK__MAX_OPEN_POSITIONS", "7")

    assert load_settings().risk.max_open_positions == 7
    assert load_settings(env={}).risk.max_open_positions == 3


def test_settings_when_assigned_then_frozen_error() -> None:
    settings = load_settings(env={})

    with pytest.raises(ValidationError, match="frozen"):
        settings.risk = RiskSettings()  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.risk.max_order_notional = Decimal(1_000_000)  # type: ignore[misc]
    assert settings.risk.max_order_notional == Decimal(15)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [("[risk]\nmax_ordr_notional = 10\n", "risk.max_ordr_notional"), ("[rsk]\nmax_order_notional = 10\n", "rsk")],
)
def test_load_when_unknown_key_in_file_then_dotted_name_and_file_in_error(
    tmp_path: Path, toml: str, expected: str
) -> None:
    path = _toml(tmp_path, toml)

    err = _error(path)

    assert f"{expected}: unknown setting (from {path})" in str(err)
    assert "\n" not in str(err)


def test_load_when_unknown_nested_env_var_then_rejected_with_its_name() -> None:
    err = _error(env={"THUNES_RISK__MAX_ORDR_NOTIONAL": "10"})

    assert "risk.max_ordr_notional: unknown setting" in str(err)
    assert "THUNES_RISK__MAX_ORDR_NOTIONAL" in str(err)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"THUNES_RISK__MAX_ORDER_NOTIONAL": "0"}, "risk.max_order_notional: Input should be greater than 0"),
        ({"THUNES_RISK__MAX_DAILY_LOSS": "-5"}, "risk.max_daily_loss: Input should be greater than 0"),
        ({"THUNES_RISK__MAX_OPEN_POSITIONS": "0"}, "risk.max_open_positions:"),
        ({"THUNES_VENUE__MODE": "yolo"}, "venue.mode:"),
        ({"THUNES_VENUE__RECV_WINDOW_MS": "70000"}, "venue.recv_window_ms:"),
        ({"THUNES_VENUE__REST_URL": "ftp://x"}, "venue.rest_url:"),
        ({"THUNES_STRATEGY__RSI_STOP_LOSS": "1"}, "strategy.rsi_stop_loss:"),
        ({"THUNES_BACKTEST__SYMBOL": "btc/usdt"}, "backtest.symbol:"),
        ({"THUNES_BACKTEST__TIMEFRAME": "7m"}, "backtest.timeframe:"),
        ({"THUNES_BACKTEST__INITIAL_CASH": "0"}, "backtest.initial_cash:"),
        # Gone with the simple backtester (the engine core sizes entries by the risk limits): refused, not ignored.
        ({"THUNES_BACKTEST__STAKE_FRACTION": "0.99"}, "backtest.stake_fraction:"),
        ({"THUNES_LOGGING__LEVEL": "LOUD"}, "logging.level:"),
    ],
)
def test_load_when_value_invalid_then_error_names_key_and_env_var(env: dict[str, str], key: str) -> None:
    err = _error(env=env)

    assert key in str(err)
    assert next(iter(env)) in str(err)
    assert str(err).startswith("invalid settings: ")


def test_load_when_several_values_invalid_then_each_key_named_on_one_line(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[risk]\nmax_order_notional = 0\n[venue]\nrecv_window_ms = -1\n")

    err = _error(path)

    assert len(err.problems) == 2
    assert "risk.max_order_notional" in str(err)
    assert "venue.recv_window_ms" in str(err)
    assert "\n" not in str(err)


@pytest.mark.parametrize(("fast", "slow"), [(50, 50), (60, 50)])
def test_load_when_sma_fast_not_below_slow_then_rejected_naming_both(fast: int, slow: int) -> None:
    err = _error(env={"THUNES_STRATEGY__SMA_FAST": str(fast), "THUNES_STRATEGY__SMA_SLOW": str(slow)})

    assert "strategy: sma_fast" in str(err)
    assert "sma_slow" in str(err)


def test_strategy_when_fast_below_slow_then_accepted() -> None:
    assert StrategySettings(sma_fast=5, sma_slow=6).sma_fast == 5


def test_strategy_when_oversold_not_below_overbought_then_rejected() -> None:
    with pytest.raises(ValidationError, match="rsi_oversold"):
        StrategySettings(rsi_oversold=70, rsi_overbought=70)


def test_load_when_toml_malformed_then_one_line_error_with_file_and_line(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[risk]\nmax_order_notional = 10\nmax_daily_loss = = 3\n")

    err = _error(path)

    assert str(path) in str(err)
    assert "line 3" in str(err)
    assert "\n" not in str(err)


@pytest.mark.parametrize("via_env", [False, True])
def test_load_when_config_file_missing_then_error_names_it(tmp_path: Path, via_env: bool) -> None:
    missing = tmp_path / "nope.toml"

    err = _error(env={"THUNES_CONFIG": str(missing)}) if via_env else _error(missing)

    assert str(err) == f"{missing}: config file not found"


def test_load_when_env_table_is_not_json_then_config_error_names_it() -> None:
    err = _error(env={"THUNES_RISK": "{not json"})

    assert "risk" in str(err)
    assert "THUNES_RISK" in str(err)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_schema_when_exported_then_every_component_and_field_is_documented() -> None:
    schema = settings_json_schema()

    assert json.loads(json.dumps(schema)) == schema
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {*COMPONENTS, "portfolio"}
    assert schema["properties"]["portfolio"]["items"]["$ref"] == "#/$defs/PairSettings"
    assert schema["properties"]["portfolio"]["description"]
    for name, field in schema["$defs"]["PairSettings"]["properties"].items():
        assert field.get("description"), f"PairSettings.{name} has no description"
    for component, definition in COMPONENTS.items():
        assert schema["properties"][component]["$ref"] == f"#/$defs/{definition}"
        model = schema["$defs"][definition]
        assert model["type"] == "object"
        assert model["additionalProperties"] is False
        assert model["description"]
        for name, field in model["properties"].items():
            assert field.get("description"), f"{definition}.{name} has no description"
    for ref in _refs(schema):
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


def test_schema_when_exported_then_bounds_units_and_aliases_are_visible() -> None:
    defs = settings_json_schema()["$defs"]

    notional = defs["RiskSettings"]["properties"]["max_order_notional"]
    assert "USDT" in notional["description"]
    assert notional["default"] == "15"
    assert any(option.get("exclusiveMinimum") == 0 for option in notional["anyOf"])
    assert "json" in defs["LoggingSettings"]["properties"]
    assert defs["VenueSettings"]["properties"]["api_secret"]["anyOf"][0]["writeOnly"] is True
    assert defs["Timeframe"]["enum"] == [t.value for t in Timeframe]


def test_settings_when_secrets_set_via_env_and_file_then_never_rendered(tmp_path: Path) -> None:
    path = _toml(tmp_path, f'[venue]\napi_key = "{KEY}"\n')

    settings = load_settings(path, env={"THUNES_VENUE__API_SECRET": SECRET})

    assert settings.venue.api_key is not None
    assert settings.venue.api_key.get_secret_value() == KEY  # loaded, just never shown
    assert settings.venue.api_secret is not None
    assert settings.venue.api_secret.get_secret_value() == SECRET
    rendered = render_settings(settings)
    assert (rendered["venue"]["api_key"], rendered["venue"]["api_secret"]) == (MASK, MASK)
    for text in (repr(settings), str(settings), settings.model_dump_json(), json.dumps(rendered), repr(settings.venue)):
        assert SECRET not in text
        assert KEY not in text


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (f'[venue]\napi_secret = 918273645546372819\napi_key = ["{KEY}"]\n', "venue.api_secret"),
        (f'[venue]\napi_key = ["{KEY}"]\n', "venue.api_key: Input should be a valid string"),
        (f'[venue]\napi_secrt = "{KEY}"\n', "venue.api_secrt: unknown setting"),
    ],
)
def test_load_when_secret_field_invalid_then_error_omits_the_value(tmp_path: Path, toml: str, expected: str) -> None:
    err = _error(_toml(tmp_path, toml))

    assert expected in str(err)
    assert "918273645546372819" not in _everything_shown(err)
    assert KEY not in _everything_shown(err)


def test_load_when_secret_in_json_env_table_invalid_then_error_omits_it() -> None:
    err = _error(env={"THUNES_VENUE": json.dumps({"api_secret": [SECRET], "mode": "paper"})})

    assert "venue.api_secret" in str(err)
    assert SECRET not in _everything_shown(err)


def test_load_when_other_field_invalid_then_error_omits_the_valid_secret(tmp_path: Path) -> None:
    path = _toml(tmp_path, f'[venue]\napi_key = "{KEY}"\nmode = "nope"\n')

    err = _error(path, env={"THUNES_VENUE__API_SECRET": SECRET, "THUNES_RISK__MAX_ORDER_NOTIONAL": "-1"})

    assert "venue.mode" in str(err)
    assert "risk.max_order_notional" in str(err)
    assert SECRET not in _everything_shown(err)
    assert KEY not in _everything_shown(err)


def test_backtest_when_built_directly_then_symbol_validated() -> None:
    with pytest.raises(ValidationError, match="symbol"):
        BacktestSettings(symbol="btcusdt")


# --- [live] ------------------------------------------------------------------------------------
def test_live_when_defaults_then_binance_production_and_a_cap_of_ten() -> None:
    live = load_settings(env={}).live

    assert (live.rest_url, live.ws_url) == ("https://api.binance.com", "wss://stream.binance.com:9443")
    assert live.max_capital == Decimal(10)
    assert live.overrides == {}
    assert live.not_binance == {}


@pytest.mark.parametrize("key", ["REST_URL", "WS_URL"])
def test_live_when_cleartext_endpoint_off_loopback_then_refused_naming_the_key(key: str) -> None:
    url = "http://10.0.0.7:8765" if key == "REST_URL" else "ws://venue.example.org:8765"

    err = _error(env={f"THUNES_LIVE__{key}": url})

    assert f"live.{key.lower()}: without TLS only a loopback host is allowed" in str(err)
    assert f"THUNES_LIVE__{key}" in str(err)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "[::1]"])
def test_live_when_cleartext_endpoint_on_loopback_then_an_override_that_is_not_binance(host: str) -> None:
    live = load_settings(
        env={"THUNES_LIVE__REST_URL": f"http://{host}:8765", "THUNES_LIVE__WS_URL": f"ws://{host}:8765"}
    ).live

    assert live.overrides == {"rest_url": f"http://{host}:8765", "ws_url": f"ws://{host}:8765"}
    assert live.not_binance == live.overrides


def test_live_when_tls_override_then_allowed_and_only_foreign_hosts_flagged_not_binance() -> None:
    live = load_settings(env={"THUNES_LIVE__REST_URL": "https://api1.binance.com",
                              "THUNES_LIVE__WS_URL": "wss://relay.example.org/ws"}).live  # fmt: skip

    assert set(live.overrides) == {"rest_url", "ws_url"}
    assert live.not_binance == {"ws_url": "wss://relay.example.org/ws"}


def test_live_when_default_urls_written_with_a_trailing_slash_or_ws_then_not_an_override() -> None:
    live = load_settings(env={"THUNES_LIVE__REST_URL": "https://api.binance.com/",
                              "THUNES_LIVE__WS_URL": "wss://stream.binance.com:9443/ws"}).live  # fmt: skip

    assert live.overrides == {}
