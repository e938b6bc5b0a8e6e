"""Engine messages as JetStream messages: subjects, ids, exact JSON."""

from __future__ import annotations

import json
from decimal import Decimal

from thunes.adapters.bus.codec import Encoder, subject_token
from thunes.domain.enums import Liquidity, OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol, VenueId, VenueOrderId
from thunes.domain.messages import OrderAccepted, OrderFilled, OrderSubmitted
from thunes.domain.orders import Fill, OrderRequest


def test_encode_when_events_of_one_order_then_subjects_carry_its_symbol_and_ids_count_up() -> None:
    cid = ClientOrderId("c-1")
    request = OrderRequest(cid, Symbol("ETHUSDT"), Side.BUY, OrderType.MARKET, Decimal("0.5"))
    fill = Fill(cid, "t1", Symbol("ETHUSDT"), Side.BUY, Decimal("2000.10"), Decimal("0.5"), Decimal("0.0005"), "ETH",
                Liquidity.TAKER, 7)  # fmt: skip
    encoder = Encoder("sim", run="r1")

    submitted = encoder.encode(OrderSubmitted(1, VenueId("sim"), cid, request))
    accepted = encoder.encode(OrderAccepted(2, VenueId("sim"), cid, VenueOrderId("v9")))  # names no symbol
    filled = encoder.encode(OrderFilled(3, VenueId("sim"), cid, fill, True))
    summary = encoder.encode({"day": "2026-12-08"})

    assert submitted.subject == "thunes.sim.ETHUSDT.OrderSubmitted"
    assert accepted.subject == "thunes.sim.ETHUSDT.OrderAccepted"
    assert filled.subject == "thunes.sim.ETHUSDT.OrderFilled"
    assert summary.subject == "thunes.sim._.dict"
    assert [e.msg_id for e in (submitted, accepted, filled, summary)] == ["r1-1", "r1-2", "r1-3", "r1-4"]
    body = json.loads(filled.payload)
    assert body["id"] == "r1-3" and body["kind"] == "OrderFilled"
    assert body["message"]["fill"]["price"] == "2000.10"  # Decimal exactly, as a string
    assert body["message"]["fill"]["side"] == "BUY"


def test_subject_token_when_reserved_characters_then_replaced() -> None:
    assert subject_token("BTC.USDT*>") == "BTC_USDT__"
    assert subject_token("") == "_"
