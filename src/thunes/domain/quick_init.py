"""A faster ``__init__`` for the frozen, slotted dataclasses the engine builds on every order.

``@dataclass(frozen=True)`` makes an ``__init__`` that stores each field through ``object.__setattr__``
(looked up, then called, field by field): about 0.1 µs a field, and an order builds some 20 such
objects, 160 fields in all. :func:`quick_init` rebuilds that ``__init__`` to store each field through
its slot's own descriptor, bound once. The object is the same (still frozen: assignment raises
``FrozenInstanceError``), its parameters, defaults, default factories and ``__post_init__`` too; a
class it cannot rebuild exactly (``InitVar``, ``kw_only``, ``init=False``) is refused at import.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["quick_init", "without_post_init"]

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


def without_post_init(cls: type[T]) -> Callable[..., T]:
    """A constructor of ``cls`` (a :func:`quick_init` class) taking every field positionally and skipping
    ``__post_init__``: for values whose checks already ran in bulk (``TickBars`` checks every candle
    once; building each ``Bar`` it hands out checked it again). The object is the same otherwise."""
    if "__post_init__" not in cls.__dict__ or not getattr(cls.__init__, "__qualname__", "").endswith(".__init__"):
        raise TypeError(f"{cls.__name__}: without_post_init takes a quick_init class with a __post_init__")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]  # a dataclass
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    namespace.update({f"_set_{name}": getattr(cls, name).__set__ for name in names})
    body = "".join(f"    _set_{name}(self, {name})\n" for name in names)
    exec(f"def make({', '.join(names)}):\n    self = _new(_cls)\n{body}    return self\n", namespace)  # noqa: S102
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"{cls.__qualname__} without_post_init"
    return make


def _shape(init: Any) -> list[tuple[str, Any, bool]]:
    """Each parameter's name, kind and whether it has a default: what callers can see of an ``__init__``."""
    return [(p.name, p.kind, p.default is not p.empty) for p in inspect.signature(init).parameters.values()]
