"""``thunes venue serve``: the embedded Binance-compatible paper venue on loopback.

Its ``/admin`` endpoints (``thunes venue fault ...``) need a bearer token: ``$THUNES_VENUE_ADMIN_TOKEN``
when set, else a new one in ``venue-admin-<port>.token`` (0600) in the working directory (the data
root, like ``data/store``; ``--admin-token-file`` elsewhere), removed on a clean stop. ``thunes venue
fault`` run from the same directory finds it by the port of its ``--url``. Serving beyond loopback
needs an API key and secret of your own: the paper defaults are published.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from thunes.adapters.datastore.errors import DataFileError
from thunes.adapters.hosts import is_loopback_host
from thunes.adapters.venues.simserver.admin_auth import ADMIN_TOKEN_ENV
from thunes.adapters.venues.simserver.journal import JournalError
from thunes.adapters.venues.simserver.server import ListenError, VenueConfig, build_state, serve_forever, start
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET, ServerState
from thunes.app.cli.options import MAX_COUNT, bind_host
from thunes.app.config import ConfigError, Settings, load_settings
from thunes.app.errors import fail
from thunes.app.sources import load_exchange_info_source
from thunes.app.token_file import env_token, new_token, read_token_file, write_token_file
from thunes.app.venue_market import BarRequest, bar_market, recorded_market, symbol_list
from thunes.domain.exchange_info import ExchangeInfo, ExchangeInfoError
from thunes.domain.market import Timeframe
from thunes.simvenue.capture import CaptureError
from thunes.simvenue.replay import ReplayEvent

__all__ = ["venue_app"]


venue_app = typer.Typer(help="The embedded simulated Binance spot venue.", no_args_is_help=True)
MAX_PORT = 65535
_ASSET = re.compile(r"[A-Z0-9]{1,20}")


def _utc_ns(text: str | None, option: str) -> int | None:
    """An ISO 8601 time as Unix ns; a time without zone is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} expects an ISO 8601 time like 2024-08-08T23:55:00, got {text!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


def _deposits(items: list[str]) -> dict[str, Decimal]:
    """``ASSET=AMOUNT`` items: an asset name and a positive, finite amount each."""
    out: dict[str, Decimal] = {}
    for item in items:
        asset, _, amount = item.partition("=")
        asset = asset.strip().upper()
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            fail(f"--deposit expects ASSET=AMOUNT, got {item!r}")
        if not _ASSET.fullmatch(asset):
            fail(f"--deposit expects ASSET=AMOUNT with an asset of letters and digits, got {item!r}")
        if not value.is_finite() or value <= 0:
            fail(f"--deposit amount must be a positive number, got {item!r}")
        out[asset] = value
    return out


def _checked(port: int, speed: str, latency_ms: float, jitter_ms: float) -> float | None:
    """Fail on a port, speed or latency the venue cannot use; the speed factor (None: as fast as possible)."""
    if not 0 <= port <= MAX_PORT:
        fail(f"--port must be between 0 and {MAX_PORT}, got {port}")
    for option, value in (("--latency-ms", latency_ms), ("--jitter-ms", jitter_ms)):
        if not math.isfinite(value) or value < 0:
            fail(f"{option} must be a finite number >= 0, got {value}")
    if speed == "max":
        return None
    try:
        factor = float(speed)
    except ValueError:
        factor = math.nan
    if not math.isfinite(factor) or factor <= 0:
        fail(f"--speed must be a positive factor or 'max', got {speed!r}")
    return factor


def _check_bars(synthetic: int | None, warmup: int) -> None:
    if synthetic is not None and synthetic < 1:
        fail(f"--synthetic must be a number of bars >= 1, got {synthetic}")
    if warmup < 0:
        fail(f"--warmup must be a number of bars >= 0, got {warmup}")


def _token_file_name(port: int) -> str:
    return f"venue-admin-{port}.token"


def _own_keys(settings: Settings, host: str) -> tuple[str, str]:
    """The venue's API key and secret: the settings', else the published paper defaults (loopback only)."""
    key = settings.venue.api_key.get_secret_value() if settings.venue.api_key else PAPER_API_KEY
    secret = settings.venue.api_secret.get_secret_value() if settings.venue.api_secret else PAPER_API_SECRET
    if not is_loopback_host(host) and (key == PAPER_API_KEY or secret == PAPER_API_SECRET):
        fail(f"--host {host} is not loopback: anyone who can reach it could trade with the published paper key; "
             "set your own venue.api_key and venue.api_secret (THUNES_VENUE__API_KEY, THUNES_VENUE__API_SECRET) "
             "first")  # fmt: skip
    return key, secret


@venue_app.command("serve")
def serve(
    host: Annotated[
        str, typer.Option(help="Bind address; beyond loopback it needs your own venue.api_key and api_secret.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port).")] = 8765,
    symbol: Annotated[str | None, typer.Option(help="Symbol to replay (default BTCUSDT).")] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="Several symbols on one clock, e.g. BTCUSDT,ETHUSDT: over the time all their data covers."),
    ] = None,
    timeframe: Annotated[str, typer.Option(help="Candle interval of the replayed data.")] = "1h",
    data: Annotated[Path | None, typer.Option(help="Candle file to replay.")] = None,
    synthetic: Annotated[int | None, typer.Option(help="Replay N synthetic bars instead.")] = None,
    capture: Annotated[
        list[Path] | None, typer.Option(help="Replay recorded raw WebSocket captures (.gz, in order) instead.")
    ] = None,
    speed: Annotated[str, typer.Option(help="Replay speed factor (1 = real time) or 'max'.")] = "3600",
    warmup: Annotated[int, typer.Option(max=MAX_COUNT, help="Bars replayed instantly before serving.")] = 100,
    deposit: Annotated[list[str] | None, typer.Option(help="Starting balance, e.g. USDT=10000 (repeatable).")] = None,
    state_file: Annotated[
        Path | None, typer.Option(help="Journal accounts, orders, trades and the market position here (SQLite).")
    ] = None,
    latency_ms: Annotated[float, typer.Option(help="Added latency per request, in ms.")] = 0.0,
    jitter_ms: Annotated[float, typer.Option(help="Random extra latency up to this, in ms.")] = 0.0,
    start_at: Annotated[str | None, typer.Option("--start", help="Replay from this UTC time (ISO 8601).")] = None,
    end_at: Annotated[
        str | None, typer.Option("--end", help="Replay until this UTC time (ISO 8601, excluded).")
    ] = None,
    admin_token_file: Annotated[
        Path | None,
        typer.Option(
            help="Write the admin token here (0600); default venue-admin-PORT.token in the working directory, "
            f"where thunes venue fault looks. Unused when ${ADMIN_TOKEN_ENV} is set."
        ),
    ] = None,
) -> None:
    """Serve Binance's spot REST and WebSocket API on loopback over a replayed market."""
    bind_host(host, "--host")
    try:
        settings = load_settings()
        admin_token = env_token(os.environ, ADMIN_TOKEN_ENV)
        factor = _checked(port, speed, latency_ms, jitter_ms)
        _check_bars(synthetic, warmup)
        tf = Timeframe.parse(timeframe)
        start_ns, end_ns = _utc_ns(start_at, "--start"), _utc_ns(end_at, "--end")
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            fail("--end must be after --start")
        source, _ = load_exchange_info_source(settings.rules, settings.data)
        instruments = [source.get(name) for name in symbol_list(symbol, symbols)]
        if capture:
            events, origin = recorded_market(capture, instruments, start_ns, end_ns)
        else:
            request = BarRequest(tf, settings.data, data, synthetic, start_ns, end_ns, warmup, symbols is not None)
            events, origin = bar_market(instruments, request)
    except (ConfigError, DataFileError, ExchangeInfoError, ValueError) as e:
        fail(str(e))
    except KeyError as e:
        fail(str(e.args[0]) if e.args else "unknown symbol")
    served = ExchangeInfo({i.symbol: i for i in instruments}, source.rate_limits, None)
    key, secret = _own_keys(settings, host)
    state = build_state(served, tf)
    state.add_api_key("paper", key=key, secret=secret)
    balances = _deposits(deposit or ["USDT=10000"])
    config = VenueConfig(host=host, port=port, speed=factor, warmup_bars=warmup, state_file=state_file,
                         latency_ms=latency_ms, jitter_ms=jitter_ms,
                         admin_token=admin_token or new_token())  # fmt: skip
    token_at = None if admin_token is not None else admin_token_file or Path(_token_file_name(port))
    asyncio.run(_serve(state, events, config, {"paper": balances}, key, f"{origin} at speed {speed}", token_at))


