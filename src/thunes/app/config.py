"""Typed, frozen settings: one class per component, validated once at start.

Why: every number the system trades on (SPEC §2 risk limits, fees, windows) is a documented default the operator can
override, and a typo must stop the process before the first order, never surface mid-session. Components receive
their own settings class, never the whole tree.

Precedence, highest first: keyword arguments, ``THUNES_*`` environment variables (``THUNES_RISK__MAX_ORDER_NOTIONAL``),
the TOML file, the defaults below. Money is ``Decimal`` in the quote currency (USDT).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from thunes.adapters.hosts import is_loopback_host
from thunes.app.config_fields import SymbolField, VenueIdField
from thunes.app.config_portfolio import PairSettings, check_pairs
from thunes.app.strategy_settings import MAX_WINDOW, StrategySettings
from thunes.domain.market import Timeframe

__all__ = [
    "BINANCE_REST_URL",
    "BINANCE_WS_URL",
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "MASK",
    "BacktestSettings",
    "BusSettings",
    "ConfigError",
    "DataSettings",
    "ExchangeRulesSettings",
    "LiveSettings",
    "LoggingSettings",
    "RiskSettings",
    "Settings",
    "StrategySettings",
    "VenueSettings",
    "load_settings",
    "render_settings",
    "settings_json_schema",
]

ENV_PREFIX = "THUNES_"
CONFIG_ENV_VAR = "THUNES_CONFIG"
DEFAULT_CONFIG_FILE = Path("thunes.toml")
MASK = "**********"
BINANCE_REST_URL = "https://api.binance.com"  # Binance spot, production (rest-api.md "General API Information")
BINANCE_WS_URL = "wss://stream.binance.com:9443"  # its market streams (web-socket-streams.md)
_NESTED = "__"


class ConfigError(ValueError):
    """The configuration is unusable: fix the named key or file, then start again.

    The message is one line and is built from keys and validation messages only, never from the offending values,
    so it cannot leak a secret. ``problems`` holds one entry per bad key.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class VenueSettings(BaseModel):
    """Which venue to talk to and how; the embedded default is the paper venue on loopback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: VenueIdField = Field(default="sim", validate_default=True, description="Venue id, e.g. sim, binance.")
    mode: Literal["paper", "testnet", "live"] = Field(
        default="paper", description="paper: local simulated venue; testnet: Binance testnet; live: real money."
    )
    rest_url: str = Field(
        default="http://127.0.0.1:8765", pattern=r"^https?://\S+$", description="Base URL of the venue's REST API."
    )
    ws_url: str = Field(
        default="ws://127.0.0.1:8765/ws", pattern=r"^wss?://\S+$", description="URL of the venue's WebSocket API."
    )
    api_key: SecretStr | None = Field(default=None, description="API key (secret; never logged or displayed).")
    api_secret: SecretStr | None = Field(default=None, description="API secret (secret; never logged or displayed).")
    recv_window_ms: int = Field(
        default=5000, gt=0, le=60000, description="Binance recvWindow in milliseconds (rest-api.md: at most 60000)."
    )


class RiskSettings(BaseModel):
    """Pre-trade limits (SPEC §2), in the quote currency (USDT) unless a unit says otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_notional: Decimal = Field(default=Decimal(15), gt=0, description="Largest order notional, in USDT.")
    max_daily_loss: Decimal = Field(
        default=Decimal(20), gt=0, description="Realised loss per UTC day that turns the kill-switch on, in USDT."
    )
    max_open_positions: int = Field(default=3, ge=1, description="Most positions open at once, a count.")
    cool_down_minutes: int = Field(
        default=60, ge=0, description="Minutes without entries after a losing close (0 disables), in minutes."
    )
    one_position_per_symbol: bool = Field(default=True, description="Deny a second open position on a symbol.")
    breaker_failure_threshold: int = Field(
        default=5, ge=1, description="Consecutive server-side failures that open the venue circuit breaker, a count."
    )
    breaker_open_seconds: float = Field(
        default=60.0, gt=0, description="How long the breaker stays open before a probe, in seconds."
    )


