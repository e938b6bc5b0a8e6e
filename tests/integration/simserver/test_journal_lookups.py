"""A venue restored from its journal answers every order lookup as it did before the crash.

Lookups by ``orderId``, by ``origClientOrderId`` and by both, after orders, amends (keepPriority, with
and without a new client id, back to an old one), cancels, cancel-replaces and fills, including client
ids that several orders carried in turn. The client id index's history (which order took an id last)
is not journaled, so the answer must not depend on it: an id names the open order carrying it, else
the newest. An amended order answers to its current client id only (Binance checks ``origClientOrderId``
against the order's current one: -2039 with its ``orderId``, rest-api.md "Query order").
"""

from __future__ import annotations

import contextlib
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration.simserver.conftest import RawClient, build_state
from tests.integration.simserver.live import LiveVenue
from thunes.adapters.venues.simserver.journal import JournalError, VenueJournal
from thunes.domain.enums import OrderType, Side, TimeInForce
from thunes.simvenue import OrderParams, SimVenue
from thunes.simvenue.errors import VenueError
from thunes.simvenue.persistence import order_row

D = Decimal
BTC = "BTCUSDT"
POOL = ("x", "y")  # few client ids, so orders share them in turn
ACCOUNT = "acct"
FAST_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None  # a journal per example, fsynced: in memory


# --- the real server: a crash between the lookups ----------------------------------------------------
def _answers(raw: RawClient, live: LiveVenue, order_ids: list[str], client_ids: list[str]) -> dict[str, Any]:
    """Every lookup's answer (status and body) by id, by client id, and by both in every pairing."""

    def get(**params: str) -> tuple[int, Any]:
        result = raw.signed(live.key, "GET", "/api/v3/order", symbol=BTC, **params)  # type: ignore[arg-type]
        return result.status, result.body

    out: dict[str, Any] = {f"id {i}": get(orderId=i) for i in order_ids}
    out |= {f"client {c}": get(origClientOrderId=c) for c in client_ids}
    out |= {f"both {i} {c}": get(orderId=i, origClientOrderId=c) for i in order_ids for c in client_ids}
    out["open"] = raw.signed(live.key, "GET", "/api/v3/openOrders", symbol=BTC).body  # type: ignore[arg-type]
    out["all"] = raw.signed(live.key, "GET", "/api/v3/allOrders", symbol=BTC).body  # type: ignore[arg-type]
    return out


def test_crash_when_orders_were_amended_cancelled_replaced_and_filled_then_every_lookup_answers_the_same(
    tmp_path: Path,
) -> None:
    first = LiveVenue(state_file=tmp_path / "venue.db")
    raw = RawClient(first)  # type: ignore[arg-type]
    try:
        bid = first.state.venue.market(BTC).bid
        assert bid is not None
        low = str((bid * D("0.6")).quantize(D("0.01")))

        def send(method: str, path: str, **params: str) -> Any:
            result = raw.signed(first.key, method, path, symbol=BTC, **params)  # type: ignore[arg-type]
            assert result.status == 200, result.body
            return result.body

        def rest(client_id: str, qty: str = "0.003") -> str:
            body = send("POST", "/api/v3/order", side="BUY", type="LIMIT", timeInForce="GTC", quantity=qty,
                        price=low, newClientOrderId=client_id)  # fmt: skip
            return str(body["orderId"])

        def amend(order_id: str, qty: str, client_id: str | None = None) -> None:
            extra = {} if client_id is None else {"newClientOrderId": client_id}
            send("PUT", "/api/v3/order/amend/keepPriority", orderId=order_id, newQty=qty, **extra)

        a = rest("first")
        amend(a, "0.002", "second")  # the order now answers to "second" only
        amend(a, "0.001")  # a venue-made client id
        b = rest("second")  # "second" is free again: another order takes it
        send("DELETE", "/api/v3/order", orderId=b)
        amend(a, "0.0005", "second")  # and the first order takes it back (b is closed)
        c = rest("third")
        replaced = send("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="STOP_ON_FAILURE",
                        cancelOrigClientOrderId="third", side="BUY", type="LIMIT", timeInForce="GTC",
                        quantity="0.002", price=low, newClientOrderId="third")  # fmt: skip
        d = str(replaced["newOrderResponse"]["orderId"])
        e = str(send("POST", "/api/v3/order", side="BUY", type="MARKET", quantity="0.001",
                     newClientOrderId="first")["orderId"])  # fmt: skip
        duplicate = raw.signed(first.key, "PUT", "/api/v3/order/amend/keepPriority", symbol=BTC,  # type: ignore[arg-type]
                               orderId=a, newQty="0.0004", newClientOrderId="third")  # fmt: skip
        send("DELETE", "/api/v3/order", orderId=a)  # now a and b both carried "second" and are closed
        order_ids = [a, b, c, d, e, "999999"]
        client_ids = ["first", "second", "third", "never"]
        before = _answers(raw, first, order_ids, client_ids)
    finally:
        first.crash()
    second = LiveVenue(state_file=tmp_path / "venue.db")
    try:
        after = _answers(RawClient(second), second, order_ids, client_ids)  # type: ignore[arg-type]
    finally:
        second.stop()

    assert (duplicate.status, duplicate.body["code"]) == (400, -2038)  # "third" is d's, which is open
    assert before["client second"][1]["orderId"] == int(b)  # both closed: the newest (a took it back later)
    assert before["client first"][1]["orderId"] == int(e)  # only e carries it now
    assert before["client third"][1]["orderId"] == int(d)  # the new order, not the cancelled c
    assert before[f"both {a} first"] == (
        400,
        {"code": -2039, "msg": "Client order ID is not correct for this order ID."},
    )
    assert before[f"both {c} third"][1]["status"] == "CANCELED"
    assert {k: v for k, v in after.items() if v != before[k]} == {}


