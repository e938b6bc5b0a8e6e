"""Look-ahead check: does any signal change when the future is taken away?

A causal strategy decides at the close of bar ``i`` from bars ``0..i`` only, so running it on the
data cut after bar ``c - 1`` must give, for every row before the cut, exactly the signals of the
full run. A strategy that peeks (a shifted column, a centred window, a normalisation over the
whole series, a reference to the full array) gives different signals near the cut. This is the
test freqtrade's lookahead-analysis makes, done on both faces of our strategies.

The strategy is rebuilt for every cut by a factory that is handed the truncated candles, so any
data a strategy holds on to is the truncated data too: that is what exposes a strategy reading
ahead through an array it was given.

Where to cut: a leak shows at a cut only if the full run has a signal there that the truncated run
cannot have produced. Strategies that signal rarely (a crossover fires a few times a month) would
slip through evenly spaced cuts, so by default half the cuts fall right after bars where the full
run signalled, the other half evenly over the data.

What it cannot see: data the strategy does not get from the candles it is handed. A strategy (a
user's, say) that opens a file of prices, reads the clock or a global filled elsewhere peeks at
the future without any cut changing what it reads, and passes. The strategy API forbids it
(docs/strategy-api.md); this check can only hold the strategy to the data it is handed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from thunes.domain.market import Bar
from thunes.features.ohlcv import OHLCV, iter_bars
from thunes.strategy.base import Signal, SignalArray, Strategy

__all__ = [
    "Face",
    "LookaheadReport",
    "LookaheadViolation",
    "StrategyFactory",
    "check_lookahead",
    "cut_points",
    "signal_cut_points",
]

StrategyFactory = Callable[[OHLCV], Strategy]
"""Builds a fresh strategy for the candles it is allowed to see."""


class Face(StrEnum):
    """Which face of the strategy produced the signals: incremental or vectorised."""

    ON_BAR = "on_bar"
    SIGNALS = "signals"


@dataclass(frozen=True, slots=True)
class LookaheadViolation:
    """A row whose signal differs between the full run and the run cut after ``cut`` bars."""

    face: Face
    cut: int
    row: int
    open_time_ns: int
    full: Signal
    truncated: Signal


@dataclass(frozen=True, slots=True)
class LookaheadReport:
    """What was compared and every signal that changed when future bars were removed."""

    strategy: str
    bars: int
    cuts: tuple[int, ...]
    faces: tuple[Face, ...]
    signals_compared: int
    violations: tuple[LookaheadViolation, ...]

    @property
    def passed(self) -> bool:
        return not self.violations


def cut_points(n_bars: int, samples: int, first: int = 1) -> list[int]:
    """``samples`` cuts (bars kept) spread evenly over ``[first, n_bars - 1]``, deduplicated.

    A cut at ``n_bars`` would be the full run itself, so the last cut keeps one bar fewer.
    """
    if samples < 1:
        raise ValueError(f"need at least one cut, got {samples}")
    low, high = max(1, first), n_bars - 1
    if high < low:
        return []
    return sorted({int(c) for c in np.linspace(low, high, num=samples).round()})


def signal_cut_points(signals: Sequence[Sequence[int]], samples: int) -> list[int]:
    """Up to ``samples`` cuts right after rows where any of ``signals`` is not HOLD, spread evenly.

    Cutting after row ``r`` (keeping ``r + 1`` bars) asks the truncated run to produce the signal
    at ``r`` as its very last decision, where a peek at bar ``r + 1`` has nothing to read.
    """
    if samples < 1 or not signals:
        return []
    n = len(signals[0])
    rows = sorted({r for face in signals for r, s in enumerate(face) if s != Signal.HOLD and r + 1 < n})
    if not rows:
        return []
    picks = np.linspace(0, len(rows) - 1, num=min(samples, len(rows))).round().astype(int)
    return sorted({rows[k] + 1 for k in picks.tolist()})


def _on_bar_signals(strategy: Strategy, bars: Sequence[Bar]) -> list[Signal]:
    strategy.reset()
    return [strategy.on_bar(bar) for bar in bars]


def _differences(
    face: Face, cut: int, full: Sequence[int], truncated: Sequence[int], times: list[int]
) -> list[LookaheadViolation]:
    return [
        LookaheadViolation(face, cut, row, times[row], Signal(full[row]), Signal(truncated[row]))
        for row in range(cut)
        if full[row] != truncated[row]
    ]


def check_lookahead(
    factory: StrategyFactory,
    bars: OHLCV,
    *,
    samples: int = 20,
    cuts: Sequence[int] | None = None,
    faces: Sequence[Face] = (Face.ON_BAR, Face.SIGNALS),
    on_cut: Callable[[int, int], None] | None = None,
) -> LookaheadReport:
    """Compare each face's signals on ``bars`` with those on ``bars[:cut]`` for every cut.

    ``cuts`` (bars kept) default to ``samples`` evenly spaced ones after the strategy's warm-up
    (:func:`cut_points`) plus up to ``samples`` right after signals (:func:`signal_cut_points`);
    ``on_cut`` is called with (cuts done, cuts total) for progress reporting.
    """
    reference = factory(bars)
    domain_bars = list(iter_bars(bars, reference.tick_size))
    times = bars.open_time_ns.tolist()
    full: dict[Face, Sequence[int]] = {}
    if Face.ON_BAR in faces:
        full[Face.ON_BAR] = _on_bar_signals(reference, domain_bars)
    if Face.SIGNALS in faces:
        full[Face.SIGNALS] = _as_list(reference.signals(bars))
    if cuts is None:
        even = cut_points(len(bars), samples, reference.warmup)
        chosen = sorted(set(even) | set(signal_cut_points(list(full.values()), samples)))
    else:
        chosen = sorted(set(cuts))
    if any(not 0 < c < len(bars) for c in chosen):
        raise ValueError(f"cuts must lie in [1, {len(bars) - 1}], got {chosen}")
    violations: list[LookaheadViolation] = []
    compared = 0
    for done, cut in enumerate(chosen, start=1):
        seen = bars.slice(0, cut)
        for face, expected in full.items():
            strategy = factory(seen)
            got = (
                _on_bar_signals(strategy, domain_bars[:cut])
                if face is Face.ON_BAR
                else _as_list(strategy.signals(seen))
            )
            if len(got) != cut:
                raise ValueError(f"{strategy.name} {face} returned {len(got)} signals for {cut} bars")
            violations.extend(_differences(face, cut, expected, got, times))
            compared += cut
        if on_cut is not None:
            on_cut(done, len(chosen))
    return LookaheadReport(
        strategy=reference.name,
        bars=len(bars),
        cuts=tuple(chosen),
        faces=tuple(full),
        signals_compared=compared,
        violations=tuple(violations),
    )


def _as_list(signals: SignalArray) -> list[int]:
    return [int(s) for s in signals.tolist()]
