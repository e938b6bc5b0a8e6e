"""Binance spot error codes and messages, exactly as ``errors.md`` words them.

The simulated venue raises :class:`VenueError`; the server turns it into Binance's JSON error body
``{"code": -2010, "msg": "..."}``, so a client sees what the real exchange would send.
"""

from __future__ import annotations

__all__ = [
    "DUPLICATE_ORDER",
    "EITHER_ID",
    "INSUFFICIENT_BALANCE",
    "NO_LIQUIDITY",
    "QTY_OR_QUOTE",
    "UNKNOWN_ORDER",
    "WOULD_TAKE",
    "VenueError",
    "bad_precision",
    "bad_symbol",
    "cancel_rejected",
    "filter_failure",
    "illegal_chars",
    "mandatory",
    "new_order_rejected",
    "no_such_order",
    "not_required",
]

INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
DUPLICATE_ORDER = "Duplicate order sent."
UNKNOWN_ORDER = "Unknown order sent."
WOULD_TAKE = "Order would immediately match and take."
NO_LIQUIDITY = "Order book liquidity is less than symbol minimum quantity."
QTY_OR_QUOTE = "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
EITHER_ID = "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"


class VenueError(Exception):
    """A Binance API error: ``code`` (negative) and ``msg``, with the HTTP status to answer with."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def as_json(self) -> dict[str, int | str]:
        return {"code": self.code, "msg": self.msg}


def bad_symbol() -> VenueError:
    return VenueError(-1121, "Invalid symbol.")


def illegal_chars(param: str, legal: str) -> VenueError:
    return VenueError(-1100, f"Illegal characters found in parameter '{param}'; legal range is '{legal}'.")


def mandatory(param: str) -> VenueError:
    return VenueError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


def not_required(param: str) -> VenueError:
    return VenueError(-1106, f"Parameter '{param}' sent when not required.")


def bad_precision(param: str) -> VenueError:
    return VenueError(-1111, f"Parameter '{param}' has too much precision.")


def filter_failure(name: str) -> VenueError:
    return VenueError(-1013, f"Filter failure: {name}")


def new_order_rejected(msg: str) -> VenueError:
    return VenueError(-2010, msg)


def cancel_rejected(msg: str = UNKNOWN_ORDER) -> VenueError:
    return VenueError(-2011, msg)


def no_such_order() -> VenueError:
    return VenueError(-2013, "Order does not exist.")
