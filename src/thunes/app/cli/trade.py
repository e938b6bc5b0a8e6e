"""``thunes trade``: paper trading on the embedded venue, Binance's testnet, or (``--live``, after every
safety check) Binance itself, with a live status view and a summary."""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from thunes.adapters.alerts import CHAT_IDS_ENV, TOKEN_ENV, TelegramSettings
from thunes.adapters.control import ControlEndpointError
from thunes.adapters.datastore.errors import DataFileError
from thunes.adapters.metrics import MetricsEndpointError
from thunes.adapters.secrets import SecretsError, open_provider
from thunes.adapters.storage.audit_jsonl import AuditLogError
from thunes.app.cli.options import (
    PairsOpt,
    ParamOpt,
    StrategyOpt,
    bind_host,
    checked_strategy,
    http_url,
    pairs_option,
    settings_from_options,
    strategy_options,
)
from thunes.app.cli.secrets import SECRETS_ENV
from thunes.app.cli.trade_view import StatusLines, status_view
from thunes.app.composition import portfolio_pairs
from thunes.app.config import Settings
from thunes.app.errors import fail
from thunes.domain.exchange_info import ExchangeInfoError
from thunes.domain.venue import VenueError
from thunes.preflight.live_safety import LiveRefusedError, confirm_live
from thunes.preflight.live_start import describe_venue, live_session, preflight
from thunes.session.paper import Credentials, PaperConfig, PaperStatus, run_paper

__all__ = ["TESTNET_KEY_ENV", "TESTNET_SECRET_ENV", "trade"]

TESTNET_KEY_ENV = "THUNES_BINANCE_TESTNET_API_KEY"
TESTNET_SECRET_ENV = "THUNES_BINANCE_TESTNET_API_SECRET"  # noqa: S105 - the variable's name, not a secret
VENUES = ("embedded", "binance-testnet")
PROBE_TIMEOUT_S = 5.0
_StatusLines = StatusLines  # the name the session-log tests know


def _testnet_credentials() -> Credentials:
    key, secret = os.environ.get(TESTNET_KEY_ENV, ""), os.environ.get(TESTNET_SECRET_ENV, "")
    if not key or not secret:
        fail(f"--venue binance-testnet needs {TESTNET_KEY_ENV} and {TESTNET_SECRET_ENV} in the environment "
             "(keys from https://testnet.binance.vision)")  # fmt: skip
    return Credentials(key, secret)


def _telegram(enabled: bool, chats: list[int] | None, api_url: str | None) -> TelegramSettings | None:
    """Telegram settings from the environment (the token is never an option: it would show in ``ps``)."""
    if not enabled:
        return None
    try:
        return TelegramSettings.from_env(os.environ, chats or (), **({"api_url": api_url} if api_url else {}))
    except ValueError as e:
        fail(str(e))


def _venue_choice(venue: str, venue_url: str | None, data_dir: Path) -> tuple[Credentials | None, Path]:
    """Keys and data directory for ``--venue``; a testnet session never shares the paper ledger."""
    if venue not in VENUES:
        fail(f"--venue must be one of {', '.join(VENUES)}, got {venue!r}")
    if venue == "embedded":
        return None, data_dir
    if venue_url is not None:
        fail("--venue-url is for a local venue; it cannot be combined with --venue binance-testnet")
    return _testnet_credentials(), Path("data/testnet") if data_dir == Path("data/paper") else data_dir


