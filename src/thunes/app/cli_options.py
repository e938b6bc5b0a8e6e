"""Settings for a command from its config file and the options the user gave: one place, so every
command treats an omitted option (``None``) the same way and reports a bad setting in one line."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from thunes.adapters.datastore.errors import DataFileError
from thunes.app.config import ConfigError, Settings, load_settings
from thunes.app.errors import fail
from thunes.app.logging import configure_logging
from thunes.domain.exchange_info import ExchangeInfoError
from thunes.features.ohlcv import OHLCVError

__all__ = ["asset", "input_errors", "settings_from_options"]

MAX_ASSET_LENGTH = 20


def settings_from_options(config: Path | None, options: Mapping[str, Mapping[str, Any]]) -> Settings:
    """``options`` is ``{section: {field: value or None}}``; only the values given override."""
    given = {section: {k: v for k, v in values.items() if v is not None} for section, values in options.items()}
    try:
        settings = load_settings(config, overrides={k: v for k, v in given.items() if v})
    except ConfigError as e:
        fail(str(e))
    configure_logging(settings.logging)
    return settings


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