async def _serve(state: ServerState, events: Iterable[ReplayEvent], config: VenueConfig,
                 deposits: dict[str, dict[str, Decimal]], key: str, replaying: str,
                 token_at: Path | None) -> None:  # fmt: skip
    """Start, write the admin token file (``token_at``; None: the token came from the environment),
    say where everything is, serve until stopped."""
    try:
        running = await start(state, events, config, deposits)
    except (JournalError, CaptureError) as e:  # a journal or capture file it cannot use (the warm-up reads one)
        fail(str(e))
    except ListenError as e:
        fail(f"{e} (--host {config.host} --port {config.port})")
    token_path = token_at
    if token_path is not None and token_path.name == _token_file_name(0):  # --port 0: name it by the real port
        token_path = token_path.with_name(_token_file_name(running.port))
    if token_path is not None:
        try:
            write_token_file(token_path, running.admin_token)
        except OSError as e:
            await running.stop()
            fail(f"cannot write the admin token file {token_path}: {e.strerror or e}")
    typer.echo(f"venue on {running.rest_url} (ws {running.ws_url}), replaying {replaying}")
    shown = key if key == PAPER_API_KEY else "from your settings (not shown)"  # never echo a configured key
    typer.echo(f"api key {shown} (account 'paper'); the secret comes from your settings")
    where = f"${ADMIN_TOKEN_ENV}" if token_path is None else f"{token_path.resolve()} (0600)"
    typer.echo(f"admin token (thunes venue fault) in {where}")
    try:
        await serve_forever(running)
    finally:
        if token_path is not None:  # the token file this serve wrote at start (none with the env token)
            token_path.unlink(missing_ok=True)


