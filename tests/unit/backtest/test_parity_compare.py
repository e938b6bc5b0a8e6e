"""Parity's comparison of a portfolio: each symbol's first difference is named (orders, fills, denials),
and the account's fills are compared in booking order, so two symbols booked in another order at one
close time differ even when each symbol alone is identical."""

from __future__ import annotations

from decimal import Decimal

from thunes.backtest.parity import FillRow, OrderRow, ParityReport, SymbolParity, compare

D = Decimal
BTC: list[FillRow] = [("BTCUSDT", "b1", "BUY", D("60000.00"), D("0.001"), D("0.06"), "USDT", 1),
                      ("BTCUSDT", "b2", "SELL", D("61000.00"), D("0.001"), D("0.061"), "USDT", 3)]  # fmt: skip
ETH: list[FillRow] = [("ETHUSDT", "e1", "BUY", D("3000.00"), D("0.02"), D("0.06"), "USDT", 1),
                      ("ETHUSDT", "e2", "SELL", D("3100.00"), D("0.02"), D("0.062"), "USDT", 3)]  # fmt: skip


def _orders(fills: list[FillRow]) -> list[OrderRow]:
    return [(f[0], f[1], f[2], f[4]) for f in fills]


def _report(paper_btc: list[FillRow], paper_eth: list[FillRow], paper_booked: list[FillRow] | None = None,
            paper_denied: dict[str, int] | None = None) -> ParityReport:  # fmt: skip
    booked = [BTC[0], ETH[0], BTC[1], ETH[1]]  # one close time's fills in portfolio order
    sides = [
        SymbolParity("BTCUSDT", _orders(BTC), _orders(paper_btc), BTC, paper_btc, {"COOL_DOWN": 1}, {"COOL_DOWN": 1}),
        SymbolParity("ETHUSDT", _orders(ETH), _orders(paper_eth), ETH, paper_eth, {}, paper_denied or {}),
    ]
    paper = paper_booked if paper_booked is not None else [paper_btc[0], paper_eth[0], *paper_btc[1:], *paper_eth[1:]]
    report = ParityReport(10, booked, paper, [r for s in sides for r in s.backtest_orders],
                          [r for s in sides for r in s.paper_orders], sides)  # fmt: skip
    compare(report)
    return report


def test_compare_when_both_sides_equal_then_identical_everywhere() -> None:
    report = _report(BTC, ETH)

    assert report.identical
    assert all(side.identical for side in report.symbols)


def test_compare_when_one_symbols_fill_differs_then_that_symbol_and_its_first_difference_are_named() -> None:
    late = (*ETH[1][:7], ETH[1][7] + 1)  # the exit one nanosecond later

    report = _report(BTC, [ETH[0], late])

    btc, eth = report.symbols
    assert btc.identical
    assert eth.differences == [f"ETHUSDT: fill 2: backtest {ETH[1]} != paper {late}"]
    assert report.differences[0] == eth.differences[0]
    assert report.differences[1].startswith("account: fill 4:")


def test_compare_when_a_fill_is_missing_then_the_counts_are_named() -> None:
    report = _report(BTC[:1], ETH)

    assert report.symbols[0].differences[0] == "BTCUSDT: orders: backtest 2, paper 1"
    assert "BTCUSDT: fills: backtest 2, paper 1" in report.symbols[0].differences
    assert report.symbols[1].identical


def test_compare_when_symbols_were_booked_in_another_order_then_only_the_account_differs() -> None:
    swapped = [ETH[0], BTC[0], BTC[1], ETH[1]]  # ETHUSDT acted first at the first close time

    report = _report(BTC, ETH, paper_booked=swapped)

    assert all(side.identical for side in report.symbols)
    assert report.differences == [f"account: fill 1: backtest {BTC[0]} != paper {ETH[0]}"]


def test_compare_when_denials_differ_then_the_symbol_names_them() -> None:
    report = _report(BTC, ETH, paper_denied={"POSITION_LIMIT": 1})

    assert report.symbols[1].differences == ["ETHUSDT: denials: backtest {}, paper {'POSITION_LIMIT': 1}"]
    assert not report.identical
