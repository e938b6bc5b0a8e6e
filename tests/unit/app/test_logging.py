from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from thunes.app.config import LoggingSettings, load_settings
from thunes.app.logging import MASK, configure_logging, is_sensitive_key, mask_text, redact_secrets, redact_value

SECRET = "sk-LIVE-7f3a9c2e1b8d4f60"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _capture(settings: LoggingSettings) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    return stream


def _log_everything_secret() -> None:
    log = structlog.get_logger("test")
    log.info("secret_as_value", api_secret=SecretStr(SECRET), credential=SecretStr(SECRET))
    log.info("secret_in_dict", request={"api_secret": SECRET, "headers": {"X-MBX-APIKEY": SECRET}})
    log.info("secret_in_list", items=[SecretStr(SECRET), {"password": SECRET}], pair=(SecretStr(SECRET), 1))
    log.info(f"GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature={SIGNATURE}")
    log.warning("headers", raw=f"{{'X-MBX-APIKEY': '{SECRET}', 'Accept': 'application/json'}}")
    try:
        raise ConnectionError(f"POST https://api.binance.com/api/v3/order?signature={SIGNATURE} failed")
    except ConnectionError as err:
        log.exception("venue_failed", error=err)


@pytest.mark.parametrize("json_output", [False, True])
def test_log_when_secrets_logged_in_any_shape_then_output_never_contains_them(json_output: bool) -> None:
    stream = _capture(LoggingSettings(json_output=json_output))

    _log_everything_secret()

    output = stream.getvalue()
    assert output.count("\n") == 6  # every event was written...
    assert SECRET not in output  # ...and none of them leaked the secret
    assert SIGNATURE not in output
    assert MASK in output
    assert "symbol=BTCUSDT" in output  # masking is targeted, the rest of the message survives


def test_log_when_settings_object_logged_then_secret_not_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stream = _capture(LoggingSettings())
    settings = load_settings(env={"THUNES_VENUE__API_SECRET": SECRET})

    structlog.get_logger().info("started", venue=settings.venue, settings=settings)

    assert "started" in stream.getvalue()
    assert SECRET not in stream.getvalue()


def test_log_when_json_output_then_each_line_is_json_with_level_and_timestamp() -> None:
    stream = _capture(LoggingSettings(json_output=True))

    structlog.get_logger().info("order_sent", symbol="BTCUSDT", notional=Decimal("12.5"), api_key=SECRET)

    record = json.loads(stream.getvalue())
    assert record["event"] == "order_sent"
    assert record["level"] == "info"
    assert record["symbol"] == "BTCUSDT"
    assert record["notional"] == "12.5"
    assert record["api_key"] == MASK
    assert record["timestamp"].endswith("Z")


def test_log_when_key_value_output_then_event_comes_first() -> None:
    stream = _capture(LoggingSettings(json_output=False))

    structlog.get_logger().info("order_sent", symbol="BTCUSDT")

    line = stream.getvalue().strip()
    assert line.startswith("timestamp=")
    assert "level='info' event='order_sent'" in line
    assert "symbol='BTCUSDT'" in line


def test_log_when_below_configured_level_then_dropped() -> None:
    stream = _capture(LoggingSettings(level="WARNING"))

    structlog.get_logger().info("quiet")
    structlog.get_logger().warning("loud")

    assert "quiet" not in stream.getvalue()
    assert "loud" in stream.getvalue()


def test_configure_when_called_again_then_existing_logger_follows() -> None:
    log = structlog.get_logger()
    first = _capture(LoggingSettings(level="INFO"))
    log.info("one")
    second = _capture(LoggingSettings(level="INFO"))

    log.info("two")

    assert "two" not in first.getvalue()
    assert "two" in second.getvalue()


@pytest.mark.parametrize(
    "key",
    ["api_secret", "API_KEY", "apiKey", "X-MBX-APIKEY", "password", "listen_token", "passphrase", "signature"],
)
def test_redact_when_key_is_sensitive_then_whole_value_masked(key: str) -> None:
    event = redact_secrets(None, "info", {"event": "x", key: {"nested": SECRET}})

    assert is_sensitive_key(key)
    assert event[key] == MASK
    assert event["event"] == "x"


def test_redact_when_key_is_sensitive_but_value_none_or_bool_then_kept() -> None:
    event = redact_secrets(None, "info", {"api_key": None, "has_api_secret": True})

    assert event == {"api_key": None, "has_api_secret": True}


def test_redact_when_plain_values_then_untouched() -> None:
    event = {"event": "fill", "symbol": "BTCUSDT", "qty": Decimal("0.5"), "ids": [1, 2], "tags": ("a",)}

    assert redact_secrets(None, "info", dict(event)) == event


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"/api/v3/order?symbol=ETHUSDT&signature={SIGNATURE}&x=1", "&x=1"),
        (f"X-MBX-APIKEY: {SECRET}", "X-MBX-APIKEY: "),
        (f'{{"X-MBX-APIKEY": "{SECRET}"}}', '"X-MBX-APIKEY": "'),
        (f'client = Client(api_secret="{SECRET}")', "Client(api_secret="),
        (f"password={SECRET} user=bob", "user=bob"),
    ],
)
def test_mask_text_when_secret_embedded_then_value_replaced(text: str, kept: str) -> None:
    masked = mask_text(text)

    assert SECRET not in masked
    assert SIGNATURE not in masked
    assert MASK in masked
    assert kept in masked


def test_redact_when_structure_self_references_then_terminates() -> None:
    loop: list[Any] = []
    loop.append(loop)

    assert "<too deep>" in json.dumps(redact_value(loop), default=str)


_secrets = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", min_size=16, max_size=40)
_plain = st.one_of(st.integers(), st.sampled_from(["BTCUSDT", "filled", "ok"]), st.none())


def _nest(secret: str) -> st.SearchStrategy[Any]:
    leaf = st.one_of(_plain, st.just(SecretStr(secret)), st.just({"api_secret": secret}))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.tuples(inner, inner),
            st.dictionaries(st.sampled_from(["data", "payload", "token", "headers"]), inner, max_size=3),
        ),
        max_leaves=8,
    )


@given(data=st.data(), secret=_secrets)
def test_redact_when_secret_hidden_anywhere_in_nesting_then_rendering_never_shows_it(
    data: st.DataObject, secret: str
) -> None:
    value = data.draw(_nest(secret))

    redacted = redact_secrets(None, "info", {"event": "e", "value": value})

    assert secret not in repr(redacted)
    assert secret not in json.dumps(redacted, default=str)
