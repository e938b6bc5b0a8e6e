"""Settings for a command from its config file and the options the user gave, and the checks every
command makes of its inputs before it creates, opens for writing or changes anything: one place, so
every command treats an omitted option (``None``) the same way and reports a bad input in one line.

The number checks are option callbacks (they run while the command line is parsed, before the
command's body); the location checks are functions a command calls first thing, since what a
location must be can depend on other options (``optimize --data-dir`` matters with ``--record``).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from thunes.adapters.datastore.errors import DataFileError
from thunes.app.composition import check_strategy
from thunes.app.config import ConfigError, Settings, load_settings
from thunes.app.config_portfolio import parse_pairs
from thunes.app.errors import fail
from thunes.app.logging import configure_logging
from thunes.domain.exchange_info import ExchangeInfoError
from thunes.features.ohlcv import OHLCVError

__all__ = [
    "MAX_COUNT",
    "FeeRateOpt",
    "InitialCashOpt",
    "PairsOpt",
    "ParamOpt",
    "StrategyOpt",
    "WarmupOpt",
    "asset",
    "backtest_costs",
    "bind_host",
    "checked_strategy",
    "database_target",
    "finite",
    "http_url",
    "input_errors",
    "output_location",
    "pairs_option",
    "settings_from_options",
    "strategy_options",
    "thunes_data_dir",
]

MAX_ASSET_LENGTH = 20
MAX_COUNT = 1_000_000  # trials, jobs, bars, warm-up: more is a typo (and would run for days), not a plan
MAX_HOST_LENGTH = 253  # a DNS name's limit
MAX_CASH = 1e12  # quote units of a backtest's starting balance: more is a typo
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
N = TypeVar("N", int, float)


def settings_from_options(
    config: Path | None,
    options: Mapping[str, Mapping[str, Any] | Sequence[Mapping[str, Any]] | None],
    *,
    console_level: str | None = None,
) -> Settings:
    """``options`` is ``{section: {field: value or None}}`` (``portfolio``: a list of pairs, or None); only
    the values given override. ``console_level`` raises the console's log threshold (a session's lines
    go to its log file)."""
    given: dict[str, Any] = {}
    for section, values in options.items():
        if isinstance(values, Mapping):
            given[section] = {k: v for k, v in values.items() if v is not None}
        elif values is not None:
            given[section] = list(values)
    try:
        settings = load_settings(config, overrides={k: v for k, v in given.items() if v})
    except ConfigError as e:
        fail(str(e))
    configure_logging(settings.logging, console_level=console_level)
    return settings


def strategy_options(strategy: str | None, params: list[str] | None, **builtin: Any) -> dict[str, Any]:
    """The ``strategy`` settings that ``--strategy``, ``--param NAME=VALUE`` (repeated) and a built-in's own
    options (``sma_fast=...``) override; ``None``: the configured value."""
    pairs: dict[str, str] = {}
    for item in params or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            fail(f"--param expects NAME=VALUE with NAME a parameter's name, got {item[:80]!r}")
        if key.strip() in pairs:
            fail(f"--param {key.strip()} is given twice")
        pairs[key.strip()] = value
    return {"name": strategy, "params": pairs or None, **builtin}


def checked_strategy(settings: Settings) -> str:
    """The configured strategy loaded and built once (its name), or one ``error:`` line (exit 2) when
    its spec or parameters are wrong: called before a command creates or changes anything."""
    try:
        return check_strategy(settings)
    except ValueError as e:
        fail(str(e))


def backtest_costs(initial_cash: float | None, fee_rate: float | None, warmup: int | None) -> dict[str, Any]:
    """The ``backtest`` settings that ``--initial-cash``, ``--fee-rate`` and ``--warmup`` override (the
    same three on every command that backtests; ``None``: the configured value)."""
    return {"initial_cash": _decimal(initial_cash), "fee_rate": _decimal(fee_rate), "warmup_bars": warmup}


def _decimal(value: float | None) -> Decimal | None:
    """The number as typed (``5000`` and ``0.00075``, not ``5000.0``): the shortest decimal of the float."""
    if value is None:
        return None
    return Decimal(int(value)) if value.is_integer() else Decimal(repr(value))


@contextmanager
def input_errors() -> Iterator[None]:
    """Bad files, unknown symbols and impossible parameters end as one ``error:`` line, exit 2."""
    try:
        yield
    except (DataFileError, ExchangeInfoError, OHLCVError) as e:
        fail(str(e))
    except KeyError as e:
        fail(str(e.args[0]) if e.args else "unknown symbol")
    except ValueError as e:
        fail(str(e))


def asset(text: str, option: str) -> str:
    """An asset code as Binance writes them (``USDT``, ``1000SATS``): ASCII letters and digits."""
    if not (text.isascii() and text.isalnum() and len(text) <= MAX_ASSET_LENGTH):
        fail(f"{option} must be an asset code like USDT, got {text[:40]!r}")
    return text.upper()


def finite(low: float, high: float, *, above: bool = True) -> Callable[[N | None], N | None]:
    """An option callback: the number must be finite, ``> low`` (``>= low`` with ``above=False``) and
    ``<= high``; ``nan``, ``inf`` and ``1e400`` (which Python reads as inf) are refused at parse time."""
    sign = ">" if above else ">="

    def check(value: N | None) -> N | None:
        if value is None:
            return value
        inside = value > low if above else value >= low
        if not (math.isfinite(value) and inside and value <= high):
            raise typer.BadParameter(f"must be a finite number {sign} {low:g} and <= {high:g}, got {value}")
        return value

    return check


def bind_host(text: str, option: str) -> str:
    """An address to bind: an IP literal or a host name of DNS labels (no spaces, no shell, no 300 bytes)."""
    if ":" in text or text.replace(".", "").isdigit():  # IPv6, or what only an IPv4 address looks like
        try:
            return str(ipaddress.ip_address(text.strip("[]")))
        except ValueError:
            fail(f"{option} {text[:60]!r} is not an IP address")
    labels = text.rstrip(".").split(".")
    if not text or len(text) > MAX_HOST_LENGTH or not all(_LABEL.fullmatch(label) for label in labels):
        fail(f"{option} must be an IP address or a host name, got {text[:60]!r}")
    return text


def http_url(text: str, option: str) -> str:
    """An ``http(s)://host[:port]`` URL with a valid host and port (checked, not fetched)."""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as e:
        fail(f"{option} {text[:80]!r} is not a valid URL: {e}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"{option} must be an http(s) URL like http://127.0.0.1:8765, got {text[:80]!r}")
    bind_host(parts.hostname, option)
    if port == 0:
        fail(f"{option} {text[:80]!r} has port 0")
    return text


def _free(folder: Path) -> bool:
    """Room for a new file in ``folder``'s file system: a free block and a free inode."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return True  # cannot tell: the write itself reports it
    return st.f_bavail > 0 and (st.f_files == 0 or st.f_favail > 0)


def output_location(path: Path, option: str, *, directory: bool) -> Path:
    """Where a command will write: an existing file or directory of the right kind, or a new one whose
    nearest existing folder is a writable directory with room (a read-only or full location, or a
    path under a file, is refused before anything is computed or created)."""
    if path.exists():
        if path.is_dir() != directory:
            wanted, found = ("directory", "a file") if directory else ("file", "a directory")
            fail(f"{option} {path} is {found}: give a {wanted}")
        folder = path if directory else path.parent
    else:
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            fail(f"{option} {path} is under {folder}, which is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(f"{option} {path}: {folder} is not writable")
    if not _free(folder):
        fail(f"{option} {path}: no space left in {folder}")
    return path


def thunes_data_dir(path: Path, option: str = "--data-dir", hint: str = "thunes trade makes one") -> Path:
    """An existing, writable session data directory: a typo must not create one (and records written
    there would be lost to the session that should have them)."""
    if not path.is_dir():
        what = "a file" if path.exists() else "missing"
        fail(f"{option} {path} is {what}: give an existing session data directory ({hint})")
    output_location(path, option, directory=True)
    return path


def database_target(text: str, option: str, *, create: bool) -> str:
    """A parameter history's SQLite file or database URL, as a URL, checked before anything runs: an
    empty value, an unknown scheme, a file that is no SQLite database, or a new file in a folder that
    is missing or not writable is refused. ``create``: the command may create the SQLite file."""
    from thunes.adapters.storage.errors import DatabaseOpenError
    from thunes.adapters.storage.sql_engine import check_url, is_sqlite_file

    if not text.strip():
        fail(f"{option} is empty: give a SQLite file or a database URL")
    if "://" in text:
        try:
            check_url(text)
        except DatabaseOpenError as e:
            fail(str(e))
        return text
    path = Path(text)
    if path.exists():
        if not is_sqlite_file(path):
            fail(f"{option} {path} is not a SQLite database")
    elif not create:
        fail(f"no parameter history at {path}; record one with `thunes params record`")
    else:
        if not path.parent.is_dir():
            fail(f"{option} {path}: the folder {path.parent} does not exist")
        output_location(path, option, directory=False)
    return f"sqlite:///{path}"


InitialCashOpt = Annotated[
    float | None,
    typer.Option(callback=finite(0, MAX_CASH), help="Starting quote balance (default: backtest.initial_cash)."),
]
FeeRateOpt = Annotated[
    float | None,
    typer.Option(
        callback=finite(0, 0.5, above=False), help="Fee per fill, a fraction of notional (default: backtest.fee_rate)."
    ),
]
WarmupOpt = Annotated[
    int | None,
    typer.Option(min=0, max=MAX_COUNT, help="Bars replayed before trading starts (default: backtest.warmup_bars)."),
]
StrategyOpt = Annotated[
    str | None,
    typer.Option(
        help="sma_cross, rsi_reversion, an installed strategy's name, module:Class or path/to/file.py:Class "
        "(default: strategy.name; see docs/strategy-api.md)."
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param", help="A user strategy's parameter, NAME=VALUE (repeat it; over the strategy.params setting)."
    ),
]

PairsOpt = Annotated[
    str | None,
    typer.Option(
        help="Portfolio on one account: SYMBOL[:STRATEGY],... e.g. BTCUSDT:sma_cross,ETHUSDT:rsi_reversion "
        "(a bare symbol takes --strategy; default: the config's [[portfolio]], else --symbol)."
    ),
]


def pairs_option(text: str | None) -> list[dict[str, str]] | None:
    """``--pairs`` as ``portfolio`` entries (None when not given); a malformed list ends as one error line."""
    if text is None:
        return None
    try:
        return parse_pairs(text)
    except ValueError as e:
        fail(str(e))
