"""The control API over a real socket: the token on every route, the OpenAPI document matching the
served routes both ways, and every answer valid against that document."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tests.integration.control.schema_check import validate
from thunes.adapters.control import (
    ROUTES,
    ControlEndpointError,
    ControlResult,
    ControlServer,
    KillSwitchView,
    OperatorAction,
    OrdersBody,
    OrderView,
    PortfolioBody,
    PortfolioLine,
    PositionsBody,
    PositionView,
    PriceSource,
    StatusBody,
    ViewSource,
    build_app,
    openapi_schema,
)
from thunes.control.session_control import check_person

TOKEN = "a-test-token-of-32-characters-xx"


class Backend:
    """Canned reads; requests recorded and judged by the session's own rule for ``by``."""

    def __init__(self, applied: bool = True) -> None:
        self.applied = applied
        self.requests: list[tuple[OperatorAction, str, str]] = []
        self.kill_switch = False

    def status(self) -> StatusBody:
        switch = KillSwitchView(active=self.kill_switch, by="ops" if self.kill_switch else "", reason="", since_ns=None)
        return StatusBody(symbol="BTCUSDT", trading_state="REDUCING" if self.kill_switch else "ACTIVE",
                          kill_switch=switch, realized_pnl_today=Decimal("-1.50"), realized_pnl=Decimal("2.25"),
                          open_positions=["BTCUSDT"], position=Decimal("0.00100"), last_close=Decimal("27000.10"),
                          last_bar_ns=1_700_000_000_000_000_000, bars=5, orders_submitted=2, fills=2,
                          orders_in_doubt=0, fills_in_ledger=2, control_requests=len(self.requests))  # fmt: skip

    def positions(self) -> PositionsBody:
        return PositionsBody(positions=[PositionView(symbol="BTCUSDT", quantity=Decimal("0.001"),
                                                     average_price=None, realized_pnl=Decimal(0),
                                                     fees=Decimal("0.01"))])  # fmt: skip

    def portfolio(self) -> PortfolioBody:
        line = PortfolioLine(symbol="BTCUSDT", base_asset="BTC", quantity=Decimal("0.001"),
                             average_price=Decimal("26000.5"), price=Decimal("27000.10"),
                             price_ns=1_700_000_000_000_000_000, price_source=PriceSource.LAST_CLOSE,
                             exposure=Decimal("27.0001"), realized_pnl=Decimal("2.25"),
                             unrealized_pnl=Decimal("0.9996"), fees=Decimal("0.03"), tick_size=Decimal("0.01"),
                             step_size=Decimal("0.00001"))  # fmt: skip
        return PortfolioBody(source=ViewSource.SESSION, quote_asset="USDT", quote_precision=8,
                             market_ns=1_700_000_000_000_000_000, wall_ns=1, fills=2, cash=Decimal("975.25"),
                             cash_source="test", exposure=line.exposure, equity=Decimal("975.25") + line.exposure,
                             realized_pnl=line.realized_pnl, unrealized_pnl=line.unrealized_pnl, fees=line.fees,
                             lines=[line, line.model_copy(update={"symbol": "ETHUSDT", "price": None,
                                                                  "price_source": PriceSource.NONE})])  # fmt: skip

    def orders(self, *, open_only: bool, limit: int) -> OrdersBody:
        order = OrderView(client_order_id="x-1", symbol="BTCUSDT", side="BUY", order_type="MARKET", status="FILLED",
                          quantity=Decimal("0.001"), filled_quantity=Decimal("0.001"), price=None, ts_ns=1)  # fmt: skip
        return OrdersBody(orders=[] if open_only else [order] * min(limit, 3))

    async def request(self, action: OperatorAction, by: str, reason: str) -> ControlResult:
        if action is OperatorAction.KILL_SWITCH_OFF:
            by = check_person(by)
        was = self.kill_switch
        self.requests.append((action, by, reason))
        if self.applied:
            self.kill_switch = action is not OperatorAction.KILL_SWITCH_OFF
        return ControlResult(seq=len(self.requests), action=action, applied=self.applied,
                             kill_switch=self.kill_switch, was_active=was)  # fmt: skip


Call = Callable[..., Awaitable[tuple[int, Any, aiohttp.typedefs.LooseHeaders]]]


def _serve(backend: Backend, work: Callable[[Call], Awaitable[None]]) -> None:
    async def main() -> None:
        server = ControlServer(backend, TOKEN, port=0, version="test")
        await server.start()
        try:
            async with aiohttp.ClientSession() as session:

                async def call(method: str, path: str, token: str | None = TOKEN, body: Any = None) -> Any:
                    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
                    async with session.request(method, server.url + path, headers=headers, json=body) as answer:
                        return answer.status, await answer.json(content_type=None), answer.headers

                await work(call)
        finally:
            await server.stop()

    asyncio.run(main())


def _served_routes() -> set[tuple[str, str]]:
    app = build_app(Backend(), TOKEN)
    return {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None and r.method != "HEAD"
    }


