"""Every exception ccxt can raise maps to exactly one venue error kind, chosen on purpose.

Like httpx's tests/test_exceptions.py: the test walks the vendor's exception module, so a class
added by a ccxt upgrade fails here until the table in ``errors.py`` says what it means.
"""

from __future__ import annotations

import asyncio
import inspect

import aiohttp
import ccxt
import pytest
from ccxt.base import errors as ccxt_errors  # ``import ccxt.base.errors`` fails: ccxt.base is a list

from thunes.adapters.venues.binance.errors import (
    BINANCE_CODES,
    CCXT_ERRORS,
    DEFAULT_RETRY_DELAY_S,
    ErrorKind,
    attach_wire_detail,
    map_error,
)
from thunes.domain.venue import FatalVenueError, RejectedByVenueError, RetryableVenueError, VenueError

KINDS: dict[ErrorKind, type[VenueError]] = {
    ErrorKind.RETRYABLE: RetryableVenueError,
    ErrorKind.REJECTED: RejectedByVenueError,
    ErrorKind.FATAL: FatalVenueError,
}
VENDOR_CLASSES = sorted(
    (obj for obj in vars(ccxt_errors).values() if inspect.isclass(obj) and issubclass(obj, ccxt.BaseError)),
    key=lambda cls: cls.__name__,
)


def _kind_of(error: VenueError) -> list[ErrorKind]:
    return [kind for kind, cls in KINDS.items() if isinstance(error, cls)]


def test_table_when_compared_with_ccxt_errors_module_then_every_class_is_listed_and_none_is_stale() -> None:
    exported = {name for name in ccxt_errors.__all__ if inspect.isclass(getattr(ccxt_errors, name))}

    missing = sorted(cls.__name__ for cls in VENDOR_CLASSES if cls not in CCXT_ERRORS)
    stale = sorted(cls.__name__ for cls in CCXT_ERRORS if cls not in VENDOR_CLASSES)

    assert missing == [], f"ccxt classes with no deliberate mapping: {missing}"
    assert stale == [], f"table entries ccxt no longer exports: {stale}"
    assert exported == {cls.__name__ for cls in VENDOR_CLASSES}
    assert len(VENDOR_CLASSES) >= 40  # the walk really found ccxt's hierarchy


@pytest.mark.parametrize("vendor_class", VENDOR_CLASSES, ids=lambda cls: cls.__name__)
def test_map_error_when_any_ccxt_class_raised_then_exactly_the_tabled_kind(vendor_class: type[Exception]) -> None:
    error = vendor_class("binance something went wrong")

    mapped = map_error(error)

    assert _kind_of(mapped) == [CCXT_ERRORS[vendor_class]]
    assert str(mapped).startswith(vendor_class.__name__)


@pytest.mark.parametrize(
    ("vendor_class", "kind"),
    [
        (ccxt.RequestTimeout, ErrorKind.RETRYABLE),
        (ccxt.ExchangeNotAvailable, ErrorKind.RETRYABLE),
        (ccxt.DDoSProtection, ErrorKind.RETRYABLE),
        (ccxt.RateLimitExceeded, ErrorKind.RETRYABLE),
        (ccxt.InvalidNonce, ErrorKind.RETRYABLE),
        (ccxt.OperationFailed, ErrorKind.RETRYABLE),
        (ccxt.InvalidOrder, ErrorKind.REJECTED),
        (ccxt.InsufficientFunds, ErrorKind.REJECTED),
        (ccxt.OrderNotFound, ErrorKind.REJECTED),
        (ccxt.BadRequest, ErrorKind.REJECTED),
        (ccxt.BadSymbol, ErrorKind.REJECTED),
        (ccxt.AuthenticationError, ErrorKind.FATAL),
        (ccxt.PermissionDenied, ErrorKind.FATAL),
        (ccxt.AccountSuspended, ErrorKind.FATAL),
        (ccxt.NotSupported, ErrorKind.FATAL),
    ],
)
def test_table_when_read_then_the_families_the_engine_relies_on_are_as_specified(
    vendor_class: type[Exception], kind: ErrorKind
) -> None:
    assert CCXT_ERRORS[vendor_class] is kind


