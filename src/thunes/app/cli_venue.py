"""``thunes venue serve``: the embedded Binance-compatible paper venue on loopback."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from thunes.adapters.datastore.errors import DataFileError
from thunes.adapters.venues.simserver.server import VenueConfig, build_state, serve_forever, start
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.app.config import ConfigError, load_settings
from thunes.app.errors import fail
from thunes.app.sources import load_bars, load_exchange_info_source
from thunes.domain.exchange_info import ExchangeInfo, ExchangeInfoError
from thunes.domain.market import Timeframe
from thunes.features.ohlcv import OHLCV
from thunes.simvenue.capture_replay import capture_events
from thunes.simvenue.replay import ReplayEvent, bar_events, between

__all__ = ["venue_app"]


venue_app = typer.Typer(help="The embedded simulated Binance spot venue.", no_args_is_help=True)


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


def _window(bars: OHLCV, start_ns: int | None, end_ns: int | None) -> OHLCV:
    times = bars.open_time_ns
    first = 0 if start_ns is None else int(np.searchsorted(times, start_ns, side="left"))
    last = len(bars) if end_ns is None else int(np.searchsorted(times, end_ns, side="left"))
    return bars.slice(first, last)


def _deposits(items: list[str]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for item in items:
        asset, _, amount = item.partition("=")
        try:
            out[asset.strip().upper()] = Decimal(amount)
        except InvalidOperation:
            fail(f"--deposit expects ASSET=AMOUNT, got {item!r}")
    return out


@venue_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Bind address; keep loopback unless you know why.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port).")] = 8765,
    symbol: Annotated[str, typer.Option(help="Symbol to replay.")] = "BTCUSDT",
    timeframe: Annotated[str, typer.Option(help="Candle interval of the replayed data.")] = "1h",
    data: Annotated[Path | None, typer.Option(help="Candle file to replay.")] = None,
    synthetic: Annotated[int | None, typer.Option(help="Replay N synthetic bars instead.")] = None,
    capture: Annotated[
        list[Path] | None, typer.Option(help="Replay recorded raw WebSocket captures (.gz, in order) instead.")
    ] = None,
    speed: Annotated[str, typer.Option(help="Replay speed factor (1 = real time) or 'max'.")] = "3600",
    warmup: Annotated[int, typer.Option(help="Bars replayed instantly before serving.")] = 100,
    deposit: Annotated[list[str] | None, typer.Option(help="Starting balance, e.g. USDT=10000 (repeatable).")] = None,
    state_file: Annotated[Path | None, typer.Option(help="Persist accounts here; resume from it on start.")] = None,
    latency_ms: Annotated[float, typer.Option(help="Added latency per request, in ms.")] = 0.0,
    jitter_ms: Annotated[float, typer.Option(help="Random extra latency up to this, in ms.")] = 0.0,
    start_at: Annotated[str | None, typer.Option("--start", help="Replay from this UTC time (ISO 8601).")] = None,
    end_at: Annotated[
        str | None, typer.Option("--end", help="Replay until this UTC time (ISO 8601, excluded).")
    ] = None,
) -> None:
    """Serve Binance's spot REST and WebSocket API on loopback over a replayed market."""
    try:
        settings = load_settings()
        tf = Timeframe.parse(timeframe)
        factor = None if speed == "max" else float(speed)
        start_ns, end_ns = _utc_ns(start_at, "--start"), _utc_ns(end_at, "--end")
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            fail("--end must be after --start")
        source, _ = load_exchange_info_source(settings.rules, settings.data)
        instrument = source.get(symbol)
        loaded = None if capture else load_bars(instrument, tf, settings.data, path=data, synthetic_bars=synthetic)
    except (ConfigError, DataFileError, ExchangeInfoError, ValueError) as e:
        fail(str(e))
    except KeyError as e:
        fail(str(e.args[0]) if e.args else "unknown symbol")
    served = ExchangeInfo({instrument.symbol: instrument}, source.rate_limits, None)
    state = build_state(served, tf)
    key = settings.venue.api_key.get_secret_value() if settings.venue.api_key else PAPER_API_KEY
    secret = settings.venue.api_secret.get_secret_value() if settings.venue.api_secret else PAPER_API_SECRET
    state.add_api_key("paper", key=key, secret=secret)
    balances = _deposits(deposit or ["USDT=10000"])
    if loaded is None:
        missing = [str(p) for p in capture or [] if not p.is_file()]
        if missing:
            fail(f"capture file not found: {missing[0]}")
        events: Iterable[ReplayEvent] = between(capture_events(capture or [], symbol, instrument), start_ns, end_ns)
        origin = f"capture {', '.join(p.name for p in capture or [])}"
    else:
        bars = _window(loaded.bars, start_ns, end_ns)  # whole candles: select by open time
        if len(bars) == 0:
            fail("no candles between --start and --end")
        events, origin = bar_events(bars, instrument.tick_size, instrument.step_size), loaded.source
    config = VenueConfig(host=host, port=port, speed=factor, warmup_bars=warmup, state_file=state_file,
                         latency_ms=latency_ms, jitter_ms=jitter_ms)  # fmt: skip

    async def main() -> None:
        running = await start(state, events, config, {"paper": balances})
        typer.echo(f"venue on {running.rest_url} (ws {running.ws_url}), replaying {origin} at speed {speed}")
        shown = key if key == PAPER_API_KEY else "from your settings (not shown)"  # never echo a configured key
        typer.echo(f"api key {shown} (account 'paper'); the secret comes from your settings")
        await serve_forever(running)

    asyncio.run(main())


