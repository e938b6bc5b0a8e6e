"""A small JSON Schema (2020-12 subset) validator for the control API's OpenAPI document.

``jsonschema`` is not a dependency of the project; this covers exactly the keywords the document
uses and refuses any other, so a schema it cannot judge fails the test instead of passing it.
"""

from __future__ import annotations

from typing import Any

_ANNOTATIONS = {"title", "description", "default", "format", "examples"}
_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def validate(value: Any, schema: dict[str, Any], document: dict[str, Any], where: str = "$") -> list[str]:
    """Every violation of ``schema`` by ``value`` (``$ref`` resolved in ``document``); [] when valid."""
    errors: list[str] = []
    for key, rule in schema.items():
        if key in _ANNOTATIONS or key in ("properties", "additionalProperties"):
            continue
        if key == "$ref":
            target: Any = document
            for part in rule.removeprefix("#/").split("/"):
                target = target[part]
            errors += validate(value, target, document, where)
        elif key == "type":
            kinds = rule if isinstance(rule, list) else [rule]
            if not any(_TYPES[k](value) for k in kinds):
                errors.append(f"{where}: {value!r} is not of type {rule}")
        elif key == "anyOf":
            if all(validate(value, option, document, where) for option in rule):
                errors.append(f"{where}: {value!r} matches none of {rule}")
        elif key == "enum":
            if value not in rule:
                errors.append(f"{where}: {value!r} not in {rule}")
        elif key == "const":
            if value != rule:
                errors.append(f"{where}: {value!r} != {rule!r}")
        elif key == "required":
            errors += [f"{where}: missing {name}" for name in rule if isinstance(value, dict) and name not in value]
        elif key == "items":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    errors += validate(item, rule, document, f"{where}[{i}]")
        elif key in ("minimum", "maximum", "minLength"):
            errors += _bound(key, rule, value, where)
        else:
            raise ValueError(f"schema keyword {key!r} is not supported by this checker")
    if isinstance(value, dict) and ("properties" in schema or "additionalProperties" in schema):
        errors += _object(value, schema, document, where)
    return errors


def _object(value: dict[str, Any], schema: dict[str, Any], document: dict[str, Any], where: str) -> list[str]:
    errors: list[str] = []
    properties = schema.get("properties", {})
    for name, item in value.items():
        if name in properties:
            errors += validate(item, properties[name], document, f"{where}.{name}")
        elif schema.get("additionalProperties") is False:
            errors.append(f"{where}: unexpected property {name}")
    return errors


def _bound(key: str, rule: int, value: Any, where: str) -> list[str]:
    if key == "minLength" and isinstance(value, str) and len(value) < rule:
        return [f"{where}: shorter than {rule}"]
    if key == "minimum" and isinstance(value, int | float) and value < rule:
        return [f"{where}: below {rule}"]
    if key == "maximum" and isinstance(value, int | float) and value > rule:
        return [f"{where}: above {rule}"]
    return []