def test_map_error_when_message_carries_binance_code_then_code_kept() -> None:
    error = ccxt.BadRequest('binance {"code":-1013,"msg":"Filter failure: NOTIONAL"}')

    mapped = map_error(error)

    assert isinstance(mapped, RejectedByVenueError)
    assert mapped.code == -1013


def test_map_error_when_ccxt_message_lacks_code_then_code_read_from_response_body() -> None:
    error = ccxt.InsufficientFunds("binance Account has insufficient balance for requested action.")
    attach_wire_detail(error, 400, {}, '{"code":-2010,"msg":"Account has insufficient balance for requested action."}')

    mapped = map_error(error)

    assert isinstance(mapped, RejectedByVenueError)
    assert mapped.code == -2010


@pytest.mark.parametrize(
    ("code", "kind"),
    [(-1022, ErrorKind.FATAL), (-2015, ErrorKind.FATAL), (-1021, ErrorKind.RETRYABLE), (-1001, ErrorKind.RETRYABLE)],
)
def test_map_error_when_binance_code_known_then_it_wins_over_ccxt_url_dependent_class(
    code: int, kind: ErrorKind
) -> None:
    error = ccxt.BadRequest(f'binance {{"code":{code},"msg":"x"}}')  # ccxt's class for a local or spot URL

    mapped = map_error(error)

    assert _kind_of(mapped) == [kind]
    assert mapped.code == code
    assert set(BINANCE_CODES) >= {code}


def test_map_error_when_429_with_retry_after_then_delay_is_retry_after() -> None:
    error = ccxt.DDoSProtection('binance 429 Too Many Requests {"code":-1003,"msg":"Too many requests"}')
    attach_wire_detail(error, 429, {"retry-after": "7"}, '{"code":-1003,"msg":"Too many requests"}')

    mapped = map_error(error)

    assert isinstance(mapped, RetryableVenueError)
    assert mapped.delay_s == 7.0
    assert mapped.code == -1003


def test_map_error_when_clock_skew_then_retry_at_once_after_resync() -> None:
    mapped = map_error(ccxt.InvalidNonce('binance {"code":-1021,"msg":"Timestamp for this request is outside"}'))

    assert isinstance(mapped, RetryableVenueError)
    assert mapped.delay_s == 0.0


def test_map_error_when_no_retry_after_then_default_delay() -> None:
    mapped = map_error(ccxt.RequestTimeout("binance GET http://127.0.0.1/api/v3/time request timeout"))

    assert isinstance(mapped, RetryableVenueError)
    assert mapped.delay_s == DEFAULT_RETRY_DELAY_S
    assert mapped.code is None


@pytest.mark.parametrize(
    "leak",
    [
        asyncio.TimeoutError(),  # noqa: UP041 - the name ccxt's code raises; the builtin since 3.11
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientConnectionError("reset"),
        ConnectionResetError(104, "reset by peer"),
        OSError("network unreachable"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_map_error_when_transport_error_leaks_past_ccxt_then_retryable(leak: BaseException) -> None:
    assert isinstance(map_error(leak), RetryableVenueError)


def test_map_error_when_ccxt_fails_while_handling_its_own_error_then_the_handled_error_decides() -> None:
    try:
        try:
            raise ccxt.AuthenticationError('binance {"code": -1022, "msg": "Signature for this request is not valid."}')
        except ccxt.AuthenticationError:
            raise KeyError("spot")  # noqa: B904 - what ccxt 4.5.90 does in its user-data subscribe
    except KeyError as e:
        leaked = e

    mapped = map_error(leaked)

    assert isinstance(mapped, FatalVenueError)
    assert mapped.code == -1022
    assert str(mapped).startswith("AuthenticationError")


def test_map_error_when_unknown_exception_then_fatal_not_retried() -> None:
    assert isinstance(map_error(ValueError("surprise")), FatalVenueError)


def test_map_error_when_already_a_venue_error_then_unchanged() -> None:
    original = RejectedByVenueError("refused", -2010)

    assert map_error(original) is original
