"""What a session is asked to do (:class:`PaperConfig`) and the keys of a real venue; split from
:mod:`thunes.session.paper`, which runs it, so the session's venue wiring can read it too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from thunes.adapters.alerts import TelegramSettings
from thunes.adapters.storage.session_dir import SessionKind
from thunes.adapters.venues.binance.exchange import BinanceConfig
from thunes.app.config import BacktestSettings
from thunes.execution.reconciliation import OrphanPolicy
from thunes.features.ohlcv import OHLCV

__all__ = ["Credentials", "PaperConfig", "bars_by_symbol"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """API keys for a real venue; never in a repr, a log line or an error."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """A session: ``speed``, replay seconds per wall second; ``duration_s``, how long it trades
    (``None``: until ``stop``). ``credentials`` with ``venue`` in ``live`` mode make it a live
    session: real-time clock, ledger always resumed, risk limits capped to ``max_capital``."""

    duration_s: float | None = 30.0
    speed: float = 36_000.0
    warmup_bars: int | None = None  # None: backtest.warmup_bars, as a backtest of the same settings
    deposit: Decimal | None = None  # None: backtest.initial_cash (the embedded venue's deposit)
    data_dir: Path = Path("data/paper")
    fresh: bool = True
    venue_url: str | None = None  # an already running venue (``thunes venue serve``); else start one
    credentials: Credentials | None = None  # trade Binance with these keys instead (``venue``)
    venue: BinanceConfig | None = None  # which Binance the credentials trade (None: the spot testnet)
    max_capital: Decimal | None = None  # live: the risk limits are capped to it (composition.capped_limits)
    # Hourly in market time; in an accelerated replay that can be many times a second, so at most
    # once per this many wall seconds (the venue's request-weight budget is shared with trading).
    reconcile_min_interval_s: float = 2.0
    orphan_policy: OrphanPolicy = OrphanPolicy.CANCEL  # open venue orders the ledger does not know
    metrics_port: int | None = None  # Prometheus /metrics, /health, /ready here (0: any free port; None: off)
    metrics_host: str = "127.0.0.1"
    # Lockstep replay (embedded venue only): after each closed candle the venue waits for the trader,
    # and the session ends with the data; ``thunes parity`` compares it with a backtest.
    lockstep: bool = False
    bars: OHLCV | Mapping[str, OHLCV] | None = None  # the candles to replay (by symbol) instead of the configured data
    control_port: int | None = None  # the control API on 127.0.0.1 here (0: any free port; None: off)
    telegram: TelegramSettings | None = None  # Telegram alerts and commands (None: off)
    # A close time's candles wait this many wall seconds at most for a stalled symbol's (not in lockstep).
    candle_patience_s: float = 3.0
    jobs_every_s: float = 1.0  # how often the boundary jobs look at the market clock between candles
    bus_url: str | None = None  # NATS JetStream for every command and event (None: settings.bus.url, else off)

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError(f"duration_s must be positive or None, got {self.duration_s}")
        if self.venue is not None and self.credentials is None:
            raise ValueError("a Binance venue needs credentials")
        if not self.live:
            return
        if self.fresh:
            raise ValueError("a live session never wipes its ledger: fresh must be False")
        if self.max_capital is None:
            raise ValueError("a live session needs max_capital: its risk limits are capped to it")
        if self.lockstep or self.bars is not None or self.venue_url is not None:
            raise ValueError("a live session trades Binance's market: no lockstep, bars or venue_url")

    @property
    def live(self) -> bool:
        """Real money: Binance in live mode (wherever its endpoints point)."""
        return self.venue is not None and self.venue.mode == "live"

    @property
    def kind(self) -> SessionKind:
        """What the data directory is marked with: a paper or testnet one may be discarded, a live one never."""
        if self.live:
            return SessionKind.LIVE
        return SessionKind.PAPER if self.credentials is None else SessionKind.TESTNET

    def settled(self, backtest: BacktestSettings) -> PaperConfig:
        """The warm-up and deposit left to the settings taken from ``backtest`` (a session and a
        backtest of the same settings start alike)."""
        return replace(
            self,
            warmup_bars=backtest.warmup_bars if self.warmup_bars is None else self.warmup_bars,
            deposit=backtest.initial_cash if self.deposit is None else self.deposit,
        )


def bars_by_symbol(bars: OHLCV | Mapping[str, OHLCV]) -> dict[str, OHLCV]:
    """``PaperConfig.bars`` as a mapping by symbol (one series is its own symbol's)."""
    if isinstance(bars, OHLCV):
        return {bars.symbol: bars}
    return dict(bars)
