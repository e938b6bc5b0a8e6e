"""Replay bars into a venue only when someone is about to look: the event backtest's market feed.

A bar replayed into :class:`SimVenue` changes a symbol's market in four ways: the quote (overwritten
by the next bar), the slippage context (the previous bar's, set by each bar), the last price and the
``avgPrice`` window (each trade; trades older than ``avgPriceMins`` drop out) and, only while orders
rest, fills. So when nothing rests, the market an order meets at the close of bar ``row`` is what
this sets, straight from the integer columns: the trades of the bars still in the window, back to the
last bar that traded at all, then bar ``row``'s context, quote and clock. While orders rest, bars are
replayed in full through :func:`~thunes.simvenue.replay.feed_plan`, as the eager replay does. Both
follow :mod:`~thunes.simvenue.replay_model` (which trades a bar makes, when, how big). Tests hold lazy
and eager replays equal: the market at any row, and a backtest order for order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, getcontext
from operator import mul

import numpy as np
import numpy.typing as npt

from thunes.domain.market import Bar
from thunes.features.tick_bars import TickBars
from thunes.simvenue.core import SimVenue
from thunes.simvenue.replay import NS_PER_MS, BarPlan, feed_plan, plan_bar
from thunes.simvenue.replay_model import CLOSE, HIGH, LOW, OPEN, REPLAY

__all__ = ["TOO_MANY_LOTS", "LazyBarFeed", "part_lots", "replay_together"]


TOO_MANY_LOTS = -1
"""``part_lots``'s mark for a part beyond int64 (absurd volumes, but data is data): exact in ``Decimal`` on use."""


def part_lots(volume: npt.NDArray[np.float64], step_size: Decimal) -> npt.NDArray[np.int64]:
    """Each bar's replayed trade size in lots: ``ReplayModel.part`` of ``Decimal(repr(volume))`` (a share
    of the volume, down to the step), for a million rows at numpy speed.

    Exchange volumes have few decimals: when ``volume * 10**d`` is a whole number below 10**15 whose
    quotient by ``10**d`` is the float itself, that decimal has at most 15 digits, so it *is*
    ``repr(volume)``, and the floor is an integer division. Other rows use the float quotient where it
    is far from a whole number, and ``Decimal`` where it is too close for a float to tell.
    """
    digits = max(8, -int(step_size.as_tuple().exponent))
    scale = 10**digits
    scaled = np.rint(volume * scale)
    exact = (scaled / scale == volume) & (scaled < 1e15)
    parts = REPLAY.volume_parts
    quotient = volume / (parts * float(step_size))
    huge = quotient >= 2.0**62
    lots = np.floor(np.where(huge, 0.0, quotient)).astype(np.int64)
    lots[exact] = scaled[exact].astype(np.int64) // (parts * int(step_size * scale))
    unsure = ~exact & ~huge & (np.abs(quotient - np.rint(quotient)) <= 1e-9 * np.maximum(1.0, quotient))
    for row in np.flatnonzero(unsure).tolist():
        lots[row] = int(_exact_part(volume.item(row), step_size) / step_size)
    lots[huge] = TOO_MANY_LOTS
    return lots


def _coefficient(value: Decimal) -> int:
    """The integer of ``value``'s digits (``Decimal("0.050")``: 50)."""
    return int("".join(map(str, value.as_tuple().digits)) or "0")


def _exact_part(volume: float, step_size: Decimal) -> Decimal:
    return REPLAY.part(Decimal(repr(volume)), step_size)


