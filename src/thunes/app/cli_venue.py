"""``thunes venue serve``: the embedded Binance-compatible paper venue on loopback."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from thunes.adapters.datastore.loaders import DataFileError
from thunes.adapters.venues.simserver.server import VenueConfig, build_state, serve_forever, start
from thunes.app.config import ConfigError, load_settings
from thunes.app.errors import fail
from thunes.app.sources import load_bars, load_exchange_info_source
from thunes.domain.exchange_info import ExchangeInfo, ExchangeInfoError
from thunes.domain.market import Timeframe
from thunes.simvenue.replay import bar_events

__all__ = ["venue_app"]

PAPER_KEY = "thunes-paper-key"
PAPER_SECRET = "thunes-paper-secret"  # noqa: S105 - loopback paper venue only, never a real exchange key

venue_app = typer.Typer(help="The embedded simulated Binance spot venue.", no_args_is_help=True)


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
    speed: Annotated[str, typer.Option(help="Replay speed factor (1 = real time) or 'max'.")] = "3600",
    warmup: Annotated[int, typer.Option(help="Bars replayed instantly before serving.")] = 100,
    deposit: Annotated[list[str] | None, typer.Option(help="Starting balance, e.g. USDT=10000 (repeatable).")] = None,
) -> None:
    """Serve Binance's spot REST and WebSocket API on loopback over a replayed market."""
    try:
        settings = load_settings()
        tf = Timeframe.parse(timeframe)
        factor = None if speed == "max" else float(speed)
        source, _ = load_exchange_info_source(settings.rules, settings.data)
        instrument = source.get(symbol)
        loaded = load_bars(instrument, tf, settings.data, path=data, synthetic_bars=synthetic)
    except (ConfigError, DataFileError, ExchangeInfoError, ValueError) as e:
        fail(str(e))
    except KeyError as e:
        fail(str(e.args[0]) if e.args else "unknown symbol")
    served = ExchangeInfo({instrument.symbol: instrument}, source.rate_limits, None)
    state = build_state(served, tf)
    key = settings.venue.api_key.get_secret_value() if settings.venue.api_key else PAPER_KEY
    secret = settings.venue.api_secret.get_secret_value() if settings.venue.api_secret else PAPER_SECRET
    state.add_api_key("paper", key=key, secret=secret)
    balances = _deposits(deposit or ["USDT=10000"])
    events = bar_events(loaded.bars, instrument.tick_size, instrument.step_size)
    config = VenueConfig(host=host, port=port, speed=factor, warmup_bars=warmup)

    async def main() -> None:
        running = await start(state, events, config, {"paper": balances})
        typer.echo(f"venue on {running.rest_url} (ws {running.ws_url}), replaying {loaded.source} at speed {speed}")
        typer.echo(f"api key {key} (account 'paper'); the secret comes from your settings")
        await serve_forever(running)

    asyncio.run(main())