class DataSettings(BaseModel):
    """Where market data lives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store_dir: Path = Field(default=Path("data/store"), description="Directory of the Parquet/DuckDB data store.")
    shared_data_dir: Path | None = Field(
        default=None, description="Directory of recorded Binance dumps; unset means ../shared/data next to the repo."
    )


class ExchangeRulesSettings(BaseModel):
    """Exchange filters (SPEC §1): where exchangeInfo comes from and how long it stays fresh."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange_info_path: Path | None = Field(
        default=None, description="A saved exchangeInfo JSON file; unset means ask the venue."
    )
    cache_ttl_seconds: int = Field(default=3600, gt=0, description="How long cached filters are trusted, in seconds.")


class BacktestSettings(BaseModel):
    """One backtest run: market, bar size, capital, costs and warm-up, for every command that backtests
    (``backtest``, ``report backtest``, ``optimize``, ``walk-forward``, ``parity``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: SymbolField = Field(default="BTCUSDT", validate_default=True, description="Symbol in Binance form.")
    timeframe: Timeframe = Field(default=Timeframe.H1, description="Bar interval, Binance kline notation.")
    initial_cash: Decimal = Field(
        default=Decimal(10000), gt=0, allow_inf_nan=False, description="Starting cash, in the quote asset."
    )
    fee_rate: Decimal = Field(
        default=Decimal("0.001"),
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="Fee per fill, a fraction of notional (0.001 = 0.1 %): what the simulated venue charges "
        "and what sizing assumes.",
    )
    warmup_bars: int = Field(
        default=100,
        ge=0,
        le=MAX_WINDOW,
        description="Bars replayed before trading starts; optimize and walk-forward raise it to what their "
        "search space's longest window needs.",
    )
    data_path: Path | None = Field(default=None, description="Candle file to replay; unset means the data store.")


class LoggingSettings(BaseModel):
    """Log verbosity and format."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Lowest level written."
    )
    # ``json`` would shadow BaseModel.json, so the attribute has another name and the key stays ``json``.
    json_output: bool = Field(default=False, alias="json", description="JSON lines instead of key=value text.")
    file_max_bytes: int = Field(
        default=10 * 2**20, ge=4096, le=2**30, description="A session's log file is rotated at this size (bytes)."
    )
    file_backups: int = Field(default=5, ge=1, le=100, description="Rotated session log files kept (oldest dropped).")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _is_loopback(url: str) -> bool:
    return is_loopback_host(_host(url))


class LiveSettings(BaseModel):
    """Live trading (``thunes trade --live``): the capital cap and where Binance is.

    The endpoints default to Binance's production ones. Overriding them exists so the whole live path
    can run against the simulated venue (``thunes venue serve``) or a TLS relay: plain ``http``/``ws``
    is refused unless the host is loopback (signed requests would cross the network in clear), and a
    host that is not Binance's is allowed but logged loudly and shown in the session's status.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_capital: Decimal = Field(
        default=Decimal(10),
        gt=0,
        description="Most capital at risk at once, in the quote currency (micro-live: 10, about 10 EUR); "
        "the session's risk limits are capped to it.",
    )
    rest_url: str = Field(
        default=BINANCE_REST_URL,
        pattern=r"^https?://\S+$",
        description="Binance spot REST base URL; anything else is an override (loopback only without TLS).",
    )
    ws_url: str = Field(
        default=BINANCE_WS_URL,
        pattern=r"^wss?://\S+$",
        description="Binance spot WebSocket base URL; anything else is an override (loopback only without TLS).",
    )

    @field_validator("rest_url", "ws_url")
    @classmethod
    def _no_cleartext_off_loopback(cls, url: str) -> str:
        if url.startswith(("http://", "ws://")) and not _is_loopback(url):
            raise ValueError("without TLS only a loopback host is allowed: live keys and signed requests must "
                             "not cross a network in clear (use https:// or wss://)")  # fmt: skip
        return url

    @property
    def overrides(self) -> dict[str, str]:
        """The endpoints that are not Binance's production defaults, by key (empty: real Binance)."""
        given = {"rest_url": self.rest_url, "ws_url": self.ws_url}
        defaults = {"rest_url": BINANCE_REST_URL, "ws_url": BINANCE_WS_URL}
        return {k: v for k, v in given.items() if v.rstrip("/").removesuffix("/ws") != defaults[k]}

    @property
    def not_binance(self) -> dict[str, str]:
        """The overrides whose host is not Binance's (``*.binance.com``): another venue holds the keys."""
        return {k: v for k, v in self.overrides.items()
                if not (_host(v) == "binance.com" or _host(v).endswith(".binance.com"))}  # fmt: skip


