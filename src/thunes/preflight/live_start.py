"""From ``thunes trade --live`` to a live session: the pre-flight checks, then the session's config.

The keys are read once, by the checks, and that same :class:`Credentials` object is what the session
signs with: nothing re-reads the secrets provider after the checks passed, so the session cannot
trade with keys other than the ones whose permissions were checked. The Binance endpoints come from
``[live]`` (production by default); the checks and the session use the same :class:`BinanceConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog

from thunes.adapters.secrets import SecretsProvider
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.app.composition import portfolio_pairs, risk_limits
from thunes.app.config import LiveSettings, Settings
from thunes.preflight.live_safety import (
    LiveRefusedError,
    capital_problems,
    kill_switch_problem,
    ledger_problem,
    live_credentials,
    venue_problems,
)
from thunes.session.paper import Credentials, PaperConfig

__all__ = ["LiveStart", "describe_venue", "live_session", "live_venue", "preflight"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LiveStart:
    """What passed every check, handed to the session as is (the keys are never read again)."""

    settings: Settings
    credentials: Credentials = field(repr=False)
    venue: BinanceConfig
    data_dir: Path
    resumed: bool  # the data dir already held a ledger: the session continues it


def live_venue(live: LiveSettings) -> BinanceConfig:
    """Binance in live mode: ccxt's production URLs, except the endpoints ``[live]`` overrides."""
    overrides = live.overrides
    return BinanceConfig("live", overrides.get("rest_url"), overrides.get("ws_url"))


def describe_venue(live: LiveSettings) -> str:
    """One line for the status view: production Binance, or the override and whether it is Binance."""
    if not live.overrides:
        return "Binance spot (production)"
    where = ", ".join(f"{key} {url}" for key, url in live.overrides.items())
    return f"OVERRIDE {where}" + (" (NOT Binance)" if live.not_binance else " (a Binance host)")


async def preflight(settings: Settings, provider: SecretsProvider, data_dir: Path) -> LiveStart:
    """Every SPEC §7 check but the confirmation: local ones first (kill-switch, capital cap), then the
    venue's (key permissions, smallest order, reconciliation). Raises :class:`LiveRefusedError` with
    every reason at once; ``VenueError``/``ExchangeInfoError`` when the venue cannot be asked."""
    live = settings.live
    credentials = live_credentials(provider)  # the one read of the keys
    limits = risk_limits(settings, live.max_capital)  # exactly the limits the session will enforce
    local = [p for p in (kill_switch_problem(data_dir), ledger_problem(data_dir),
                         *capital_problems(limits, live.max_capital)) if p]  # fmt: skip
    if local:
        raise LiveRefusedError(local)
    venue = live_venue(live)
    _announce(live)
    symbols = [pair.symbol for pair in portfolio_pairs(settings)]  # every symbol the session will trade
    async with BinanceClient(venue, credentials.api_key, credentials.api_secret) as client:
        problems = await venue_problems(client, symbols, data_dir, live.max_capital)
    if problems:
        raise LiveRefusedError(problems)
    resumed = (data_dir / "ledger.db").is_file()
    _log.warning("live_session_starting", data_dir=str(data_dir), ledger="resumed" if resumed else "new",
                 max_capital=str(live.max_capital), symbols=[str(s) for s in symbols])  # fmt: skip
    return LiveStart(settings, credentials, venue, data_dir, resumed)


def live_session(start: LiveStart, base: PaperConfig) -> PaperConfig:
    """``base`` (duration and operator options) made the session ``start`` passed the checks for:
    Binance at the checked endpoints, the checked keys, the ledger resumed, the limits capped."""
    return replace(base, data_dir=start.data_dir, fresh=False, credentials=start.credentials, venue=start.venue,
                   max_capital=start.settings.live.max_capital)  # fmt: skip


def _announce(live: LiveSettings) -> None:
    """An endpoint override is logged loudly: real keys go wherever it points."""
    if not live.overrides:
        return
    log = _log.error if live.not_binance else _log.warning
    log("live_endpoint_override", binance=not live.not_binance, **live.overrides)
