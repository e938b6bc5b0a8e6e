"""The venue a session trades: the embedded one (started here, replaying every symbol of the portfolio
on one clock, as ``thunes venue serve --symbols`` does), one already running (``venue_url``), or
Binance (its spot testnet, or live). Split from :mod:`thunes.session.paper`, which composes the session;
the one module of the session that names the adapters behind its ports (:mod:`thunes.session.ports`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig, BinanceStreams
from thunes.adapters.venues.simserver.server import RunningVenue, VenueConfig, build_state, start
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET
from thunes.app.config import Settings
from thunes.app.sources import common_range, load_bars, load_exchange_info_source, load_portfolio_bars
from thunes.app.venue_market import market_events
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.identifiers import Symbol
from thunes.domain.market import QuoteTick, Timeframe
from thunes.features.ohlcv import OHLCV
from thunes.session.candles import BarGate
from thunes.session.config import PaperConfig, bars_by_symbol
from thunes.session.ports import KlineStreams, MarketFeed, QuoteStream, SessionStore, SessionVenue, TradeStream

__all__ = ["PAPER_ACCOUNT", "Connection", "connect", "open_store", "replayed_bars"]

PAPER_ACCOUNT = "paper"


@dataclass(slots=True)
class Connection:
    """The client of the session's venue; the embedded venue when this session runs it, with the first
    candle to fetch and the first to trade (``None``, ``None``: a market this session did not start)."""

    client: SessionVenue
    streams: KlineStreams
    running: RunningVenue | None = None
    first_ns: int | None = None
    live_from_ns: int | None = None
    market: MarketFeed | None = None  # quotes and trades beyond candles (a shadow session's reference prices)

    @classmethod
    def binance(cls, client: BinanceClient, running: RunningVenue | None = None, first_ns: int | None = None,
                live_from_ns: int | None = None) -> Connection:  # fmt: skip
        """Binance's spot API or a venue that speaks it: ccxt REST and ccxt.pro streams."""
        streams = BinanceStreams(client)
        return cls(client, streams, running, first_ns, live_from_ns, _BinanceMarket(client, streams))


class _BinanceMarket:
    """:class:`MarketFeed` over Binance's API (or a venue that speaks it): ccxt.pro streams, ccxt REST."""

    def __init__(self, client: BinanceClient, streams: BinanceStreams) -> None:
        self._client, self._streams = client, streams

    def watch_book_ticker(self, symbol: Symbol) -> QuoteStream:
        return self._streams.watch_book_ticker(symbol)

    def watch_trades(self, symbol: Symbol) -> TradeStream:
        return self._streams.watch_trades(symbol)

    async def book_ticker(self, symbol: Symbol) -> QuoteTick:
        return await self._client.book_ticker(symbol)


def open_store(data_dir: Path) -> SessionStore:
    """The session's journal and ledger: SQLite in its data directory."""
    return SqlStore(f"sqlite:///{data_dir / 'ledger.db'}")


def replayed_bars(settings: Settings, config: PaperConfig, symbols: Sequence[Symbol]) -> dict[str, OHLCV]:
    """The candles the embedded venue replays for ``symbols``: ``config.bars``, else the configured data
    (the store, the shared recorded data, else a synthetic market of its own seed per symbol), over the
    time range they all have. Read and checked before anything is written: a bad file changes nothing."""
    bt = settings.backtest
    if config.bars is not None:
        given = bars_by_symbol(config.bars)
        missing = [str(s) for s in symbols if str(s) not in given]
        if missing:
            raise ValueError(f"no candles given for {', '.join(missing)}")
        windows, _ = common_range([given[str(s)] for s in symbols])
    elif len(symbols) == 1:  # one symbol: its file when the settings name one
        source, _ = load_exchange_info_source(settings.rules, settings.data)
        windows = [load_bars(source.get(symbols[0]), Timeframe(bt.timeframe), settings.data, path=bt.data_path).bars]
    else:
        if bt.data_path is not None:
            raise ValueError("backtest.data_path is one symbol's candle file: a portfolio replays from the store "
                             "or the shared data")  # fmt: skip
        source, _ = load_exchange_info_source(settings.rules, settings.data)
        instruments = [source.get(s) for s in symbols]
        windows = list(load_portfolio_bars(instruments, Timeframe(bt.timeframe), settings.data).bars)
    warmup = config.warmup_bars or 0  # settled: never None here
    if warmup >= len(windows[0]):
        raise ValueError(f"no bar after the {warmup}-bar warm-up: {len(windows[0])} common bars are too few")
    return {str(s): bars for s, bars in zip(symbols, windows, strict=True)}


async def connect(
    settings: Settings, config: PaperConfig, gate: BarGate | None, symbols: Sequence[Symbol]
) -> Connection:
    """The client for the session's venue, and the embedded venue when this session starts one."""
    if config.credentials is not None:  # Binance: its spot testnet, or live
        keys, venue = config.credentials, config.venue or BinanceConfig("testnet")
        return Connection.binance(BinanceClient(venue, keys.api_key, keys.api_secret))
    if config.venue_url is not None:  # a venue already running: its history is whatever it has replayed
        rest_url = str(config.venue_url)
        client = BinanceClient(BinanceConfig("paper", rest_url, rest_url.replace("http", "ws", 1)),
                               PAPER_API_KEY, PAPER_API_SECRET)  # fmt: skip
        return Connection.binance(client)
    market = replayed_bars(settings, config, symbols)
    first = next(iter(market.values()))  # every series covers the same open times
    running = await _embedded_venue(settings, market, config, gate)
    client = BinanceClient(BinanceConfig("paper", running.rest_url, running.ws_url), PAPER_API_KEY, PAPER_API_SECRET)
    warmup = config.warmup_bars or 0
    live_from = int(first.open_time_ns[min(warmup, len(first) - 1)])  # the venue's history ends here
    return Connection.binance(client, running, int(first.open_time_ns[0]), live_from)


async def _embedded_venue(settings: Settings, market: dict[str, OHLCV], config: PaperConfig,
                          gate: BarGate | None) -> RunningVenue:  # fmt: skip
    """The venue on a free loopback port, replaying ``market`` on one clock for the paper account,
    funded with ``config.deposit`` of the quote currency, charging ``backtest.fee_rate`` (what the
    backtests' venue charges: parity compares fees)."""
    source, _ = load_exchange_info_source(settings.rules, settings.data)
    instruments = {Symbol(s): source.get(s) for s in market}
    info = ExchangeInfo(instruments, source.rate_limits, None)
    timeframe = next(iter(market.values())).timeframe
    state = build_state(info, timeframe, fee_rate=settings.backtest.fee_rate)
    state.add_api_key(PAPER_ACCOUNT, key=PAPER_API_KEY, secret=PAPER_API_SECRET)
    events = market_events([(instruments[Symbol(s)], bars) for s, bars in market.items()])
    speed = None if gate is not None else config.speed  # lockstep: as fast as the trader acts
    venue_config = VenueConfig(port=0, speed=speed, warmup_bars=config.warmup_bars or 0)
    quotes = {i.quote_asset for i in instruments.values()}
    deposits = {PAPER_ACCOUNT: {quote: config.deposit or Decimal(0) for quote in quotes}}
    return await start(state, events, venue_config, deposits, gate=None if gate is None else gate.wait)
