"""Client order ids are part of the journal's format: the same intent must give the same id in every
version, or a restart after an upgrade would not recognise an order it already sent."""

import base64
import hashlib

import pytest

from thunes.domain.enums import Side
from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol
from thunes.execution.client_ids import client_order_id, next_round_id


def test_client_order_id_of_a_known_intent_is_pinned() -> None:
    cid = client_order_id(StrategyId("sma_cross-1"), Symbol("BTCUSDT"), Side.BUY, "1700000000000000000")
    assert cid == "thuk2ioenvalhyua4m6nssnqtcm5baz3"


@pytest.mark.parametrize("key", ["1", "1700000000000000000", "bar-42:attempt-2", "é"])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_client_order_id_is_the_first_30_base32_letters_of_the_intent_hash(side: Side, key: str) -> None:
    digest = hashlib.sha256(f"rsi-7|ETHUSDT|{side.value}|{key}".encode()).digest()
    whole = base64.b32encode(digest).decode().rstrip("=").lower()
    cid = client_order_id(StrategyId("rsi-7"), Symbol("ETHUSDT"), side, key)
    assert cid == "th" + whole[:30]
    assert len(cid) == 32 and cid.isalnum()


def test_client_order_id_without_intent_key_is_refused() -> None:
    with pytest.raises(ValueError, match="intent_key"):
        client_order_id(StrategyId("s"), Symbol("BTCUSDT"), Side.BUY, "")


@pytest.mark.parametrize("key", [str(n) for n in range(0, 2000, 7)])
def test_client_order_ids_when_made_without_the_format_check_then_they_meet_it(key: str) -> None:
    # The ids are built without ClientOrderId's check (their alphabet is the format's): hold them to it.
    cid = client_order_id(StrategyId("sma_cross-1"), Symbol("BTCUSDT"), Side.SELL, key)
    for made in (cid, next_round_id(cid)):
        assert type(made) is ClientOrderId
        assert ClientOrderId.pattern.fullmatch(made) and ClientOrderId(made) == made