class LazyBarFeed:
    """Feeds ``bars`` (one symbol) to ``venue`` on demand; ``advance(ts_ns)`` moves the venue's clock."""

    def __init__(self, venue: SimVenue, bars: TickBars, step_size: Decimal, advance: Callable[[int], None]) -> None:
        self.venue, self.bars, self.step_size, self._advance = venue, bars, step_size, advance
        self._market = venue.market(str(bars.symbol))
        self._window_ms = self._market.avg_mins_ms  # the venue's own avgPrice window
        self._parts = part_lots(bars.ohlcv.volume, step_size)
        # Each row's last trading row at or before it (-1: none yet): where the venue's last price comes from.
        rows = np.arange(len(self._parts), dtype=np.int64)
        self._last_trading = np.maximum.accumulate(np.where(self._parts != 0, rows, -1)) if len(rows) else rows
        # Where a bar's trades fall after its open. When each offset is whole ms (every timeframe's is),
        # a trade's ms is its open's ms plus the offset's, whatever the open's sub-ms part.
        self._offsets_ns = REPLAY.offsets_ns(bars.span_ns)
        self._whole_ms = all(offset % NS_PER_MS == 0 for offset in self._offsets_ns)
        self._offsets_ms = tuple(offset // NS_PER_MS for offset in self._offsets_ns)
        # Each path's points as (offset ms, column), made once: _trades walks them for every bar it reads.
        self._timed = (REPLAY.rising, tuple(zip(self._offsets_ms, REPLAY.rising, strict=True)),
                       tuple(zip(self._offsets_ms, REPLAY.falling, strict=True)))  # fmt: skip
        self._symbol = str(bars.symbol)
        # How often each path visits each column (OPEN, HIGH, LOW, CLOSE): a bar's ticks summed over its points.
        self._weights = tuple(tuple(path.count(c) for c in (OPEN, HIGH, LOW, CLOSE))
                              for path in (REPLAY.rising, REPLAY.falling))  # fmt: skip
        self._tick_sums = self._sum_ticks()
        self._away = bars.tick_size * REPLAY.quote_ticks  # the quote's distance from a point's price
        # A trade's price x qty is ticks x lots times this, exactly: the coefficients multiply, exponents add.
        self._tick_step = bars.tick_size * step_size
        self._coefficient = max(_coefficient(self._tick_step), _coefficient(step_size), 1)
        self._prec, self._bound = 0, 0
        self.fed = -1  # the last row replayed
        self._last: BarPlan | None = None  # its plan, when it was replayed in full
        self.target = -1  # the last row declared due
        self._kept: tuple[int, Bar] | None = None

    @property
    def resting(self) -> bool:
        """Whether orders rest on the symbol: then every bar matters (it may fill them) and is replayed."""
        return self._market.buy_top is not None or self._market.sell_top is not None

    def due(self, row: int) -> None:
        """Bar ``row`` has closed: :meth:`catch_up` replays up to it (the venue need not see it before)."""
        self.target = row

    def catch_up(self) -> None:
        """Replay up to the bar last declared :meth:`due` (a no-op when already there)."""
        self.feed_to(self.target)

    def feed_to(self, row: int) -> None:
        """Leave the venue's market as replaying every bar up to ``row`` (its close) would have."""
        if row <= self.fed:
            return
        market = self._market
        if market.buy_top is not None or market.sell_top is not None:  # resting: every bar may fill a resting
            # order, so each is replayed in full, as the eager replay does
            self._replay(self.fed + 1, row)
            return
        start = max(self.fed + 1, self._first_needed(row))
        lots, notional = self._sums(start, row)
        if lots > 0 and max(lots, notional) < self._exact_below():  # the sums in Decimal are exact
            # The trades themselves are made only if the venue needs them one by one (most age out first).
            # Their times: from the open of ``start`` (no point before its bar's open) to the close of ``row``.
            times, bars = self.bars.ohlcv.open_time_ns, self.bars
            last_price = bars.close.item(self._last_trading.item(row)) * bars.tick_size  # a path ends at the close
            market.record_deferred(lambda: self._trades(start, row)[0], lots * self.step_size,
                                   notional * self._tick_step, last_price, times.item(start) // NS_PER_MS,
                                   (times.item(row) + bars.span_ns) // NS_PER_MS)  # fmt: skip
        elif lots:
            market.record_trades(self._trades(start, row)[0])
        self._show_close(row)
        self.fed, self._last = row, None

    def _replay(self, start: int, stop: int) -> None:
        """Rows ``start..stop`` (``start`` is the row after the last fed) through
        :func:`~thunes.simvenue.replay.feed_plan`, one after the other."""
        tick, venue, advance = self.bars.tick_size, self.venue, self._advance
        for plan in self.take_plans(stop):
            feed_plan(venue, plan, tick, advance)

    def take_plans(self, row: int) -> list[BarPlan]:
        """The plans of the rows after the last fed up to ``row``, counted as fed: the caller replays
        them (:meth:`_replay`, or :func:`replay_together` beside other symbols')."""
        start = self.fed + 1
        previous = self._last if self._last is not None else self._stub(start - 1)
        plans: list[BarPlan] = []
        for r in range(start, row + 1):
            previous = plan_bar(self.bar(r), previous, self.step_size)
            plans.append(previous)
        if plans:
            self.fed, self._last = row, previous
        return plans

    def _show_close(self, row: int) -> None:
        """What bar ``row``'s replay leaves besides its trades: the previous bar's volume and range as the
        slippage context, the quote around the close showing the previous bar's part (at least a step;
        its own for the first bar), and the clock at the close. As :func:`plan_bar` computes them."""
        bars, tick, step, symbol = self.bars, self.bars.tick_size, self.step_size, self._symbol
        if row > 0:
            last = row - 1
            spread = REPLAY.range_fraction(bars.high.item(last), bars.low.item(last), bars.close.item(last))
            self.venue.on_bar_context(symbol, Decimal(repr(bars.ohlcv.volume.item(last))), spread)
        shown = REPLAY.shown(self._part(row - 1) if row > 0 else None, self._part(row), step)
        price, away = bars.close.item(row) * tick, self._away  # the last point is the close
        self.venue.on_quote(symbol, price - away, shown, price + away, shown)
        open_ns = bars.ohlcv.open_time_ns.item(row)
        self._advance(open_ns)
        self._advance(open_ns + bars.span_ns)

    def _first_needed(self, row: int) -> int:
        """The first row whose trades can still show at the close of ``row``: those opened since
        ``ReplayModel.first_open_in_window_ns``, and the last bar that traded before them (its price is
        the venue's last price until another trades).
        """
        bars = self.bars
        times = bars.ohlcv.open_time_ns
        open_ns, span = times.item(row), bars.span_ns
        horizon = REPLAY.first_open_in_window_ns(open_ns + span, span, self._window_ms)
        # The first row opened at or after ``horizon``: bars are evenly spaced but for gaps, so it is the
        # row that many spans back when its neighbours agree (two reads); else a binary search.
        first, n = row - (open_ns - horizon) // span, len(times)
        if not (0 <= first <= n and (first == n or times.item(first) >= horizon)
                and (first == 0 or times.item(first - 1) < horizon)):  # fmt: skip
            first = bars.first_row_at_or_after(horizon)
        last = self._last_trading.item(row)  # does some row in first..row trade?
        if last >= first:
            return first
        return last if last >= 0 else 0  # back to the last that traded, or the start

    def _exact_below(self) -> int:
        """Integer sums of lots and of ticks x lots below this make exact ``Decimal`` sums (their
        coefficients fit the context's precision)."""
        prec = getcontext().prec
        if prec != self._prec:
            self._prec, self._bound = prec, 10 ** (prec - 1) // self._coefficient
        return self._bound

    def _sum_ticks(self) -> npt.NDArray[np.int64] | None:
        """Each row's ticks summed over its path's points, for :meth:`_sums` (None: a sum could pass int64)."""
        bars, (up, down) = self.bars, self._weights
        columns = (bars.open, bars.high, bars.low, bars.close)
        if not len(bars) or max(int(np.abs(c).max()) for c in columns) * max(sum(up), sum(down)) >= 2**62:
            return None
        if up == down:  # both paths visit each column as often (the model's own): one column, summed in place
            total = np.zeros(len(bars), dtype=np.int64)
            for w, column in zip(up, columns, strict=True):
                total += column if w == 1 else w * column
            return total
        rising = sum(w * c for w, c in zip(up, columns, strict=True))
        falling = sum(w * c for w, c in zip(down, columns, strict=True))
        return np.where(bars.close >= bars.open, rising, falling).astype(np.int64)  # ReplayModel.columns

    def _sums(self, start: int, stop: int) -> tuple[int, int]:
        """The sums :meth:`_trades` gives with the trades of rows ``start..stop``, without making them:
        each bar's lots times its points' ticks (its path's columns, each as often as the path visits it)."""
        rows = slice(start, stop + 1)
        lots = self._parts[rows].tolist()
        if not any(lots):
            return 0, 0
        if TOO_MANY_LOTS in lots:
            return -1, 0
        if self._tick_sums is not None:  # Python ints: the products and their sum are exact
            return sum(lots) * len(REPLAY.rising), sum(map(mul, lots, self._tick_sums[rows].tolist()))
        bars, (up, down) = self.bars, self._weights
        opens, highs, lows, closes = (bars.open[rows].tolist(), bars.high[rows].tolist(), bars.low[rows].tolist(),
                                      bars.close[rows].tolist())  # fmt: skip
        lots_sum = notional = 0
        for i, n in enumerate(lots):
            if n:
                o, c = opens[i], closes[i]
                w = up if c >= o else down  # ReplayModel.columns
                notional += n * (w[0] * o + w[1] * highs[i] + w[2] * lows[i] + w[3] * c)
                lots_sum += n
        return lots_sum * len(REPLAY.rising), notional

    def _trades(self, start: int, stop: int) -> tuple[list[tuple[int, Decimal, Decimal]], int, int]:
        """The trades of rows ``start..stop`` as ``(time ms, price, qty)``: the model's points of each bar
        that trades, what ``feed_plan`` records of it (a trade is never stamped before the close of the bar
        before, where that replay leaves the clock). The rows' columns are read in one slice each; a bar
        opened after the bar before has closed (the usual case) needs no clamp and takes the short way.
        With them their sums in integers, lots and ticks x lots (lots -1: a part beyond int64, not summed)."""
        bars, tick, span = self.bars, self.bars.tick_size, self.bars.span_ns
        rows, before = slice(start, stop + 1), max(start - 1, 0)
        lots = self._parts[rows].tolist()
        if not any(lots):
            return [], 0, 0
        times = bars.ohlcv.open_time_ns[before : stop + 1].tolist()
        if start == 0:
            times.insert(0, times[0] - span)  # the first bar has no bar before: its own open is the floor
        opens, highs, lows, closes = (bars.open[rows].tolist(), bars.high[rows].tolist(), bars.low[rows].tolist(),
                                      bars.close[rows].tolist())  # fmt: skip
        whole_ms, step, path, columns = self._whole_ms, self.step_size, REPLAY.path, REPLAY.columns
        rising, timed_rising, timed_falling = self._timed
        per_bar = len(timed_rising)  # trades a bar makes
        trades: list[tuple[int, Decimal, Decimal]] = []
        append = trades.append
        lots_sum = notional = 0
        for i, n in enumerate(lots):
            if n == 0:
                continue
            prices, open_ns = (opens[i], highs[i], lows[i], closes[i]), times[i + 1]
            if n == TOO_MANY_LOTS:
                qty, lots_sum = self._part(start + i), -1
            else:
                qty = n * step
            floor_ns = times[i] + span  # the close of the bar before
            ticks = 0
            if whole_ms and floor_ns <= open_ns:
                t = open_ns // NS_PER_MS
                # A plain loop, not a comprehension: no function frame per bar (Python 3.11).
                for d, c in timed_rising if columns(opens[i], closes[i]) is rising else timed_falling:
                    price = prices[c]
                    ticks += price
                    append((t + d, price * tick, qty))
            else:
                floor_ms = max(open_ns, floor_ns) // NS_PER_MS
                points = path(*prices)
                ticks = sum(points)
                trades += [(max((open_ns + d) // NS_PER_MS, floor_ms), price * tick, qty)
                           for d, price in zip(self._offsets_ns, points, strict=True)]  # fmt: skip
            if lots_sum >= 0:
                lots_sum += n * per_bar
                notional += n * ticks
        return trades, lots_sum, notional

    def bar(self, row: int) -> Bar:
        """Bar ``row`` (the last one asked for is kept: the trader and the replay both want it)."""
        kept = self._kept
        if kept is not None and kept[0] == row:
            return kept[1]
        bar = self.bars.bar(row)
        self._kept = (row, bar)
        return bar

    def _part(self, row: int) -> Decimal:
        lots = self._parts.item(row)
        if lots == TOO_MANY_LOTS:
            return _exact_part(self.bars.ohlcv.volume.item(row), self.step_size)
        return lots * self.step_size

    def _stub(self, row: int) -> BarPlan | None:
        """A plan of ``row`` good only as the *previous* of the next (its bar and its part; no points)."""
        if row < 0:
            return None
        part = self._part(row)
        return BarPlan(self.bars.bar(row), str(self.bars.symbol), None, (), part, part)


def replay_together(feeds: Sequence[tuple[LazyBarFeed, int]]) -> None:
    """Replay several symbols' bars in full up to their rows (one venue, one clock), every event at its
    own time across the symbols, as a venue replaying them all side by side does: one symbol's bar fed
    whole before another's would stamp the other's trades at the first one's close (the venue's clock
    never goes back), and a resting order's fill time and the average-price window would move."""
    events: list[tuple[int, int, int, BarPlan, tuple[int, Decimal] | None]] = []
    for k, (feed, row) in enumerate(feeds):
        for plan in feed.take_plans(row):
            events.append((plan.points[0][0], k, len(events), plan, None))  # its slippage context, at its open
            events += [(point[0], k, len(events) + n, plan, point) for n, point in enumerate(plan.points, 1)]
    events.sort(key=lambda e: e[:3])
    closes = [feed.fed for feed, _ in feeds]
    for ts, k, _, plan, point in events:
        feed = feeds[k][0]
        feed._advance(ts)
        if point is None:
            if plan.context is not None:
                feed.venue.on_bar_context(plan.symbol, *plan.context)
        else:  # a quote, then a trade, at this point: on_path's floor is the clock, now at ``ts`` or later
            feed.venue.on_path(plan.symbol, (point,), plan.part, plan.shown, feed.bars.tick_size * REPLAY.quote_ticks)
    for (feed, _), row in zip(feeds, closes, strict=True):
        if row >= 0:
            feed._advance(feed.bars.ohlcv.open_time_ns.item(row) + feed.bars.span_ns)
