"""The control API's routes, declared once, and the OpenAPI 3.1 document generated from them.

The server registers exactly :data:`ROUTES` and the schema describes exactly :data:`ROUTES`, with
bodies taken from the pydantic models, so the published contract is the served one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from thunes.adapters.control.models import (
    ControlResult,
    ErrorBody,
    KillSwitchOffRequest,
    KillSwitchOnRequest,
    OrdersBody,
    PortfolioBody,
    PositionsBody,
    StatusBody,
    StopEntryRequest,
)

__all__ = ["ROUTES", "QueryParam", "Route", "openapi_schema"]

_REF = "#/components/schemas/{model}"
_DESCRIPTION = (
    "Operate a running trader. State changes go through the session's control file and are applied "
    "between candles, like `thunes kill-switch`."
)
_Refs = Mapping[Any, dict[str, Any]]  # (model, mode) -> its $ref


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True, slots=True)
class Route:
    """One operation. ``response`` None: a free-form JSON object (the schema document itself)."""

    method: str
    path: str
    operation_id: str
    summary: str
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    body_required: bool = False
    query: tuple[QueryParam, ...] = ()
    accepted: bool = False  # may answer 202: posted, not applied yet
    errors: tuple[int, ...] = field(default=(401,))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/status", "getStatus", "Risk state, ledger and progress of the running trader.", StatusBody),
    Route("GET", "/positions", "getPositions", "Positions held, from the trader's book.", PositionsBody),
    Route(
        "GET",
        "/portfolio",
        "getPortfolio",
        "The account in the quote currency: each symbol's position, price, exposure and PnL; cash and equity.",
        PortfolioBody,
    ),
    Route(
        "GET",
        "/orders",
        "getOrders",
        "Newest orders as the venue last reported them.",
        OrdersBody,
        query=(
            QueryParam("open", {"type": "boolean", "default": False}, "Only open orders."),
            QueryParam(
                "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}, "At most this many."
            ),
        ),
        errors=(400, 401),
    ),
    Route(
        "POST",
        "/kill-switch/on",
        "killSwitchOn",
        "Turn the kill-switch on (REDUCING: exits only).",
        ControlResult,
        KillSwitchOnRequest,
        accepted=True,
        errors=(400, 401),
    ),
    Route(
        "POST",
        "/kill-switch/off",
        "killSwitchOff",
        "Turn the kill-switch off; only a named person may.",
        ControlResult,
        KillSwitchOffRequest,
        body_required=True,
        accepted=True,
        errors=(400, 401),
    ),
    Route(
        "POST",
        "/stop-entry",
        "stopEntry",
        "No new entries: the kill-switch on, exits still allowed.",
        ControlResult,
        StopEntryRequest,
        accepted=True,
        errors=(400, 401),
    ),
    Route("GET", "/openapi.json", "getOpenApi", "This document.", None),
)


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _operation(route: Route, refs: _Refs) -> dict[str, Any]:
    error = {"description": "", "content": _json(refs[(ErrorBody, "serialization")])}
    ok = {"type": "object"} if route.response is None else refs[(route.response, "serialization")]
    responses: dict[str, Any] = {
        "200": {"description": "OK" if not route.accepted else "Applied", "content": _json(ok)}
    }
    if route.accepted:
        responses["202"] = {"description": "Posted; the trader applies it between candles", "content": _json(ok)}
    texts = {400: "Invalid request", 401: "Missing or wrong bearer token"}
    for status in route.errors:
        responses[str(status)] = {**error, "description": texts[status]}
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "responses": responses}
    if route.query:
        operation["parameters"] = [
            {"name": q.name, "in": "query", "required": False, "description": q.description, "schema": q.schema}
            for q in route.query
        ]
    if route.body is not None:
        body = refs[(route.body, "validation")]
        operation["requestBody"] = {"required": route.body_required, "content": _json(body)}
    return operation


def openapi_schema(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`ROUTES` (every operation needs the bearer token)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for route in ROUTES:
        if route.response is not None:
            models.append((route.response, "serialization"))
        if route.body is not None:
            models.append((route.body, "validation"))
    refs, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "THUNES control API", "version": version, "description": _DESCRIPTION},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": definitions.get("$defs", {}),
        },
    }