# --- any sequence, in process: the journal written as the server writes it, restored into a new venue ------
def _lookups(venue: SimVenue, order_ids: list[int], client_ids: set[str]) -> dict[str, Any]:
    def ask(order_id: int | None, client_id: str | None) -> Any:
        try:
            return order_row(venue.get_order(ACCOUNT, BTC, order_id, client_id))
        except VenueError as e:
            return (e.code, e.msg)

    out: dict[str, Any] = {f"client {c}": ask(None, c) for c in sorted(client_ids)}
    for i in order_ids:
        out[f"id {i}"] = ask(i, None)
        out |= {f"both {i} {c}": ask(i, c) for c in sorted(client_ids)}
    out["open"] = [order_row(o) for o in venue.open_orders(ACCOUNT, BTC)]
    out["all"] = [order_row(o) for o in venue.all_orders(ACCOUNT, BTC)]
    out["balances"] = venue.balances(ACCOUNT)
    return out


CLIENT = st.sampled_from((*POOL, None))
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("rest"), CLIENT, st.sampled_from(("0.002", "0.004"))),
        st.tuples(st.just("market"), CLIENT, st.just("0.001")),
        st.tuples(st.just("cross"), CLIENT, st.just("2.0")),  # more than the quote shows: partly filled, rests
        st.tuples(st.just("amend"), st.integers(0, 7), st.sampled_from(("0.001", "0.0015", "1.9")), CLIENT),
        st.tuples(st.just("cancel"), CLIENT),
    ),
    max_size=14,
)


def _apply(venue: SimVenue, op: tuple[Any, ...], placed: list[int]) -> None:
    market = venue.market(BTC)
    assert market.bid is not None and market.ask is not None
    kind = op[0]
    if kind in ("rest", "market", "cross"):
        price = {"rest": (market.bid * D("0.6")).quantize(D("0.01")), "cross": market.ask, "market": None}[kind]
        order_type = OrderType.MARKET if kind == "market" else OrderType.LIMIT
        tif = None if kind == "market" else TimeInForce.GTC
        placed.append(venue.place_order(ACCOUNT, OrderParams(BTC, Side.BUY, order_type, D(op[2]), None, price, tif,
                                                             op[1])).order_id)  # fmt: skip
    elif kind == "amend" and placed:
        venue.amend_order(ACCOUNT, BTC, D(op[2]), placed[op[1] % len(placed)], None, op[3])
    elif kind == "cancel":
        venue.cancel_order(ACCOUNT, BTC, None, op[1] or "none")


def _halt(error: JournalError) -> None:
    raise error


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
@example(
    ops=[
        ("rest", "x", "0.002"),
        ("amend", 0, "0.001", "y"),
        ("market", "x", "0.001"),
        ("amend", 0, "0.0015", "x"),
        ("cancel", "x"),
    ]
)  # x: carried by two closed orders, the first took it back last
def test_journal_when_any_sequence_of_orders_amends_cancels_fills_then_restored_lookups_are_identical(
    ops: list[tuple[Any, ...]],
) -> None:
    state = build_state()
    venue = state.venue
    venue.deposit(ACCOUNT, "USDT", D(1_000_000))
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        path = Path(folder) / "venue.db"
        journal = VenueJournal(path, venue, _halt)
        venue.add_listener(journal.touched)
        journal.snapshot()
        placed: list[int] = []
        client_ids = {*POOL, "none"}
        for op in ops:
            with contextlib.suppress(VenueError):  # a refusal changes nothing; the lookups must still match
                _apply(venue, op, placed)
            journal.commit()  # what the server's middleware does after every request
            client_ids |= {o.client_order_id for o in venue.all_orders(ACCOUNT, BTC)}
        before = _lookups(venue, [*placed, 10**9], client_ids)
        journal.close()
        restored = SimVenue(state.exchange_info.instruments, state.clock)
        again = VenueJournal(path, restored, _halt)
        again.restore()
        again.close()
        after = _lookups(restored, [*placed, 10**9], client_ids)

    assert {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v} == {}
