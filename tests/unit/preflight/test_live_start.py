"""From the checks to the live session's config: endpoints, labels, the session's invariants (the
ledger never wiped, the limits capped) and what a live ``PaperConfig`` refuses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from thunes.adapters.venues.binance import BinanceConfig
from thunes.app.composition import risk_limits
from thunes.app.config import LiveSettings, load_settings
from thunes.preflight.live_start import LiveStart, describe_venue, live_session, live_venue
from thunes.session.paper import Credentials, PaperConfig

D = Decimal
KEYS = Credentials("AKlive-start-1234", "live-start-secret-5678")
LOOPBACK = LiveSettings(rest_url="http://127.0.0.1:8765", ws_url="ws://127.0.0.1:8765")


def test_live_venue_when_no_override_then_live_mode_on_ccxt_production_urls() -> None:
    assert live_venue(LiveSettings()) == BinanceConfig("live")


def test_live_venue_when_overridden_then_only_the_overridden_endpoints_given() -> None:
    both = live_venue(LOOPBACK)
    rest_only = live_venue(LiveSettings(rest_url="https://api1.binance.com"))

    assert (both.mode, both.rest_url, both.ws_url) == ("live", "http://127.0.0.1:8765", "ws://127.0.0.1:8765")
    assert (rest_only.rest_url, rest_only.ws_url) == ("https://api1.binance.com", None)


def test_describe_venue_when_production_binance_host_or_foreign_then_says_which() -> None:
    assert describe_venue(LiveSettings()) == "Binance spot (production)"
    assert describe_venue(LiveSettings(rest_url="https://api1.binance.com")).endswith("(a Binance host)")
    assert describe_venue(LOOPBACK) == (
        "OVERRIDE rest_url http://127.0.0.1:8765, ws_url ws://127.0.0.1:8765 (NOT Binance)"
    )


def test_live_session_when_built_from_a_start_then_resumed_capped_and_signed_with_the_checked_keys(
    tmp_path: Path,
) -> None:
    settings = load_settings(env={})
    start = LiveStart(settings, KEYS, live_venue(settings.live), tmp_path / "live", resumed=False)
    base = PaperConfig(duration_s=None, metrics_port=0, control_port=0)

    session = live_session(start, base)

    assert session.live
    assert session.fresh is False
    assert session.credentials is KEYS  # the object the checks read: never read again
    assert session.venue == BinanceConfig("live")
    assert session.data_dir == tmp_path / "live"
    assert session.max_capital == D(10)
    assert (session.duration_s, session.metrics_port, session.control_port) == (None, 0, 0)
    assert KEYS.api_secret not in repr(start) + repr(session)


def test_risk_limits_when_a_capital_cap_given_then_capped_else_as_configured() -> None:
    settings = load_settings(env={})

    capped, plain = risk_limits(settings, D(10)), risk_limits(settings)

    assert (capped.max_order_notional, capped.max_open_positions, capped.max_daily_loss) == (D(10), 1, D(10))
    assert (plain.max_order_notional, plain.max_open_positions, plain.max_daily_loss) == (D(15), 3, D(20))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fresh": True}, "never wipes its ledger"),
        ({"max_capital": None}, "needs max_capital"),
        ({"venue_url": "http://127.0.0.1:8765"}, "no lockstep, bars or venue_url"),
        ({"lockstep": True}, "no lockstep, bars or venue_url"),
        ({"credentials": None}, "needs credentials"),
        ({"duration_s": 0.0}, "duration_s must be positive"),
    ],
)
def test_live_config_when_an_invariant_broken_then_refused(changes: dict[str, object], message: str) -> None:
    valid: dict[str, object] = {"fresh": False, "credentials": KEYS, "venue": BinanceConfig("live"),
                                "max_capital": D(10)}  # fmt: skip

    PaperConfig(**valid)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        PaperConfig(**{**valid, **changes})  # type: ignore[arg-type]
