"""The CLI's way to a running trader: its control API, found through the session's ``control.json``.

``thunes status|positions|orders|kill-switch on|off`` ask the API first when a session runs, so
they show the trader's live view and their requests reach it the way the API's do; with no
``control.json`` (no session, or the API off), or an API that does not answer (a crash left the
file behind) or refuses the token, they fall back to the files, as before. A refusal of the
request itself (e.g. an automatic actor turning the switch off) is the answer, not a fallback.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from rich.table import Table

from thunes.adapters.control import ControlResult, ErrorBody, OrdersBody, PortfolioBody, PositionsBody, StatusBody
from thunes.control.operator import CONTROL_TOKEN_ENV, DISCOVERY_FILE

__all__ = [
    "ControlEndpoint",
    "ControlRefusedError",
    "ControlUnavailableError",
    "discover",
    "live_orders",
    "live_portfolio",
    "live_positions",
    "live_request",
    "live_status",
    "orders_table",
    "positions_table",
    "request_text",
    "status_table",
]

M = TypeVar("M", bound=BaseModel)


class ControlUnavailableError(Exception):
    """The API did not answer (no session, a crash, a port taken by someone else): read the files."""


class ControlRefusedError(Exception):
    """The API answered with an error: ``status`` and its message (401: the token is not this session's)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ControlEndpoint:
    url: str
    token: str = field(repr=False)

    def call(self, method: str, path: str, model: type[M], body: Mapping[str, Any] | None = None,
             timeout_s: float = 10.0) -> M:  # fmt: skip
        """One request; the answer parsed as ``model`` (ControlRefusedError for an error answer)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)  # noqa: S310 - http(s) only, checked in discover
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
                text = answer.read()
        except urllib.error.HTTPError as e:
            raise ControlRefusedError(e.code, _error_text(e.read())) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise ControlUnavailableError(f"{self.url}: {getattr(e, 'reason', e)}") from None
        try:
            return model.model_validate_json(text)
        except ValidationError as e:
            raise ControlUnavailableError(f"{self.url} answered something else than a THUNES session: {e}") from None


def _error_text(raw: bytes) -> str:
    try:
        return ErrorBody.model_validate_json(raw).error
    except ValidationError:
        return raw.decode("utf-8", errors="replace")[:200] or "error"


def discover(data_dir: Path, environ: Mapping[str, str] = os.environ) -> ControlEndpoint | None:
    """The running session's API, from ``data_dir/control.json``; None when there is none to ask."""
    try:
        found = json.loads((data_dir / DISCOVERY_FILE).read_text(encoding="utf-8"))
        url = str(found["url"])
        token = environ.get(CONTROL_TOKEN_ENV, "").strip()
        if not token and found.get("token_file"):
            token = Path(found["token_file"]).read_text(encoding="utf-8").strip()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not token or not url.startswith(("http://", "https://")):
        return None
    return ControlEndpoint(url, token)


def _ask(data_dir: Path, method: str, path: str, model: type[M],
         body: Mapping[str, Any] | None = None) -> tuple[M, str] | None:  # fmt: skip
    """The answer and the API's URL, or None when the files must do."""
    endpoint = discover(data_dir)
    if endpoint is None:
        return None
    try:
        return endpoint.call(method, path, model, body), endpoint.url
    except ControlUnavailableError as e:
        _note(f"the session's control API did not answer ({e}); reading the files")
    except ControlRefusedError as e:
        if e.status != 401 and method == "POST":  # the request itself was refused: that is the answer
            raise
        _note(f"the control API at {endpoint.url} refused the request ({e}); reading the files")
    return None


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)  # noqa: T201 - the CLI's own diagnostic channel


def live_status(data_dir: Path) -> tuple[StatusBody, str] | None:
    """The running trader's status and the API's URL, or None (read the files)."""
    return _ask(data_dir, "GET", "/status", StatusBody)


def live_positions(data_dir: Path) -> PositionsBody | None:
    found = _ask(data_dir, "GET", "/positions", PositionsBody)
    return None if found is None else found[0]


def live_portfolio(data_dir: Path) -> PortfolioBody | None:
    """The running session's account as it last valued it, or None (read the files)."""
    found = _ask(data_dir, "GET", "/portfolio", PortfolioBody)
    return None if found is None else found[0]


def live_orders(data_dir: Path, *, open_only: bool, limit: int) -> OrdersBody | None:
    found = _ask(data_dir, "GET", f"/orders?open={str(open_only).lower()}&limit={limit}", OrdersBody)
    return None if found is None else found[0]


def live_request(data_dir: Path, path: str, body: Mapping[str, Any]) -> ControlResult | None:
    """POST a state change to the running trader (None: no session API, use the files);
    ``ControlRefusedError`` when the API refuses the request itself."""
    found = _ask(data_dir, "POST", path, ControlResult, body)
    return None if found is None else found[0]


def request_text(result: ControlResult, done: str) -> str:
    if not result.applied:
        return f"{done} requested (#{result.seq}); the running trader applies it between candles"
    return done + (" (it already was)" if result.was_active == result.kill_switch else "")


def status_table(body: StatusBody, url: str, data_dir: Path) -> Table:
    switch = body.kill_switch
    title = f"session {data_dir} (running, {url})"
    # As wide as its title (up to the terminal): a long data dir is not folded into the narrow value column.
    table = Table(title=title, title_justify="left", show_header=False, box=None, min_width=len(title))
    rows = [
        ("trading state", body.trading_state),
        ("kill-switch", f"ON by {switch.by}: {switch.reason}" if switch.active else "off"),
        ("realised PnL today", f"{body.realized_pnl_today:.4f}"),
        ("open positions", ", ".join(body.open_positions) or "none"),
        ("orders in doubt", str(body.orders_in_doubt)),
        ("fills in ledger", str(body.fills_in_ledger)),
        ("bars traded", str(body.bars)),
        ("last close", str(body.last_close)),
        (f"position {body.symbol}", f"{body.position.normalize()}"),
        ("realised PnL", f"{body.realized_pnl:.4f}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def positions_table(body: PositionsBody) -> Table:
    table = Table("symbol", "quantity", "avg price", "realised PnL", "fees")
    for p in body.positions:
        avg = f"{p.average_price:.2f}" if p.average_price is not None else "-"
        table.add_row(p.symbol, f"{p.quantity.normalize()}", avg, f"{p.realized_pnl:.4f}", f"{p.fees:.4f}")
    return table


def orders_table(body: OrdersBody) -> Table:
    table = Table("client order id", "symbol", "side", "type", "status", "qty", "filled")
    for o in body.orders:
        table.add_row(o.client_order_id, o.symbol, o.side, o.order_type, o.status, f"{o.quantity.normalize()}",
                      f"{o.filled_quantity.normalize()}")  # fmt: skip
    return table