fault_app = typer.Typer(help="Inject faults into a running venue (loopback admin API).", no_args_is_help=True)
venue_app.add_typer(fault_app, name="fault")
UrlOption = Annotated[str, typer.Option(help="Base URL of the running venue.")]
DEFAULT_URL = "http://127.0.0.1:8765"


def _admin(url: str, path: str, body: dict[str, Any] | None = None) -> None:
    if not url.startswith(("http://", "https://")):
        fail(f"--url must be an http(s) URL, got {url!r}")
    data = json.dumps(body).encode() if body is not None else None
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the operator's own venue URL
            typer.echo(response.read().decode())
    except urllib.error.HTTPError as e:
        fail(f"venue answered {e.code}: {e.read().decode(errors='replace').strip()}")
    except (urllib.error.URLError, OSError) as e:
        fail(f"cannot reach the venue at {url}: {getattr(e, 'reason', e)}")


@fault_app.command("errors")
def errors(
    count: Annotated[int, typer.Option(help="How many requests fail.")] = 5,
    status: Annotated[int, typer.Option(help="HTTP status: 500-599, or 429.")] = 503,
    retry_after: Annotated[int, typer.Option(help="Retry-After seconds on 429.")] = 1,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Answer the next COUNT API requests with STATUS."""
    if not (status == 429 or 500 <= status <= 599):
        fail(f"--status must be 429 or 5xx, got {status}")
    _admin(url, "/admin/faults", {"error_count": count, "error_status": status, "retry_after_s": retry_after})


@fault_app.command("latency")
def latency(
    ms: Annotated[float, typer.Option(help="Fixed latency in ms.")] = 200.0,
    jitter: Annotated[float, typer.Option(help="Random extra up to this, in ms.")] = 0.0,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delay every request."""
    _admin(url, "/admin/faults", {"latency_ms": ms, "jitter_ms": jitter})


@fault_app.command("silence")
def silence(seconds: Annotated[float, typer.Option(help="How long to stop answering.")] = 10.0,
            url: UrlOption = DEFAULT_URL) -> None:  # fmt: skip
    """Stop answering requests for SECONDS."""
    _admin(url, "/admin/faults/silence", {"seconds": seconds})


@fault_app.command("drop-order-responses")
def drop_order_responses(count: Annotated[int, typer.Option(help="Orders to accept silently.")] = 1,
                         url: UrlOption = DEFAULT_URL) -> None:  # fmt: skip
    """Place the next COUNT orders but lose their responses."""
    _admin(url, "/admin/faults", {"drop_order_responses": count})


@fault_app.command("drop-ws")
def drop_ws(url: UrlOption = DEFAULT_URL) -> None:
    """Close every WebSocket connection."""
    _admin(url, "/admin/ws/drop", {})


@fault_app.command("restart")
def restart(url: UrlOption = DEFAULT_URL) -> None:
    """Persist the venue, drop connections and restore from the state file."""
    _admin(url, "/admin/restart", {})


@fault_app.command("clear")
def clear(url: UrlOption = DEFAULT_URL) -> None:
    """Remove every active fault."""
    _admin(url, "/admin/faults/clear", {})


@fault_app.command("status")
def status(url: UrlOption = DEFAULT_URL) -> None:
    """Show the active faults and how many fired."""
    _admin(url, "/admin/faults")
