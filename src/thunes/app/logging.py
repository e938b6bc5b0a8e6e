"""Structured logging (structlog) with secrets redacted before anything is rendered.

Why: logs are shipped, rotated and read by people who must never see an API key or a request signature, so
redaction is a processor in the chain, not a habit each caller has to remember. Other sinks (audit trail,
alerts) reuse ``redact_secrets`` and ``mask_text``.

Two sinks: the console (stderr, from ``console_level``: a session shows warnings only, over its live view)
and, while a session runs, a size-rotated JSON-lines file in its data directory (:func:`session_log`) that
keeps every line from the configured level, as the session's audit trail.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import structlog
from pydantic import SecretBytes, SecretStr
from structlog.typing import Processor

from thunes.adapters.storage.session_dir import LOG_DIR
from thunes.app.config import MASK, LoggingSettings

__all__ = [
    "LOG_DIR",
    "LOG_FILE",
    "MASK",
    "configure_logging",
    "is_sensitive_key",
    "mask_text",
    "redact_secrets",
    "redact_value",
    "session_log",
]

LOG_FILE = "thunes.jsonl"  # rotated to thunes.jsonl.1 ... .N (session_dir knows these names)

# Key names whose value is always hidden: ``api_secret``, ``X-MBX-APIKEY``, ``listen_token``, ``signature``...
_SENSITIVE_KEY = re.compile(r"secret|api[_-]?key|password|token|passphrase|signature", re.IGNORECASE)

# Secrets embedded in text: query strings (``...&signature=9f86d0``), header dumps (``'X-MBX-APIKEY': 'abc'``),
# ``password = "hunter2"`` in a traceback. Group 1 keeps the name and separator; the value is replaced.
_SECRET_PAIR = re.compile(
    r"(?i)(\b[\w-]*(?:secret|api[_-]?key|password|token|passphrase|signature)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,;}&]+"
)

_Container = Mapping[Any, Any] | list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any]

# Nesting beyond this is cut rather than walked: a self-referencing structure must not hang the logger.
_MAX_DEPTH = 16


def is_sensitive_key(key: object) -> bool:
    """Whether a field or header name marks its value as secret."""
    return _SENSITIVE_KEY.search(str(key)) is not None


def mask_text(text: str) -> str:
    """``text`` with signatures, API-key headers and ``secret=...`` pairs replaced by ``MASK``."""
    return _SECRET_PAIR.sub(rf"\g<1>{MASK}", text)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets masked, walking dicts, lists, tuples and sets."""
    if depth > _MAX_DEPTH:
        return "<too deep>"
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, BaseException):
        # Rendered later with repr(); an exception built from a signed URL carries the signature in its text.
        return mask_text(repr(value))
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return _redact_container(value, depth)
    return value


def _redact_container(value: _Container, depth: int) -> Any:
    """Each item redacted; a mapping's sensitive keys hide their whole value."""
    if isinstance(value, Mapping):
        return {key: _redact_item(key, item, depth + 1) for key, item in value.items()}
    items = [redact_value(item, depth + 1) for item in value]
    if isinstance(value, list):
        return items
    return tuple(items) if isinstance(value, tuple) else type(value)(items)


def _redact_item(key: object, value: Any, depth: int) -> Any:
    """The value under ``key``: hidden outright when the key is sensitive (``None`` and booleans say nothing)."""
    if is_sensitive_key(key) and value is not None and not isinstance(value, bool):
        return MASK
    return redact_value(value, depth)


def redact_secrets(_logger: Any, _method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret values in the event, in place, before any renderer sees them."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_item(key, value, 0)
    return event_dict


class _CurrentStderr:
    """``sys.stderr`` looked up at every write: a logger configured while stderr was temporarily
    replaced (a test runner, a redirect) must not keep writing into that closed replacement."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@dataclass(slots=True)
class _Sinks:
    """Where a rendered event goes: the console from ``console_level``, the session file from ``file_level``."""

    console_level: int
    file_level: int
    json_console: bool
    max_bytes: int
    backups: int
    file: logging.Handler | None = None


_SINKS = _Sinks(logging.INFO, logging.INFO, json_console=False, max_bytes=10 * 2**20, backups=5)
_KEY_VALUE = structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"], drop_missing=True)
_JSON = structlog.processors.JSONRenderer(default=str)


def _level(event_dict: MutableMapping[str, Any]) -> int:
    name = str(event_dict.get("level", "info")).upper()
    return logging.getLevelNamesMapping().get("WARNING" if name == "WARN" else name, logging.INFO)


def _dispatch(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
    """structlog renderer: a JSON line to the session file, and the console's line (or nothing)."""
    level = _level(event_dict)
    handler = _SINKS.file
    if handler is not None and level >= _SINKS.file_level:
        line = cast(str, _JSON(logger, method_name, dict(event_dict)))
        handler.handle(logging.makeLogRecord({"msg": line, "levelno": level, "levelname": logging.getLevelName(level)}))
    if level < _SINKS.console_level:
        raise structlog.DropEvent
    renderer = _JSON if _SINKS.json_console else _KEY_VALUE
    return cast(str, renderer(logger, method_name, event_dict))


@contextlib.contextmanager
def session_log(data_dir: Path) -> Iterator[Path]:
    """While the block runs, every line from the configured level also goes to ``data_dir/logs/thunes.jsonl``
    (JSON, secrets masked), rotated by size with a bounded count of old files."""
    directory = data_dir / LOG_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / LOG_FILE
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=_SINKS.max_bytes, backupCount=_SINKS.backups,
                                                   encoding="utf-8")  # fmt: skip
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous, _SINKS.file = _SINKS.file, handler
    try:
        yield path
    finally:
        _SINKS.file = previous
        handler.close()


def configure_logging(
    settings: LoggingSettings, *, stream: TextIO | None = None, console_level: str | None = None
) -> None:
    """Route structlog to ``stream`` (default stderr, keeping stdout for command output) at ``settings.level``.

    Each line carries an ISO UTC timestamp and the level; ``settings.json_output`` picks JSON lines over key=value.
    ``console_level`` raises the console's threshold (a session: ``WARNING``) while a session file
    (:func:`session_log`) keeps every line from ``settings.level``.
    Loggers are not cached, so calling this again (tests, reload) takes effect for existing loggers.
    """
    levels = logging.getLevelNamesMapping()
    lowest = levels[settings.level]
    _SINKS.file_level = lowest
    _SINKS.console_level = max(lowest, levels[console_level]) if console_level else lowest
    _SINKS.json_console = settings.json_output
    _SINKS.max_bytes, _SINKS.backups = settings.file_max_bytes, settings.file_backups
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,  # after the traceback is text, so it is masked too
        _dispatch,
    ]
    # ccxt logs every request's headers (the API key) and signed URL at DEBUG: never let it get there.
    logging.getLogger("ccxt").setLevel(logging.INFO)
    sink = stream if stream is not None else cast(TextIO, _CurrentStderr())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(lowest),
        logger_factory=structlog.PrintLoggerFactory(file=sink),
        cache_logger_on_first_use=False,
    )