fault_app = typer.Typer(help="Inject faults into a running venue (loopback admin API).", no_args_is_help=True)
venue_app.add_typer(fault_app, name="fault")
UrlOption = Annotated[str, typer.Option(help="Base URL of the running venue.")]
TokenFileOption = Annotated[
    Path | None,
    typer.Option(help=f"The venue's admin token file (default venue-admin-PORT.token here; ${ADMIN_TOKEN_ENV} wins)."),
]
DEFAULT_URL = "http://127.0.0.1:8765"


def _admin_token(url: str, token_file: Path | None) -> str:
    """``$THUNES_VENUE_ADMIN_TOKEN``, else the token file the venue wrote for ``url``'s port."""
    try:
        given = env_token(os.environ, ADMIN_TOKEN_ENV)
        port = urllib.parse.urlsplit(url).port
    except ValueError as e:
        fail(str(e) if ADMIN_TOKEN_ENV in str(e) else f"--url has no valid port: {url!r}")
    if given is not None:
        return given
    path = token_file or Path(_token_file_name(port or (443 if url.startswith("https") else 80)))
    try:
        return read_token_file(path)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        fail(f"no admin token for {url}: cannot read {path} ({why}); pass --token-file or set ${ADMIN_TOKEN_ENV}")


def _admin(url: str, path: str, body: dict[str, Any] | None = None, token_file: Path | None = None) -> None:
    if not url.startswith(("http://", "https://")):
        fail(f"--url must be an http(s) URL, got {url!r}")
    token = _admin_token(url, token_file)
    data = json.dumps(body).encode() if body is not None else None
    method = "POST" if data is not None else "GET"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers=headers)  # noqa: S310 - checked above
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the operator's own venue URL
            typer.echo(response.read().decode())
    except urllib.error.HTTPError as e:
        fail(f"venue answered {e.code}: {e.read().decode(errors='replace').strip()}")
    except (urllib.error.URLError, OSError) as e:
        fail(f"cannot reach the venue at {url}: {getattr(e, 'reason', e)}")
    except ValueError as e:  # urllib's own check: `http://[::1` and the like
        fail(f"--url {url!r} is not a valid URL: {e}")


