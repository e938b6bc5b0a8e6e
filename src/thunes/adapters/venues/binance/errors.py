"""Every failure ccxt can raise, mapped once to the project's three venue errors.

Why one table: the engine decides what to do from the *kind* of a failure (retry after a delay,
record a rejection, stop and alert), never from a vendor class. ``CCXT_ERRORS`` names every class
``ccxt.base.errors`` exports, each with a deliberate kind; a test walks that module, so a class
added by a ccxt upgrade fails the build until someone decides what it means.

Binance's own error code wins over ccxt's class when the response carried one: ccxt picks its
class by URL (the live spot host and a local venue get different tables, e.g. -1022 is
``BadRequest`` on one and ``AuthenticationError`` on the other), while the code means the same
everywhere (``errors.md``). The code is kept on the mapped error either way, e.g. -1013 or -2010.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
import ccxt

from thunes.domain.venue import FatalVenueError, RejectedByVenueError, RetryableVenueError, VenueError

__all__ = [
    "BINANCE_CODES",
    "CCXT_ERRORS",
    "DEFAULT_RETRY_DELAY_S",
    "ErrorKind",
    "WireDetail",
    "attach_wire_detail",
    "map_error",
]

DEFAULT_RETRY_DELAY_S = 1.0
_MAINTENANCE_DELAY_S = 60.0
_WIRE_ATTRIBUTE = "_thunes_wire"
_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')


class ErrorKind(StrEnum):
    """What the caller must do: retry (the outcome of a write is unknown), record a refusal, or stop."""

    RETRYABLE = "retryable"
    REJECTED = "rejected"
    FATAL = "fatal"


R, J, F = ErrorKind.RETRYABLE, ErrorKind.REJECTED, ErrorKind.FATAL

# Every class in ccxt.base.errors. Lookup walks the raised exception's MRO, so the first listed
# ancestor decides; the test requires each exported class to be listed here itself.
CCXT_ERRORS: Mapping[type[BaseException], ErrorKind] = {
    ccxt.BaseError: F,  # unclassified by ccxt: do not guess, stop and let a person look
    ccxt.ExchangeError: J,  # the venue answered with an error ccxt does not classify: a refusal
    ccxt.AuthenticationError: F,  # bad key or signature (-1022, -2014, -2015)
    ccxt.PermissionDenied: F,  # the key may not trade
    ccxt.AccountNotEnabled: F,
    ccxt.AccountSuspended: F,
    ccxt.ArgumentsRequired: F,  # raised by ccxt before sending: our adapter called it wrongly
    ccxt.BadRequest: J,  # -11xx parameter errors and ccxt's -1013: this request, not the session
    ccxt.BadSymbol: J,  # -1121 unknown symbol
    ccxt.OperationRejected: J,
    ccxt.NoChange: J,
    ccxt.MarginModeAlreadySet: J,
    ccxt.MarketClosed: J,  # symbol halted or in break: this order is refused
    ccxt.ManualInteractionNeeded: F,  # literally: a person must act
    ccxt.RestrictedLocation: F,
    ccxt.InsufficientFunds: J,  # -2010 "insufficient balance"
    ccxt.InvalidAddress: J,
    ccxt.AddressPending: R,  # the venue is still creating the address: ask again later
    ccxt.InvalidOrder: J,  # -2010 NEW_ORDER_REJECTED, filter failures
    ccxt.OrderNotFound: J,  # -2011, -2013: an answer about the order, not a fault
    ccxt.OrderNotCached: J,
    ccxt.OrderImmediatelyFillable: J,  # LIMIT_MAKER that would take
    ccxt.OrderNotFillable: J,
    ccxt.DuplicateOrderId: J,  # the id is taken: look the order up instead of resending
    ccxt.ContractUnavailable: J,
    ccxt.NotSupported: F,  # a configuration that cannot work
    ccxt.InvalidProxySettings: F,
    ccxt.ExchangeClosedByUser: F,  # used after close(): a bug in the caller's lifecycle
    ccxt.OperationFailed: R,  # -1000/-1001/-1006: the venue failed, try again
    ccxt.NetworkError: R,  # connection refused, reset, dropped answer
    ccxt.DDoSProtection: R,  # 418/429: wait for Retry-After
    ccxt.RateLimitExceeded: R,  # -1003/-1015: wait for Retry-After
    ccxt.ExchangeNotAvailable: R,  # 5xx, unreachable
    ccxt.OnMaintenance: R,  # wait longer (see _delay)
    ccxt.InvalidNonce: R,  # -1021 clock skew: retry after the client resyncs its time offset
    ccxt.ChecksumError: R,  # order-book checksum mismatch: resubscribe
    ccxt.RequestTimeout: R,  # no answer in time: a write's outcome is unknown, look it up
    ccxt.BadResponse: R,  # unparseable answer: same as no answer
    ccxt.NullResponse: R,
    ccxt.CancelPending: R,  # the cancel is in flight: look again
    ccxt.UnsubscribeError: R,  # a WebSocket unsubscribe failed: reconnecting clears it
}

# Binance codes whose meaning must not depend on ccxt's URL-dependent tables (errors.md).
BINANCE_CODES: Mapping[int, ErrorKind] = {
    -1000: R,  # UNKNOWN
    -1001: R,  # DISCONNECTED: internal error, try again
    -1003: R,  # TOO_MANY_REQUESTS
    -1006: R,  # UNEXPECTED_RESP: execution status unknown
    -1007: R,  # TIMEOUT: execution status unknown
    -1008: R,  # SERVER_BUSY
    -1015: R,  # TOO_MANY_ORDERS
    -1021: R,  # INVALID_TIMESTAMP: resync the clock offset, then retry
    -1002: F,  # UNAUTHORIZED
    -1022: F,  # INVALID_SIGNATURE: wrong secret
    -2014: F,  # BAD_API_KEY_FMT
    -2015: F,  # REJECTED_MBX_KEY: invalid key, IP or permissions
}

# Leaks past ccxt seen in its WebSocket and session code: treated as the network failures they are.
# (``asyncio.TimeoutError`` is the builtin ``TimeoutError`` since Python 3.11.)
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, aiohttp.ClientError, OSError)

_RESULT: Mapping[ErrorKind, type[VenueError]] = {R: RetryableVenueError, J: RejectedByVenueError, F: FatalVenueError}


@dataclass(frozen=True, slots=True)
class WireDetail:
    """What the HTTP answer said, kept on the ccxt exception (ccxt drops the body and headers)."""

    http_status: int
    body: str
    retry_after_s: float | None


def attach_wire_detail(error: BaseException, http_status: int, headers: Mapping[str, str] | None, body: str) -> None:
    """Remember the response behind ``error`` so :func:`map_error` can read its code and Retry-After."""
    retry_after: float | None = None
    raw = None
    if headers:
        raw = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    if raw is not None:
        try:
            retry_after = float(raw)
        except ValueError:
            retry_after = None  # an HTTP-date: rare on Binance; fall back to the default delay
    setattr(error, _WIRE_ATTRIBUTE, WireDetail(http_status, body or "", retry_after))


def _wire(error: BaseException) -> WireDetail | None:
    detail = getattr(error, _WIRE_ATTRIBUTE, None)
    return detail if isinstance(detail, WireDetail) else None


def _binance_code(error: BaseException, wire: WireDetail | None) -> int | None:
    for text in (wire.body if wire else "", str(error)):
        found = _CODE.search(text)
        if found:
            return int(found.group(1))
    return None


def _known(error: BaseException) -> bool:
    return isinstance(error, (ccxt.BaseError, *_TRANSPORT_ERRORS))


def _vendor_cause(error: BaseException) -> BaseException:
    """The ccxt error behind an unexpected one raised while ccxt handled it.

    ccxt's own error paths sometimes fail on the way out: 4.5.90's user-data subscribe deletes a
    subscription twice and raises ``KeyError('spot')`` while handling the real
    ``AuthenticationError``. The failure that means something is the one being handled.
    """
    seen, current = 0, error
    while not _known(current) and seen < 8:
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            return error
        current, seen = nxt, seen + 1
    return current if _known(current) else error


def _kind(error: BaseException, code: int | None) -> ErrorKind:
    if code is not None and code in BINANCE_CODES:
        return BINANCE_CODES[code]
    for cls in type(error).__mro__:
        if cls in CCXT_ERRORS:
            return CCXT_ERRORS[cls]
    if isinstance(error, _TRANSPORT_ERRORS):
        return R
    return F  # not a venue failure we know: stop rather than retry blindly


def _delay(error: BaseException, code: int | None, wire: WireDetail | None) -> float:
    if wire is not None and wire.retry_after_s is not None:
        return wire.retry_after_s
    if isinstance(error, ccxt.InvalidNonce) or code == -1021:
        return 0.0  # nothing to wait for once the offset is resynced
    if isinstance(error, ccxt.OnMaintenance):
        return _MAINTENANCE_DELAY_S
    return DEFAULT_RETRY_DELAY_S


def map_error(error: BaseException) -> VenueError:
    """The one project error for ``error`` (raise it ``from error``).

    Accepts anything a ccxt call can raise, including the ``asyncio.TimeoutError``, aiohttp and
    ``OSError`` leaks of its transport. Unknown exception types map to fatal: retrying a failure
    nobody classified could place an order twice.
    """
    if isinstance(error, VenueError):
        return error
    error = _vendor_cause(error)
    wire = _wire(error)
    code = _binance_code(error, wire)
    kind = _kind(error, code)
    message = f"{type(error).__name__}: {error}".strip()
    if kind is R:
        return RetryableVenueError(message, code, _delay(error, code, wire))
    return _RESULT[kind](message, code)
