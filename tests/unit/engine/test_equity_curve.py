"""The compact equity curve rebuilds every point exactly and agrees with a plain per-bar list."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thunes.engine.equity import EquityCurve
from thunes.engine.performance import equity_arrays

D = Decimal
TICK = D("0.01")


def _curve(closes: list[int], marks: list[tuple[int, Decimal, Decimal]]) -> EquityCurve:
    curve = EquityCurve(np.arange(len(closes), dtype=np.int64) * 60, np.array(closes, dtype=np.int64), TICK)
    for index, quote, base in marks:
        curve.mark(index, quote, base)
    return curve


@given(
    closes=st.lists(st.integers(1, 10**9), min_size=1, max_size=60),
    changes=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 10**12), st.integers(0, 10**8)), max_size=8),
)
def test_points_when_balances_change_at_some_bars_then_equal_to_the_plain_list(
    closes: list[int], changes: list[tuple[int, int, int]]
) -> None:
    later = {i: (i, D(q) / 100, D(b) / 10**8) for i, q, b in changes if 0 < i < len(closes)}
    marks = [(0, D(1000), D(0)), *sorted(later.values())]
    curve = _curve(closes, marks)
    plain, held = [], marks[0]
    for i, close in enumerate(closes):
        held = next((m for m in reversed(marks) if m[0] <= i), held)
        plain.append((i * 60, held[1] + held[2] * close * TICK))

    assert list(curve) == plain
    assert [curve[i] for i in range(len(plain))] == plain
    assert curve[-1] == plain[-1] and curve[1:3] == plain[1:3]
    times, values = equity_arrays(curve)
    assert times.tolist() == [t for t, _ in plain]
    assert values.tolist() == [float(v) for _, v in plain]  # correctly rounded: the fast path's bits


@given(
    closes=st.lists(st.integers(1, 10**12), min_size=1, max_size=30),
    quote=st.integers(0, 10**24),
    base=st.integers(0, 10**16),
    scale=st.integers(0, 30),
)
def test_arrays_when_any_amounts_then_each_value_is_the_exact_equity_correctly_rounded(
    closes: list[int], quote: int, base: int, scale: int
) -> None:
    """Beyond 53 bits or 22 decimals the vectorised division would round twice: the per-point path."""
    curve = _curve(closes, [(0, D(1000), D(0)), (len(closes) // 2, D(quote).scaleb(-scale), D(base).scaleb(-8))])

    assert equity_arrays(curve)[1].tolist() == [float(v) for _, v in curve]


def test_mark_when_same_bar_twice_then_last_wins_and_when_back_in_time_then_refused() -> None:
    curve = _curve([100, 200, 300], [(0, D(10), D(0)), (1, D(5), D(1)), (1, D(4), D(2))])

    assert list(curve) == [(0, D(10)), (60, D(8)), (120, D(10))]  # 4 + 2 * 2.00, then 4 + 2 * 3.00
    with pytest.raises(ValueError, match="before the last mark"):
        curve.mark(0, D(1), D(1))
    with pytest.raises(IndexError):
        curve[3]


def test_curve_when_never_marked_then_empty_and_first_mark_must_be_point_zero() -> None:
    curve = _curve([100, 200], [])

    assert len(curve) == 0 and not curve and list(curve) == []
    assert equity_arrays(curve)[0].size == 0
    with pytest.raises(ValueError, match="point 0"):
        curve.mark(1, D(1), D(0))


@given(
    prices=st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 10**6), st.integers(1, 10**4)), min_size=1,
                    max_size=40),
    changes=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 10**12), st.lists(st.integers(0, 10**8), min_size=3,
                                                                                    max_size=3)), max_size=6),
)  # fmt: skip
def test_points_when_several_assets_then_cash_plus_each_holding_at_its_own_price_and_tick(
    prices: list[tuple[int, int, int]], changes: list[tuple[int, int, list[int]]]
) -> None:
    # Arrange: three assets, each priced in its own ticks; balances change at some points
    ticks = (D("0.01"), D("0.001"), D("0.1"))
    columns = [np.array([p[k] for p in prices], dtype=np.int64) for k in range(3)]
    curve = EquityCurve.of_assets(np.arange(len(prices), dtype=np.int64) * 60, columns, ticks)
    later = {i: (i, D(q) / 100, tuple(D(b) / 10**8 for b in bases)) for i, q, bases in changes if 0 < i < len(prices)}
    marks = [(0, D(1000), (D(0), D(0), D(0))), *sorted(later.values())]

    # Act
    for index, quote, bases in marks:
        curve.mark(index, quote, *bases)

    # Assert
    plain, held = [], marks[0]
    for i, row in enumerate(prices):
        held = next((m for m in reversed(marks) if m[0] <= i), held)
        plain.append((i * 60, held[1] + sum((b * p * t for b, p, t in zip(held[2], row, ticks, strict=True)), D(0))))
    assert list(curve) == plain
    assert [curve[i] for i in range(len(plain))] == plain
    times, values = equity_arrays(curve)
    assert times.tolist() == [t for t, _ in plain]
    assert values.tolist() == [float(v) for _, v in plain]  # correctly rounded, as for one asset


def test_mark_when_the_count_of_base_amounts_is_not_the_count_of_assets_then_refused() -> None:
    curve = EquityCurve.of_assets(np.arange(3, dtype=np.int64), [np.ones(3, dtype=np.int64)] * 2, [TICK, TICK])

    with pytest.raises(ValueError, match="2 assets"):
        curve.mark(0, D(1000), D(0))
    with pytest.raises(ValueError, match="3 times"):
        EquityCurve.of_assets(np.arange(3, dtype=np.int64), [np.ones(2, dtype=np.int64)], [TICK])
