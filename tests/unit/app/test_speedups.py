"""quick_init builds the very object ``@dataclass(frozen=True, slots=True)`` builds, or refuses the class."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, InitVar, dataclass, field
from typing import Any

import pytest

from thunes.app.speedups import install, quick_init
from thunes.domain.enums import OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import Fill, OrderRequest


@dataclass(frozen=True, slots=True)
class _Base:
    ts_ns: int
    venue: str


def _make() -> type[Any]:
    """A fresh class each call: one left as dataclass made it, one given quick_init, otherwise twins."""

    @dataclass(frozen=True, slots=True)
    class Order(_Base):
        quantity: int
        tags: list[str] = field(default_factory=list)
        note: str = "none"

        def __post_init__(self) -> None:
            if self.quantity < 0:
                raise ValueError("quantity must be >= 0")

    return Order


_Plain, _Quick = _make(), quick_init(_make())


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, "sim", 5), {}), ((1, "sim", 5, ["a"]), {}), ((1,), {"venue": "x", "quantity": 0, "note": "n"})],
)
def test_quick_init_when_called_as_the_dataclass_init_is_then_the_same_fields(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    quick, plain = _Quick(*args, **kwargs), _Plain(*args, **kwargs)  # type: ignore[arg-type]

    assert dataclasses.asdict(quick) == dataclasses.asdict(plain)
    assert repr(quick) == repr(plain)
    assert quick == _Quick(*args, **kwargs)  # type: ignore[arg-type]


def test_quick_init_when_a_field_is_assigned_then_frozen_as_before() -> None:
    quick = _Quick(1, "sim", 5)
    with pytest.raises(FrozenInstanceError):
        quick.quantity = 6  # type: ignore[misc]


def test_quick_init_when_the_factory_field_is_omitted_then_each_object_gets_its_own() -> None:
    first, second = _Quick(1, "sim", 5), _Quick(1, "sim", 5)

    assert first.tags == [] and first.tags is not second.tags


def test_quick_init_when_post_init_refuses_then_the_error_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="quantity must be >= 0"):
        _Quick(1, "sim", -1)


def test_quick_init_when_arguments_are_wrong_then_type_error_as_before() -> None:
    with pytest.raises(TypeError):
        _Quick(1, "sim")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Quick(1, "sim", 5, [], "n", "extra")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Quick(1, "sim", 5, color="red")  # type: ignore[call-arg]


def test_quick_init_when_the_class_cannot_be_rebuilt_exactly_then_refused() -> None:
    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        scale: InitVar[int] = 1

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    for cls in (WithInitVar, KeywordOnly, NotFrozen):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)


def test_quick_init_when_on_engine_classes_then_validation_still_runs() -> None:
    """OrderRequest and Fill take quick_init: their own checks must still refuse bad values."""
    assert OrderRequest.__init__.__qualname__ == "OrderRequest.__init__"
    assert Fill.__init__.__qualname__ == "Fill.__init__"
    with pytest.raises(ValueError, match="exactly one of quantity and quote_quantity"):
        OrderRequest(ClientOrderId("c1"), Symbol("BTCUSDT"), Side.BUY, OrderType.MARKET)  # neither quantity


def test_install_when_called_then_every_hot_class_has_the_generated_init_and_still_checks() -> None:
    classes = install()
    inits = [cls.__init__ for cls in classes]

    again = install()

    assert {OrderRequest, Fill} <= set(classes) and again == classes  # once per process
    assert [cls.__init__ for cls in again] == inits
    assert all(init.__code__.co_filename == "<string>" for init in inits)  # quick_init's, not dataclasses'
    with pytest.raises(ValueError, match="exactly one of quantity and quote_quantity"):
        OrderRequest(ClientOrderId("c1"), Symbol("BTCUSDT"), Side.BUY, OrderType.MARKET)