class BusSettings(BaseModel):
    """Where the engine's messages go besides the in-process bus: NATS JetStream (``thunes trade --bus``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        default=None,
        pattern=r"^(nats|tls)://\S+$",
        description="NATS server, e.g. nats://127.0.0.1:4222; unset: the in-process bus only.",
    )
    prefix: str = Field(default="thunes", pattern=r"^[A-Za-z0-9_-]+$", description="The subjects' first token.")
    stream: str = Field(default="THUNES", pattern=r"^[A-Za-z0-9_-]+$", description="The events' JetStream stream.")
    inbound_stream: str = Field(default="THUNES_IN", pattern=r"^[A-Za-z0-9_-]+$",
                                description="The stream of messages to the engine (RL actions).")  # fmt: skip
    duplicate_window_s: float = Field(default=600.0, gt=0, description="How long JetStream remembers a message "
                                      "id, in seconds (a re-send within it is dropped as a duplicate).")  # fmt: skip
    flush_timeout_s: float = Field(default=10.0, ge=0, description="How long a stopping session waits for NATS "
                                   "to take what it has not, in seconds (the rest stays spooled).")  # fmt: skip


@dataclass(frozen=True)
class _LoadContext:
    """What ``load_settings`` asks the sources to read; the defaults mean ``os.environ`` and no file."""

    toml_file: Path | None = None
    environ: Mapping[str, str] | None = None


_LOAD_CONTEXT: ContextVar[_LoadContext] = ContextVar("thunes_settings_load", default=_LoadContext())  # noqa: B039 - frozen, never mutated


class _MappingEnvSource(EnvSettingsSource):
    """The environment source reading an explicit mapping, so tests and callers need not touch ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {(key if self.case_sensitive else key.lower()): value for key, value in self._environ.items()}


class Settings(BaseSettings):
    """The whole configuration; hand each component its own part.

    Build it with ``load_settings``: ``Settings()`` alone reads keyword arguments and the environment, no file.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=_NESTED, extra="forbid", frozen=True)

    venue: VenueSettings = Field(default_factory=VenueSettings, description="Venue connection.")
    risk: RiskSettings = Field(default_factory=RiskSettings, description="Pre-trade risk limits.")
    data: DataSettings = Field(default_factory=DataSettings, description="Market data locations.")
    rules: ExchangeRulesSettings = Field(default_factory=ExchangeRulesSettings, description="Exchange filters.")
    strategy: StrategySettings = Field(default_factory=StrategySettings, description="Strategy and parameters.")
    backtest: BacktestSettings = Field(default_factory=BacktestSettings, description="Backtest run.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="Logging.")
    live: LiveSettings = Field(default_factory=LiveSettings, description="Live trading: capital cap and endpoints.")
    bus: BusSettings = Field(default_factory=BusSettings, description="NATS JetStream bus (off by default).")
    portfolio: list[PairSettings] = Field(
        default_factory=list,
        description="(symbol, strategy) pairs traded on one account; empty: backtest.symbol with [strategy].",
    )

    @model_validator(mode="after")
    def _pairs_are_tradable(self) -> Self:
        check_pairs(self.portfolio, self.strategy)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then the TOML file; no ``.env`` file (secrets come from the environment)."""
        context = _LOAD_CONTEXT.get()
        env = env_settings if context.environ is None else _MappingEnvSource(settings_cls, context.environ)
        if context.toml_file is None:
            return (init_settings, env)
        return (init_settings, env, TomlConfigSettingsSource(settings_cls, toml_file=context.toml_file))


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]] | None = None,
) -> Settings:
    """Build the settings from ``path`` (else ``$THUNES_CONFIG``, else ``./thunes.toml`` if present) and ``env``.

    ``env`` replaces ``os.environ`` when given; ``overrides`` (per section, e.g. from CLI options) win over
    both. Raises ``ConfigError`` naming each bad key and where it came from.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    toml_file = _config_file(path, environ)
    toml_data = _read_toml(toml_file) if toml_file is not None else {}
    token = _LOAD_CONTEXT.set(_LoadContext(toml_file=toml_file, environ=env))
    try:
        init: dict[str, Any] = {k: _copy(v) for k, v in (overrides or {}).items()}
        return Settings(**init)
    except ValidationError as err:
        # ``from None``: the chained ValidationError carries the raw inputs, secrets included.
        given = {k: _copy(v) for k, v in (overrides or {}).items()}
        problems = tuple(_problem(error, environ, toml_file, toml_data, given) for error in _errors(err))
        raise ConfigError("invalid settings: " + "; ".join(problems), problems) from None
    except SettingsError as err:
        problem = _unparsable(err, environ)
        raise ConfigError(f"invalid settings: {problem}", (problem,)) from None
    finally:
        _LOAD_CONTEXT.reset(token)


def _copy(value: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Any:
    """An override section (a table) or list of tables (``portfolio``), copied so validation cannot alias it."""
    return dict(value) if isinstance(value, Mapping) else [dict(v) for v in value]


def settings_json_schema() -> dict[str, Any]:
    """JSON Schema of ``Settings``: every key, its type, default, bounds and description (units included)."""
    return Settings.model_json_schema(by_alias=True)


def render_settings(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready data for display, every secret replaced by ``MASK``."""
    data = settings.model_dump(mode="json", by_alias=True)
    venue = data["venue"]
    for key in ("api_key", "api_secret"):
        if venue.get(key) is not None:
            venue[key] = MASK
    return data


