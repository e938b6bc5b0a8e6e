"""A compressed soak (run as its own process by ``test_production_chaos``): a lockstep paper session
on synthetic one-minute candles, with the resident set sampled every 250 candles; one JSON line out."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import thunes.app.cli.main  # noqa: F401 - the footprint of the `thunes trade` process, every command loaded
from thunes.adapters.datastore.synthetic import generate_ohlcv
from thunes.app.config import load_settings
from thunes.domain.market import Timeframe
from thunes.session.paper import PaperConfig, PaperStatus, run_paper

PAGE = os.sysconf("SC_PAGE_SIZE")
EVENTS_PER_BAR = 10  # 4 quotes, 4 trades, the slippage context and the close (simvenue.replay.bar_events)


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def main(n_bars: int) -> None:
    settings = load_settings(env={"THUNES_BACKTEST__TIMEFRAME": "1m", "THUNES_LOGGING__LEVEL": "WARNING"})
    bars = generate_ohlcv("BTCUSDT", Timeframe.M1, n_bars, seed=11)
    samples: list[float] = []

    def on_bar(status: PaperStatus) -> None:
        if status.bars % 250 == 0:
            samples.append(rss_mb())

    with tempfile.TemporaryDirectory() as tmp:
        config = PaperConfig(duration_s=600, data_dir=Path(tmp) / "soak", lockstep=True, bars=bars, warmup_bars=100)
        status = asyncio.run(run_paper(settings, config, on_bar))
    print(json.dumps({"bars": status.bars, "events": n_bars * EVENTS_PER_BAR, "orders": status.submitted,
                      "fills": status.filled, "venue_trades": status.venue_trades, "ledger_fills": status.ledger_fills,
                      "rejected": {str(k): v for k, v in status.rejected.items()}, "rss_mb": samples}))  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 12_000)
