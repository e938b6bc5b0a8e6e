"""Structured logging (structlog) with secrets redacted before anything is rendered.

Why: logs are shipped, rotated and read by people who must never see an API key or a request signature, so
redaction is a processor in the chain, not a habit each caller has to remember. Other sinks (audit trail,
alerts) reuse ``redact_secrets`` and ``mask_text``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO, cast

import structlog
from pydantic import SecretBytes, SecretStr
from structlog.typing import Processor

from thunes.app.config import MASK, LoggingSettings

__all__ = ["MASK", "configure_logging", "is_sensitive_key", "mask_text", "redact_secrets", "redact_value"]

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


def configure_logging(settings: LoggingSettings, *, stream: TextIO | None = None) -> None:
    """Route structlog to ``stream`` (default stderr, keeping stdout for command output) at ``settings.level``.

    Each line carries an ISO UTC timestamp and the level; ``settings.json_output`` picks JSON lines over key=value.
    Loggers are not cached, so calling this again (tests, reload) takes effect for existing loggers.
    """
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=str)
        if settings.json_output
        else structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"], drop_missing=True)
    )
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,  # after the traceback is text, so it is masked too
        renderer,
    ]
    # ccxt logs every request's headers (the API key) and signed URL at DEBUG: never let it get there.
    logging.getLogger("ccxt").setLevel(logging.INFO)
    sink = stream if stream is not None else cast(TextIO, _CurrentStderr())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[settings.level]),
        logger_factory=structlog.PrintLoggerFactory(file=sink),
        cache_logger_on_first_use=False,
    )
