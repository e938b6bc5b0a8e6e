"""The session's boundary jobs follow the market clock even when no candle closes (issue 16 item 1):
with 2-hour candles none closes at 23:00 UTC, yet the daily summary is written then, from the session's
timer reading the venue's market time (a replay's ``serverTime``, which moves with its events; one of
the 22:00 candle's is at 23:00). Before, the jobs ran only after a closed candle: the day's summary came
with the candle closing at midnight, counting it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from thunes.app.config import load_settings
from thunes.domain import Symbol
from thunes.domain.market import Timeframe
from thunes.session.paper import PaperConfig, PaperStatus, run_paper
from thunes.session.venue import replayed_bars

pytestmark = pytest.mark.slow


def _summaries(data_dir: Path) -> dict[str, dict[str, object]]:
    path = data_dir / "daily_summaries.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return {str(s["day"]): s for s in map(json.loads, lines)}


def test_daily_summary_when_no_candle_closes_at_23h_then_the_market_clock_writes_it_before_midnight(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))
    monkeypatch.setenv("THUNES_BACKTEST__TIMEFRAME", "2h")  # candles close at 22:00 and 00:00, none at 23:00
    settings = load_settings()
    data_dir = tmp_path / "paper"
    # An hour of market a second; the jobs look at the market clock every 50 ms.
    config = PaperConfig(duration_s=120, speed=3600, data_dir=data_dir, jobs_every_s=0.05)
    bars = replayed_bars(settings, config.settled(settings.backtest), [Symbol("BTCUSDT")])["BTCUSDT"]
    live = bars.open_time_ns[settings.backtest.warmup_bars :]
    first = datetime.fromtimestamp(int(live[0]) / 1e9, tz=UTC)
    day = first.date().isoformat()  # the session's first day of trading, summarised at its 23:00
    at_23_ns = int(datetime.combine(first.date(), datetime.min.time(), UTC).timestamp() * 1e9) + 23 * 3_600 * 10**9
    closed_by_23 = int(np.count_nonzero(live + Timeframe.H2.nanoseconds <= at_23_ns))
    midnight = datetime.combine(first.date() + timedelta(days=1), datetime.min.time(), UTC)

    async def session() -> PaperStatus:
        stop = asyncio.Event()

        async def watch() -> None:  # the day's summary written: enough seen
            while day not in _summaries(data_dir):
                await asyncio.sleep(0.05)
            stop.set()

        def on_bar(status: PaperStatus) -> None:  # the candle closing at midnight traded: enough seen too
            if (
                status.last_bar_ns is not None
                and status.last_bar_ns + Timeframe.H2.nanoseconds >= midnight.timestamp() * 1e9
            ):
                stop.set()

        watching = asyncio.ensure_future(watch())
        try:
            return await run_paper(settings, config, on_bar, stop)
        finally:
            watching.cancel()

    asyncio.run(session())
    summary = _summaries(data_dir)[day]

    assert summary["bars"] == closed_by_23  # written at 23:00, before the candle closing at midnight was traded
