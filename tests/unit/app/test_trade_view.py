"""The live view of ``thunes trade``: a row per symbol with its exposure and PnL, a total row, and the
account valued as ``thunes portfolio`` values it (cash, exposure, equity), money at the instrument's
precision."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from thunes.app.cli.trade_view import status_view
from thunes.control.status import AccountView, PaperStatus
from thunes.domain.identifiers import Symbol
from thunes.domain.position import Position
from thunes.engine.portfolio import valuation_of

D = Decimal


def _text(status: PaperStatus) -> str:
    console = Console(record=True, width=220)
    console.print(status_view(status, "Status"))
    return console.export_text()


def _status(symbols: dict[str, tuple[str, str, str]], cash: str | None) -> PaperStatus:
    """Rows of ``symbol: (quantity, cost, close)``; valued when ``cash`` is given."""
    status = PaperStatus(quote_asset="USDT", quote_precision=2)
    positions = []
    for symbol, (quantity, cost, close) in symbols.items():
        row = status.row(symbol)
        row.tick_size, row.step_size, row.last_close = D("0.01"), D("0.0001"), D(close)
        row.position, row.bars = D(quantity), 3
        position = Position(Symbol(symbol), symbol[:3], "USDT", D(quantity), D(cost), D("1.005"), D("0.125"))
        row.realized_pnl, row.fees = position.realized_pnl, position.fees_quote
        row.unrealized_pnl = position.unrealized_pnl(D(close))
        positions.append(position)
    status.total()
    if cash is not None:
        prices = {Symbol(s): D(c) for s, (_, _, c) in symbols.items()}
        status.account = AccountView(valuation_of(D(cash), positions, prices), 0, 0, 2, "test")
    return status


def _row(text: str, first: str) -> list[str]:
    (line,) = [x for x in text.splitlines() if x.strip("│┃ ").startswith(first)]
    return [cell.strip() for cell in line.strip("│┃ ").split("│")]


def test_status_view_when_several_symbols_valued_then_exposure_per_symbol_total_row_and_equity() -> None:
    status = _status({"BTCUSDT": ("0.0020", "120.10", "61000.005"), "ETHUSDT": ("0.0500", "150.30", "2999.994")},
                     cash="9729.123")  # fmt: skip

    text = _text(status)

    btc, eth, total = _row(text, "BTCUSDT"), _row(text, "ETHUSDT"), _row(text, "total")
    assert btc[4:7] == ["122.00", "1.00", "1.90"]  # exposure 122.00001, realised 1.005, unrealised 1.90001
    assert eth[4:7] == ["150.00", "1.00", "-0.30"]  # 149.9997 at the quote precision; 149.9997 - 150.30
    assert total[4:8] == ["272.00", "2.01", "1.60", "0.25"]  # 271.99986; 1.005 x 2; 1.90001 - 0.3003; 0.125 x 2
    assert "9,729.12" in _row(text, "cash")[0]
    assert _row(text, "equity (cash + exposure)")[0].endswith("10,001.12")  # 9729.123 + 271.99986 = 10001.12286
    assert "exposure at the last closes" in text


def test_status_view_when_one_symbol_then_cash_and_equity_rows_too() -> None:
    text = _text(_status({"BTCUSDT": ("0.0020", "120.10", "61000.00")}, cash="9880.00"))

    assert "per symbol" not in text
    assert _row(text, "cash")[0].endswith("9,880.00")
    assert _row(text, "equity (cash + exposure)")[0].endswith("10,002.00")


def test_status_view_when_not_valued_yet_then_no_cash_row_and_exposure_from_the_rows() -> None:
    text = _text(_status({"BTCUSDT": ("0.0020", "120.10", "61000.00"), "ETHUSDT": ("0", "0", "3000.00")}, cash=None))

    assert not [x for x in text.splitlines() if x.strip().startswith("cash")]
    assert _row(text, "exposure at the last closes")[0].endswith("122.00")