@fault_app.command("errors")
def errors(
    count: Annotated[int, typer.Option(help="How many requests fail.")] = 5,
    status: Annotated[int, typer.Option(help="HTTP status: 500-599, or 429.")] = 503,
    retry_after: Annotated[int, typer.Option(help="Retry-After seconds on 429.")] = 1,
    url: UrlOption = DEFAULT_URL,
    token_file: TokenFileOption = None,
) -> None:
    """Answer the next COUNT API requests with STATUS."""
    if not (status == 429 or 500 <= status <= 599):
        fail(f"--status must be 429 or 5xx, got {status}")
    body = {"error_count": count, "error_status": status, "retry_after_s": retry_after}
    _admin(url, "/admin/faults", body, token_file=token_file)


@fault_app.command("latency")
def latency(
    ms: Annotated[float, typer.Option(help="Fixed latency in ms.")] = 200.0,
    jitter: Annotated[float, typer.Option(help="Random extra up to this, in ms.")] = 0.0,
    url: UrlOption = DEFAULT_URL,
    token_file: TokenFileOption = None,
) -> None:
    """Delay every request."""
    _admin(url, "/admin/faults", {"latency_ms": ms, "jitter_ms": jitter}, token_file=token_file)


@fault_app.command("silence")
def silence(seconds: Annotated[float, typer.Option(help="How long to stop answering.")] = 10.0,
            url: UrlOption = DEFAULT_URL, token_file: TokenFileOption = None) -> None:  # fmt: skip
    """Stop answering requests for SECONDS."""
    _admin(url, "/admin/faults/silence", {"seconds": seconds}, token_file=token_file)


@fault_app.command("drop-order-responses")
def drop_order_responses(count: Annotated[int, typer.Option(help="Orders to accept silently.")] = 1,
                         url: UrlOption = DEFAULT_URL, token_file: TokenFileOption = None) -> None:  # fmt: skip
    """Place the next COUNT orders but lose their responses."""
    _admin(url, "/admin/faults", {"drop_order_responses": count}, token_file=token_file)


@fault_app.command("drop-ws")
def drop_ws(url: UrlOption = DEFAULT_URL, token_file: TokenFileOption = None) -> None:
    """Close every WebSocket connection."""
    _admin(url, "/admin/ws/drop", {}, token_file=token_file)


@fault_app.command("restart")
def restart(url: UrlOption = DEFAULT_URL, token_file: TokenFileOption = None) -> None:
    """Persist the venue, drop connections and restore from the state file."""
    _admin(url, "/admin/restart", {}, token_file=token_file)


@fault_app.command("clear")
def clear(url: UrlOption = DEFAULT_URL, token_file: TokenFileOption = None) -> None:
    """Remove every active fault."""
    _admin(url, "/admin/faults/clear", {}, token_file=token_file)


@fault_app.command("status")
def status(url: UrlOption = DEFAULT_URL, token_file: TokenFileOption = None) -> None:
    """Show the active faults and how many fired."""
    _admin(url, "/admin/faults", token_file=token_file)
