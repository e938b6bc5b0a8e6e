"""Performance tricks applied at the process's entry points, not in the types they speed up.

:func:`quick_init` gives a frozen, slotted dataclass a faster ``__init__``: ``@dataclass(frozen=True)``
makes one that stores each field through ``object.__setattr__`` (looked up, then called, field by
field), about 0.1 µs a field; the rebuilt one stores each field through its slot's own descriptor,
bound once. The object is the same (still frozen: assignment raises ``FrozenInstanceError``), its
parameters, defaults, default factories and ``__post_init__`` too; a class it cannot rebuild exactly
(``InitVar``, ``kw_only``, ``init=False``) is refused.

:func:`install` applies it to the values an order builds on its way through
sizing, risk, filters, the order manager, the venue's matching and the ledger (some twenty objects
an order). The types themselves stay plain dataclasses, and code that never calls :func:`install` (a
library user, most tests) gets exactly them. Measured with ``bench/profile_orders.py 300000`` (CPU,
best of three, two alternated runs each): 149 and 161 µs an order with it, 177 and 167 without.
``thunes`` (``app.cli.main``) and the bench's processes call it beside ``gc.freeze``.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

__all__ = ["install", "quick_init"]

T = TypeVar("T")


class _Missing:
    """The default of a parameter whose field has a default factory (called when it is not given)."""

    def __repr__(self) -> str:
        return "<factory>"


_MISSING = _Missing()


def quick_init(cls: type[T]) -> type[T]:
    """Give ``cls`` (a ``@dataclass(frozen=True, slots=True)``) the faster ``__init__``; put it above
    the ``@dataclass`` line."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick_init takes a @dataclass(frozen=True, slots=True) class")
    namespace: dict[str, Any] = {"_MISSING": _MISSING}
    arguments, body = [], []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # a dataclass, checked above
        if not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: quick_init rebuilds positional init fields only")
        name = f.name
        namespace[f"_set_{name}"] = getattr(cls, name).__set__  # the slot's descriptor (a base's, if inherited)
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = f.default
            arguments.append(f"{name}=_default_{name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = f.default_factory
            arguments.append(f"{name}=_MISSING")
            body.append(f"    if {name} is _MISSING:\n        {name} = _factory_{name}()")
        else:
            arguments.append(name)
        body.append(f"    _set_{name}(self, {name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - generated from the class's own fields, as dataclasses does
    init = namespace["__init__"]
    if _shape(init) != _shape(cls.__init__):  # e.g. an InitVar: a parameter that is not a field
        raise TypeError(f"{cls.__name__}: quick_init cannot rebuild this __init__ exactly")
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    type.__setattr__(cls, "__init__", init)
    return cls


def _shape(init: Any) -> list[tuple[str, Any, bool]]:
    """Each parameter's name, kind and whether it has a default: what callers can see of an ``__init__``."""
    return [(p.name, p.kind, p.default is not p.empty) for p in inspect.signature(init).parameters.values()]


def _hot_classes() -> tuple[type, ...]:
    from thunes.domain.market import Bar
    from thunes.domain.messages import ExitRetrying, OrderAccepted, OrderDenied, OrderFilled, OrderSubmitted
    from thunes.domain.orders import Fill, OrderRequest
    from thunes.domain.position import Position
    from thunes.domain.rules import MarketContext, ValidationResult
    from thunes.domain.sizing import EntrySize
    from thunes.domain.venue import OrderReport
    from thunes.execution.ports import JournalEntry
    from thunes.risk.decision import RiskDecision, RiskIntent
    from thunes.risk.ledger import FillEffect
    from thunes.risk.rules import CheckContext, Denial
    from thunes.risk.state import Reservation, RiskSnapshot
    from thunes.simvenue.validation import OrderParams

    return (Bar, OrderDenied, OrderSubmitted, OrderAccepted, OrderFilled, ExitRetrying, MarketContext,
            ValidationResult, OrderReport, EntrySize, OrderRequest, Fill, Position, JournalEntry, RiskIntent,
            RiskDecision, FillEffect, Denial, CheckContext, Reservation, RiskSnapshot, OrderParams)  # fmt: skip


_installed: list[type] = []  # the classes install() gave the faster __init__ (once per process)


def install() -> tuple[type, ...]:
    """Give every class an order builds :func:`quick_init`'s ``__init__``; the classes sped up."""
    if not _installed:
        classes = _hot_classes()
        for cls in classes:
            quick_init(cls)
        _installed.extend(classes)
    return tuple(_installed)
