"""L2Book: integer grid conversions, Binance's local-order-book rules, and taking liquidity."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thunes.domain.market import BookLevel
from thunes.simvenue.book import DiffResult, Grid, L2Book

TICK = Decimal("0.01")
STEP = Decimal("0.00001")


def _book() -> L2Book:
    """A synced book at update id 100: bids 100.00 x 1, 99.99 x 2; asks 100.01 x 0.5, 100.03 x 3."""
    book = L2Book(TICK, STEP)
    book.apply_snapshot(
        100,
        bids=[("100.00000000", "1.00000000"), ("99.99000000", "2.00000000")],
        asks=[("100.01000000", "0.50000000"), ("100.03000000", "3.00000000")],
    )
    return book


# --- conversions ----------------------------------------------------------------------------------


def test_to_ticks_when_on_grid_then_exact_int_from_str_and_decimal() -> None:
    book = L2Book(TICK, STEP)

    assert book.to_ticks("61837.63000000") == 6_183_763
    assert book.to_ticks(Decimal("61837.63")) == 6_183_763
    assert book.to_lots("3.78826000") == 378_826
    assert book.to_lots(Decimal("0.00001")) == 1


def test_to_ticks_when_off_grid_then_value_error() -> None:
    book = L2Book(TICK, STEP)

    with pytest.raises(ValueError, match="not a multiple"):
        book.to_ticks("61837.635")
    with pytest.raises(ValueError, match="not a multiple"):
        book.to_ticks(Decimal("0.001"))
    with pytest.raises(ValueError, match="not a multiple"):
        book.to_lots("93.75658700")


@pytest.mark.parametrize("text", ["abc", "", "1.2.3", "NaN", "Infinity", "1.5e"])
def test_to_ticks_when_not_a_number_then_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message varies with the kind of garbage)
        L2Book(TICK, STEP).to_ticks(text)


def test_price_and_qty_when_converted_back_then_exact_decimals() -> None:
    book = L2Book(TICK, STEP)

    assert book.price(6_183_763) == Decimal("61837.63")
    assert book.qty(378_826) == Decimal("3.78826")
    assert book.price(book.to_ticks("0.01")) == TICK


def test_grid_when_unit_is_not_a_power_of_ten_then_still_exact() -> None:
    half = Grid(Decimal("0.5"))
    tens = Grid(Decimal("25"))

    assert half.from_str("3.50000000") == 7
    assert tens.from_str("75.00") == 3
    assert tens.from_str("1E+2") == 4  # not plain text: goes through Decimal, same answer
    with pytest.raises(ValueError, match="not a multiple"):
        half.from_str("3.25")


@given(units=st.integers(min_value=0, max_value=10**15), pad=st.integers(min_value=0, max_value=6))
def test_grid_from_str_when_plain_text_then_equals_decimal_path(units: int, pad: int) -> None:
    grid = Grid(Decimal("0.00001"))
    text = f"{Decimal(units).scaleb(-5):f}" + ("0" * pad if units % 10 else "")

    assert grid.from_str(text) == grid.from_decimal(Decimal(text)) == units


@given(digits=st.integers(min_value=0, max_value=10**12), decimals=st.integers(min_value=0, max_value=10))
def test_grid_from_str_when_any_decimal_text_then_agrees_with_decimal_or_both_raise(digits: int, decimals: int) -> None:
    grid = Grid(Decimal("0.001"))
    text = f"{Decimal(digits).scaleb(-decimals):f}"

    try:
        expected: int | None = grid.from_decimal(Decimal(text))
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError, match="not a multiple"):
            grid.from_str(text)
    else:
        assert grid.from_str(text) == expected


def test_init_when_qty_unit_finer_than_step_then_off_step_levels_fit() -> None:
    book = L2Book(TICK, STEP, qty_unit=Decimal("0.00000001"))

    assert book.to_lots("93.75658700") == 9_375_658_700
    assert book.lots_per_step == 1000
    with pytest.raises(ValueError, match="step_size"):
        L2Book(TICK, Decimal("0.00001"), qty_unit=Decimal("0.00002"))


# --- snapshot and diff rules (web-socket-streams.md, "How to manage a local order book correctly") --


def test_apply_snapshot_then_best_prices_depth_and_update_id() -> None:
    book = _book()

    assert book.synced and book.last_update_id == 100
    assert book.best_bid() == (10_000, 100_000)
    assert book.best_ask() == (10_001, 50_000)
    assert book.depth(1) == ([(10_000, 100_000)], [(10_001, 50_000)])
    assert book.depth() == ([(10_000, 100_000), (9_999, 200_000)], [(10_001, 50_000), (10_003, 300_000)])
    assert book.level_counts() == (2, 2)


def test_apply_diff_when_no_snapshot_yet_then_unsynced_and_empty() -> None:
    book = L2Book(TICK, STEP)

    assert book.apply_diff(1, 2, [("1.00", "1.00")], []) is DiffResult.UNSYNCED
    assert book.best_bid() is None and book.best_ask() is None and book.last_update_id is None


def test_apply_diff_when_final_id_not_after_snapshot_then_stale_and_book_unchanged() -> None:
    book = _book()

    assert book.apply_diff(90, 99, [("100.00", "9.00")], []) is DiffResult.STALE
    assert book.apply_diff(95, 100, [("100.00", "9.00")], []) is DiffResult.STALE
    assert book.best_bid() == (10_000, 100_000) and book.last_update_id == 100 and book.synced


def test_apply_diff_when_first_diff_brackets_snapshot_id_then_applied() -> None:
    book = _book()

    result = book.apply_diff(95, 105, [("100.00", "0.5")], [])

    assert result is DiffResult.APPLIED
    assert book.last_update_id == 105 and book.best_bid() == (10_000, 50_000)


def test_apply_diff_when_first_diff_starts_right_after_snapshot_then_applied() -> None:
    book = _book()

    assert book.apply_diff(101, 101, [], []) is DiffResult.APPLIED
    assert book.last_update_id == 101


def test_apply_diff_when_first_diff_starts_after_snapshot_id_plus_one_then_gap_and_unsynced() -> None:
    book = _book()

    assert book.apply_diff(102, 110, [("100.00", "9.00")], []) is DiffResult.GAP
    assert not book.synced
    assert book.best_bid() == (10_000, 100_000) and book.last_update_id == 100


def test_apply_diff_when_next_diff_is_contiguous_then_applied() -> None:
    book = _book()
    book.apply_diff(95, 105, [], [])

    assert book.apply_diff(106, 110, [], [("100.02", "1.00")]) is DiffResult.APPLIED
    assert book.depth(2)[1] == [(10_001, 50_000), (10_002, 100_000)]


@pytest.mark.parametrize(("first", "final"), [(107, 110), (105, 110), (103, 106)])
def test_apply_diff_when_later_diff_not_previous_u_plus_one_then_gap(first: int, final: int) -> None:
    book = _book()
    book.apply_diff(95, 105, [], [])

    assert book.apply_diff(first, final, [], []) is DiffResult.GAP
    assert not book.synced


def test_apply_diff_when_unsynced_after_gap_then_refused_until_new_snapshot() -> None:
    book = _book()
    book.apply_diff(102, 110, [], [])

    assert book.apply_diff(101, 101, [], []) is DiffResult.UNSYNCED
    book.apply_snapshot(200, [("90.00", "1.0")], [("91.00", "1.0")])
    assert book.synced and book.best_bid() == (9_000, 100_000)
    assert book.apply_diff(199, 201, [], []) is DiffResult.APPLIED


def test_apply_diff_when_quantity_zero_then_level_removed_and_absent_removal_ignored() -> None:
    book = _book()

    book.apply_diff(101, 101, [("100.00000000", "0.00000000"), ("50.00", "0")], [("100.01", "0.00")])

    assert book.best_bid() == (9_999, 200_000)
    assert book.best_ask() == (10_003, 300_000)
    assert book.level_counts() == (1, 1)


def test_apply_diff_when_a_level_is_off_grid_then_value_error_and_nothing_applied() -> None:
    book = _book()

    with pytest.raises(ValueError, match="not a multiple"):
        book.apply_diff(101, 101, [("100.00", "5.0")], [("100.015", "1.0")])

    assert book.best_bid() == (10_000, 100_000) and book.last_update_id == 100 and book.synced


def test_apply_diff_when_first_id_after_final_id_then_value_error() -> None:
    with pytest.raises(ValueError, match="U=5 > u=4"):
        _book().apply_diff(5, 4, [], [])


def test_apply_snapshot_when_levels_are_decimals_or_book_levels_then_same_book() -> None:
    book = L2Book(TICK, STEP)

    book.apply_snapshot(7, [BookLevel(Decimal("10.00"), Decimal("1"))], [(Decimal("10.01"), Decimal("2"))])

    assert book.best_bid() == (1_000, 100_000) and book.best_ask() == (1_001, 200_000)


def test_apply_snapshot_when_negative_quantity_then_value_error() -> None:
    with pytest.raises(ValueError, match="invalid level"):
        L2Book(TICK, STEP).apply_snapshot(1, [("10.00", "-1")], [])


def test_invalidate_then_diffs_refused() -> None:
    book = _book()

    book.invalidate()

    assert book.apply_diff(101, 101, [], []) is DiffResult.UNSYNCED


# --- taking liquidity -----------------------------------------------------------------------------


def test_walk_when_buy_larger_than_best_then_levels_best_first_and_book_unchanged() -> None:
    book = _book()

    fills = book.walk("ask", 100_000)

    assert fills == [(10_001, 50_000), (10_003, 50_000)]
    assert book.best_ask() == (10_001, 50_000)


def test_walk_when_limit_price_then_stops_at_limit_inclusive() -> None:
    book = _book()

    assert book.walk("ask", 1_000_000, limit_ticks=10_002) == [(10_001, 50_000)]
    assert book.walk("ask", 1_000_000, limit_ticks=10_003) == [(10_001, 50_000), (10_003, 300_000)]
    assert book.walk("ask", 1_000, limit_ticks=10_000) == []


def test_walk_when_sell_then_bids_from_highest_down_to_limit() -> None:
    book = _book()

    assert book.walk("bid", 250_000) == [(10_000, 100_000), (9_999, 150_000)]
    assert book.walk("bid", 250_000, limit_ticks=10_000) == [(10_000, 100_000)]
    assert book.walk("bid", 0) == []


def test_walk_when_negative_lots_or_bad_side_then_value_error() -> None:
    with pytest.raises(ValueError, match="lots"):
        _book().walk("ask", -1)
    with pytest.raises(ValueError, match="side"):
        _book().walk("buy", 1)  # type: ignore[arg-type]


def test_consume_when_fills_from_walk_then_liquidity_removed() -> None:
    book = _book()

    book.consume("ask", book.walk("ask", 100_000))

    assert book.best_ask() == (10_003, 250_000)
    assert book.level_counts() == (2, 1)


def test_consume_when_more_than_resting_then_value_error_and_book_unchanged() -> None:
    book = _book()

    with pytest.raises(ValueError, match="cannot take"):
        book.consume("bid", [(10_000, 60_000), (10_000, 60_000)])

    assert book.best_bid() == (10_000, 100_000)


def test_consume_when_next_diff_sets_level_then_diff_quantity_wins() -> None:
    book = _book()
    book.consume("bid", [(10_000, 100_000)])
    assert book.best_bid() == (9_999, 200_000)

    book.apply_diff(101, 101, [("100.00", "0.70")], [])

    assert book.best_bid() == (10_000, 70_000)
    assert book.lots_at("bid", 10_000) == 70_000 and book.lots_at("ask", 10_000) == 0
