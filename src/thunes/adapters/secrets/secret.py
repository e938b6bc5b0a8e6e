"""``Secret``: a text value that never shows itself.

Why a type and not a habit: an API key passes through settings, providers, log calls and error
messages on its way to the one place that signs a request. Every way Python turns an object into
text (``repr``, ``str``, f-strings and ``format``, ``json.dumps(default=str)``, structlog's
renderers, ``rich``) and pickling yield ``***``; only :meth:`Secret.reveal` returns the value, and
it is called where the key is used, nowhere else.
"""

from __future__ import annotations

import hmac
from typing import Any, Final, final

__all__ = ["HIDDEN", "Secret"]

HIDDEN: Final = "***"


@final
class Secret:
    """An immutable secret string; compare with ``==`` (constant time), read with :meth:`reveal`.

    Pickling keeps the mask, not the value: a ``Secret`` sent to another process or written to a
    cache arrives as ``***`` (ask the provider again there). Copies keep the value.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds text, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The value itself: call it only where the key is used (signing, a request header)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{HIDDEN}')"

    def __str__(self) -> str:
        return HIDDEN

    def __format__(self, format_spec: str) -> str:
        return format(HIDDEN, format_spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]  # a hash of the value would be a way to test guesses

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a Secret is immutable")

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (HIDDEN,))

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self