def _config_file(path: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read: explicit path, else ``$THUNES_CONFIG``, else ``./thunes.toml`` when it exists."""
    if path is None and environ.get(CONFIG_ENV_VAR):
        path = Path(environ[CONFIG_ENV_VAR])
    if path is None:
        return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse the file up front so a syntax error is one line naming the file, line and column."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:  # TOML is UTF-8: a binary file or another encoding
        raise ConfigError(f"{path}: not a UTF-8 TOML file (byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file: {err.strerror}") from None


def _errors(err: ValidationError) -> list[ErrorDetails]:
    """Validation errors without their inputs: what was typed might be a secret."""
    return err.errors(include_url=False, include_context=False, include_input=False)


def _problem(
    error: ErrorDetails,
    environ: Mapping[str, str],
    toml_file: Path | None,
    toml: dict[str, Any],
    overrides: dict[str, Any],
) -> str:
    """``risk.max_order_notional: Input should be greater than 0 (from THUNES_RISK__MAX_ORDER_NOTIONAL)``."""
    loc = tuple(str(part) for part in error["loc"])
    key = ".".join(loc) or "settings"
    message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"].removeprefix("Value error, ")
    origins = ["command-line options"] if _has_path(overrides, loc) else _origins(loc, environ, toml_file, toml)
    return f"{key}: {message} (from {', '.join(origins)})"


def _origins(
    loc: tuple[str, ...], environ: Mapping[str, str], toml_file: Path | None, toml: dict[str, Any]
) -> list[str]:
    """Where the value at ``loc`` came from: the environment beats the file, as in ``Settings`` itself.

    A whole table (``strategy`` for a cross-field rule) may be assembled from both, so both are named.
    """
    name = (ENV_PREFIX + _NESTED.join(loc)).upper()
    setters = {(ENV_PREFIX + _NESTED.join(loc[:depth])).upper() for depth in range(1, len(loc) + 1)}
    exact = sorted(var for var in environ if var.upper() in setters)
    inside = sorted(var for var in environ if var.upper().startswith(name + _NESTED))
    in_file = [str(toml_file)] if toml_file is not None and _has_path(toml, loc) else []
    origins = exact or inside + in_file
    return origins or ["defaults"]


def _unparsable(err: SettingsError, environ: Mapping[str, str]) -> str:
    """A table given as one environment variable (``THUNES_RISK='{...}'``) that is not valid JSON."""
    match = re.search(r'field "(\w+)"', str(err))
    if match is None:
        return str(err)
    loc = (match.group(1),)
    return f"{loc[0]}: value is not valid JSON (from {', '.join(_origins(loc, environ, None, {}))})"


def _has_path(data: Mapping[str, Any], loc: tuple[str, ...]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True