def _reachable(url: str) -> None:
    """The venue at ``url`` answers ``/api/v3/ping`` (before the session prepares its data directory):
    a typo or a venue not started is one error line, not a session retrying against nothing."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/v3/ping", timeout=PROBE_TIMEOUT_S):  # noqa: S310 - http(s) checked
            return
    except urllib.error.HTTPError as e:
        fail(f"--venue-url {url}: /api/v3/ping answered HTTP {e.code}: not a Binance-compatible venue")
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        fail(f"cannot reach the venue at {url} ({reason}): start it (thunes venue serve) or check --venue-url")
    except ValueError as e:
        fail(f"--venue-url {url!r} is not a valid URL: {e}")


def _settings(config: Path | None, strategy: dict[str, Any], pairs: str | None) -> Settings:
    """The settings (``--pairs`` over ``[[portfolio]]``), once every strategy they name loads and builds;
    the console shows warnings only (the live view; every line goes to the session log)."""
    options = {"strategy": strategy, "portfolio": pairs_option(pairs)}
    settings = settings_from_options(config, options, console_level="WARNING")
    checked_strategy(settings)
    return settings


def _live_start(confirmed: bool, secrets_spec: str, config: Path | None, data_dir: Path, base: PaperConfig,
                strategy: dict[str, Any], pairs: str | None) -> tuple[Settings, PaperConfig]:  # fmt: skip
    """Every SPEC §7 check before real money (one line on refusal), then the live session they allow."""
    try:
        confirm_live(confirmed, interactive=sys.stdin.isatty(),
                     ask=lambda question: str(typer.prompt(question, default="", show_default=False)))  # fmt: skip
        settings = _settings(config, strategy, pairs)
        start = asyncio.run(preflight(settings, open_provider(secrets_spec), data_dir))
    except (LiveRefusedError, SecretsError, VenueError, ExchangeInfoError) as e:
        fail(str(e))
    except KeyError as e:  # the configured symbol is not traded on the venue
        fail(str(e.args[0]) if e.args else "unknown symbol")
    ledger = "resumed" if start.resumed else "new (first live session in this directory)"
    symbols = ",".join(str(p.symbol) for p in portfolio_pairs(settings))
    Console().print(f"LIVE {symbols} on {describe_venue(settings.live)}: max capital "
                    f"{settings.live.max_capital} (quote currency), ledger {data_dir / 'ledger.db'} {ledger}",
                    highlight=False, markup=False, soft_wrap=True)  # fmt: skip
    return settings, live_session(start, base)


def trade(
    paper: Annotated[bool, typer.Option("--paper/--live", help="Paper trading on the embedded venue.")] = True,
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    live_confirmed: Annotated[
        bool, typer.Option("--confirm-live", help="Confirm --live without the typed phrase (no terminal: required).")
    ] = False,
    secrets: Annotated[
        str,
        typer.Option(
            envvar=SECRETS_ENV,
            help="Where --live reads binance_api_key and binance_api_secret: env:, file:PATH, fernet:PATH, "
            "vault:URL or aws:ID (see thunes secrets check).",
        ),
    ] = "env:",
    duration: Annotated[
        float | None,
        typer.Option(help="How long to trade, in seconds (paper: 30 by default; --live: until SIGTERM/SIGINT)."),
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="Replay speed, market seconds per second (paper only; default 36000).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file.")] = None,
    pairs: PairsOpt = None,
    data_dir: Annotated[
        Path, typer.Option(help="Where the session's ledger and risk state go (--live: data/live by default).")
    ] = Path("data/paper"),
    venue_url: Annotated[
        str | None, typer.Option(help="Trade a venue already running (thunes venue serve) instead of starting one.")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Keep the ledger and risk state of the previous session (--live always does).")
    ] = False,
    venue: Annotated[
        str, typer.Option(help="embedded (replays recorded candles on loopback) or binance-testnet (keys from env).")
    ] = "embedded",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65_535,
            help="Serve Prometheus /metrics, /health and /ready on this port (9108 is the one deploy/prometheus "
            "scrapes; 0 = any free port, logged and shown in the status). Off when omitted, so concurrent "
            "sessions never collide on a port.",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address the metrics endpoint binds (loopback unless a scraper needs more).")
    ] = "127.0.0.1",
    control_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65_535,
            help="Serve the control API on 127.0.0.1:PORT (0 = any free port); `thunes status` and `kill-switch` "
            "find it through DATA_DIR/control.json. Bearer token: $THUNES_CONTROL_TOKEN, else a new one in "
            "DATA_DIR/control.token (0600). Off when omitted.",
        ),
    ] = None,
    telegram: Annotated[
        bool,
        typer.Option(
            "--telegram/--no-telegram",
            help=f"Telegram alerts and commands; the bot token is read from ${TOKEN_ENV} only.",
        ),
    ] = False,
    telegram_chat: Annotated[
        list[int] | None,
        typer.Option(help=f"A chat allowed to receive alerts and command (repeat it); default ${CHAT_IDS_ENV}."),
    ] = None,
    telegram_api_url: Annotated[
        str | None, typer.Option(help="Bot API base URL (default https://api.telegram.org).")
    ] = None,
    bus: Annotated[
        str | None,
        typer.Option(
            help="Also publish every command and event to NATS JetStream here, e.g. nats://127.0.0.1:4222 "
            "(default: [bus] url; unset: the in-process bus only). NATS down: trading goes on, events are "
            "spooled in DATA_DIR/bus and sent when it is back.",
        ),
    ] = None,
) -> None:
    """Trade the configured portfolio (--pairs, [[portfolio]], else one pair) on one account; paper mode
    replays recorded candles of every symbol on the embedded venue, --live trades Binance spot with real
    money once every safety check has passed (for every symbol)."""
    if any(v is not None and not (math.isfinite(v) and v > 0) for v in (duration, speed)):  # NaN compares false
        fail("--duration and --speed must be positive finite numbers")
    bind_host(metrics_host, "--metrics-host")
    if bus is not None and not re.fullmatch(r"(nats|tls)://[^\s/]+", bus):
        fail(f"--bus must be a NATS url such as nats://127.0.0.1:4222, got {bus!r}")
    chosen = strategy_options(strategy, param)
    alerts = _telegram(telegram, telegram_chat, telegram_api_url)
    base = PaperConfig(duration_s=duration, metrics_port=metrics_port, metrics_host=metrics_host,
                       control_port=control_port, telegram=alerts, bus_url=bus)  # fmt: skip
    if not paper:
        if venue != "embedded" or venue_url is not None:
            fail("--live trades Binance itself; --venue and --venue-url are for paper and testnet sessions")
        if speed is not None:
            fail("--speed is for replays: a live session trades in real time")
        live_dir = Path("data/live") if data_dir == Path("data/paper") else data_dir
        settings, session = _live_start(live_confirmed, secrets, config, live_dir, base, chosen, pairs)
        _run(settings, session, "THUNES LIVE trading", describe_venue(settings.live))
        return
    credentials, data_dir = _venue_choice(venue, venue_url, data_dir)
    if venue_url is not None:  # before the session prepares its data directory
        _reachable(http_url(venue_url, "--venue-url"))
    settings = _settings(config, chosen, pairs)
    session = replace(base, duration_s=30.0 if duration is None else duration,
                      speed=36_000.0 if speed is None else speed, data_dir=data_dir, fresh=not resume,
                      venue_url=venue_url, credentials=credentials)  # fmt: skip
    _run(settings, session, "THUNES paper trading", None)


def _run(settings: Settings, session: PaperConfig, title: str, venue: str | None) -> None:
    """Run the session with its status view until it ends or SIGTERM/SIGINT, then print the summary."""
    console = Console()
    if not console.is_terminal:  # a log or CI: room for a portfolio's per-symbol summary
        console.width = max(console.width, 132)
    prefix = ("LIVE (venue NOT Binance) " if settings.live.not_binance else "LIVE ") if session.live else ""

    async def main() -> PaperStatus:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # systemd stops with SIGTERM: finish cleanly
            loop.add_signal_handler(sig, stop.set)
        if not console.is_terminal:  # a log or CI: one plain status line every few seconds
            return await run_paper(settings, session, StatusLines(console, prefix=prefix), stop)
        with Live(status_view(PaperStatus(), title, venue), console=console, refresh_per_second=4) as live:
            return await run_paper(settings, session, lambda s: live.update(status_view(s, title, venue)), stop)

    try:
        final = asyncio.run(main())
    except (DataFileError, ExchangeInfoError, VenueError, MetricsEndpointError, ControlEndpointError, ValueError,
            AuditLogError) as e:  # fmt: skip
        fail(str(e))
    except KeyError as e:
        fail(str(e.args[0]) if e.args else "unknown symbol")
    console.print(status_view(final, "Summary", venue))