def test_every_route_when_the_token_is_missing_or_wrong_then_401_and_nothing_done() -> None:
    backend = Backend()
    statuses: dict[str, list[int]] = {}

    async def work(call: Call) -> None:
        for route in ROUTES:
            for token in (None, "", TOKEN[:-1] + "y", TOKEN + "x", "Basic " + TOKEN):
                status, body, headers = await call(route.method, route.path, token=token, body={"by": "alice"})
                statuses.setdefault(route.path, []).append(status)
                assert body == {"error": "missing or wrong bearer token"}
                assert headers["WWW-Authenticate"].startswith("Bearer")
        statuses["unknown"] = [(await call("GET", "/admin", token=None))[0], (await call("GET", "/admin"))[0]]

    _serve(backend, work)

    assert all(codes == [401] * 5 for path, codes in statuses.items() if path != "unknown")
    assert statuses["unknown"] == [401, 404]  # unauthenticated, it learns nothing of the routes
    assert backend.requests == []


def test_openapi_when_compared_with_the_app_then_every_served_route_is_documented_and_vice_versa() -> None:
    served: dict[str, Any] = {}

    async def work(call: Call) -> None:
        status, served["schema"], _ = await call("GET", "/openapi.json")
        assert status == 200

    _serve(Backend(), work)

    schema = served["schema"]
    documented = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert documented == _served_routes()
    assert len(documented) == 8
    assert schema == openapi_schema("test")
    assert schema["openapi"].startswith("3.1")
    assert schema["security"] == [{"bearer": []}]
    assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert {op["operationId"] for item in schema["paths"].values() for op in item.values()} == {
        r.operation_id for r in ROUTES
    }


@pytest.mark.parametrize("applied", [True, False])
def test_answers_when_served_then_each_is_valid_against_the_documented_response(applied: bool) -> None:
    schema = openapi_schema("test")
    backend = Backend(applied=applied)
    answers: list[tuple[str, str, int, Any]] = []
    calls: list[tuple[str, str, Any, str | None]] = [
        ("GET", "/status", None, TOKEN),
        ("GET", "/positions", None, TOKEN),
        ("GET", "/portfolio", None, TOKEN),
        ("GET", "/orders?open=false&limit=2", None, TOKEN),
        ("GET", "/orders?limit=0", None, TOKEN),
        ("GET", "/orders?open=maybe", None, TOKEN),
        ("POST", "/kill-switch/on", None, TOKEN),
        ("POST", "/kill-switch/on", {"by": "bob", "reason": "drill"}, TOKEN),
        ("POST", "/kill-switch/off", {"by": "alice"}, TOKEN),
        ("POST", "/kill-switch/off", {"by": "risk-engine"}, TOKEN),
        ("POST", "/kill-switch/off", None, TOKEN),
        ("POST", "/kill-switch/off", {"by": "alice", "extra": 1}, TOKEN),
        ("POST", "/stop-entry", {"by": "carol"}, TOKEN),
        ("GET", "/status", None, None),
    ]

    async def work(call: Call) -> None:
        for method, path, body, token in calls:
            status, answer, _ = await call(method, path, token=token, body=body)
            answers.append((method, path.split("?")[0], status, answer))

    _serve(backend, work)

    ok = 200 if applied else 202
    assert [a[2] for a in answers] == [200, 200, 200, 200, 400, 400, ok, ok, ok, 400, 400, 400, ok, 401]
    for method, path, status, answer in answers:
        documented = schema["paths"][path][method.lower()]["responses"]
        assert str(status) in documented, (method, path, status)
        body_schema = documented[str(status)]["content"]["application/json"]["schema"]
        assert validate(answer, body_schema, schema) == [], (method, path, status, answer)
    assert [a[3]["seq"] for a in answers if a[0] == "POST" and a[2] == ok] == [1, 2, 3, 4]
    assert [(action, by) for action, by, _ in backend.requests] == [
        (OperatorAction.KILL_SWITCH_ON, "operator"), (OperatorAction.KILL_SWITCH_ON, "bob"),
        (OperatorAction.KILL_SWITCH_OFF, "alice"), (OperatorAction.STOP_ENTRY, "carol"),
    ]  # fmt: skip
    assert "automatic actor" in answers[9][3]["error"]
    served = PortfolioBody.model_validate(answers[2][3])
    assert served == backend.portfolio()  # exact decimals through the wire
    assert answers[2][3]["cash"] == "975.25" and answers[2][3]["lines"][1]["price"] is None


def test_schema_checker_when_an_answer_breaks_the_schema_then_it_says_so() -> None:
    schema = openapi_schema("test")
    status_schema = {"$ref": "#/components/schemas/StatusBody"}
    good = Backend().status().model_dump(mode="json")

    assert validate(good, status_schema, schema) == []
    assert validate({**good, "bars": "5"}, status_schema, schema) != []
    assert validate({k: v for k, v in good.items() if k != "kill_switch"}, status_schema, schema) != []
    assert validate({**good, "surprise": 1}, status_schema, schema) != []


def test_server_when_the_port_is_taken_then_an_error_that_says_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def main() -> None:
            await ControlServer(Backend(), TOKEN, port=port).start()

        with pytest.raises(ControlEndpointError, match="choose another port"):
            asyncio.run(main())


def test_build_app_when_token_is_short_then_refused() -> None:
    with pytest.raises(ValueError, match="16 characters"):
        build_app(Backend(), "short")
