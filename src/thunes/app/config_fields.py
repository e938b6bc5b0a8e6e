"""Domain identifiers as settings field types: a malformed symbol or venue id fails when the
settings load, not at the venue, and consumers get a ``Symbol`` or ``VenueId``."""

from __future__ import annotations

from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from thunes.domain.identifiers import Symbol, VenueId

__all__ = ["SymbolField", "VenueIdField"]


def _validator_for(kind: type[Symbol] | type[VenueId]) -> PlainValidator:
    def validate(value: object) -> Symbol | VenueId:
        if not isinstance(value, str):
            raise ValueError(f"{kind.kind} must be a string")  # pydantic reports a ValueError against the key
        return kind(value)

    return PlainValidator(validate)


SymbolField = Annotated[
    Symbol,
    _validator_for(Symbol),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": Symbol.pattern.pattern}),
]
VenueIdField = Annotated[
    VenueId,
    _validator_for(VenueId),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": VenueId.pattern.pattern}),
]
