"""The portfolio view rebuilt from a ledger and the ``portfolio.json`` a session left: positions from the
fills, the session's prices and cash moved on by every later fill, and what it says when it cannot know."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from thunes.adapters.control import PortfolioBody, PriceSource, ViewSource
from thunes.control.portfolio_view import PORTFOLIO_FILE, PortfolioFile, ledger_body, read_saved, session_body
from thunes.control.status import AccountView, PaperStatus
from thunes.domain.enums import Liquidity, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import Fill
from thunes.domain.position import Position, PositionError
from thunes.engine.portfolio import valuation_of

D = Decimal
HOUR = 3_600_000_000_000
WALL = 1_800_000_000_000_000_000


def _fill(symbol: str, side: Side, price: str, qty: str, ts: int, fee: str = "0.1", asset: str = "USDT") -> Fill:
    return Fill(ClientOrderId(f"c-{symbol}-{ts}"), str(ts), Symbol(symbol), side, D(price), D(qty), D(fee), asset,
                Liquidity.TAKER, ts * HOUR)  # fmt: skip


FILLS = [
    _fill("BTCUSDT", Side.BUY, "60000", "0.002", 1),
    _fill("ETHUSDT", Side.BUY, "3000", "0.05", 2),
    _fill("BTCUSDT", Side.SELL, "61000", "0.001", 3),
]


def _status(cash: str, closes: dict[str, tuple[str, int]], fills: int) -> PaperStatus:
    """A session's status valued at ``closes`` (price, close time) over the positions of ``FILLS[:fills]``."""
    status = PaperStatus(quote_asset="USDT", quote_precision=8)
    positions = {}
    for symbol, base in (("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")):
        row = status.row(symbol)
        row.base_asset, row.tick_size, row.step_size = base, D("0.01"), D("0.00001")
        positions[symbol] = Position(Symbol(symbol), base, "USDT")
    for f in FILLS[:fills]:
        positions[str(f.symbol)] = positions[str(f.symbol)].apply(f)
    prices = {Symbol(s): D(p) for s, (p, _) in closes.items()}
    times = {Symbol(s): t for s, (_, t) in closes.items()}
    value = valuation_of(D(cash), positions.values(), prices, times)
    status.account = AccountView(value, 4 * HOUR, WALL, fills, "the venue's balance at the stop")
    return status


def _saved(status: PaperStatus) -> PortfolioBody:
    return PortfolioBody.model_validate_json(session_body(status).model_dump_json())  # as read back from the file


def _line(body: PortfolioBody, symbol: str):  # type: ignore[no-untyped-def]
    (line,) = [x for x in body.lines if x.symbol == symbol]
    return line


def test_ledger_body_when_the_file_covers_every_fill_then_its_prices_and_cash_and_equity_is_cash_plus_exposure() -> (
    None
):
    closes = {"BTCUSDT": ("61500.00", 4 * HOUR), "ETHUSDT": ("2900.00", 4 * HOUR)}
    saved = _saved(_status("9910.0", closes, fills=3))

    body = ledger_body(FILLS, saved, WALL + 1)

    assert body.source is ViewSource.LEDGER
    assert body.cash == D("9910.0")
    btc, eth = _line(body, "BTCUSDT"), _line(body, "ETHUSDT")
    assert (btc.quantity, btc.price, btc.price_ns, btc.price_source) == (D("0.001"), D("61500.00"), 4 * HOUR,
                                                                          PriceSource.LAST_CLOSE)  # fmt: skip
    assert eth.exposure == D("0.05") * D("2900.00")
    assert body.exposure == btc.exposure + eth.exposure
    assert body.equity == body.cash + body.exposure
    assert body.realized_pnl == btc.realized_pnl + eth.realized_pnl != 0
    assert btc.unrealized_pnl == D("0.001") * D("61500.00") - btc.average_price * D("0.001")  # type: ignore[operator]
    assert (body.fills, body.quote_precision, btc.tick_size) == (3, 8, D("0.01"))
    assert body.notes == []


def test_ledger_body_when_fills_came_after_the_file_then_cash_moved_by_each_and_their_symbols_at_the_last_fill() -> (
    None
):
    closes = {"BTCUSDT": ("60500.00", 2 * HOUR), "ETHUSDT": ("2950.00", 2 * HOUR)}
    saved = _saved(_status("9760.0", closes, fills=2))  # the session valued its account before the BTC sell

    body = ledger_body(FILLS, saved, WALL + 1)

    assert body.cash == D("9760.0") + D("61000") * D("0.001") - D("0.1")  # the later SELL, its quote fee off
    btc, eth = _line(body, "BTCUSDT"), _line(body, "ETHUSDT")
    assert (btc.price, btc.price_source, btc.price_ns) == (D("61000"), PriceSource.LAST_FILL, 3 * HOUR)
    assert (eth.price, eth.price_source) == (D("2950.00"), PriceSource.LAST_CLOSE)  # no later ETH fill
    assert btc.quantity == D("0.001")
    assert body.equity == body.cash + btc.exposure + eth.exposure  # type: ignore[operator]
    assert "1 fills were booked after" in body.notes[0]
    assert "moved by the 1 fills" in body.cash_source


def test_ledger_body_when_no_file_then_last_fill_prices_and_cash_not_known() -> None:
    body = ledger_body(FILLS, None, WALL)

    assert body.cash is None and body.equity is None
    assert [(x.symbol, x.price, x.price_source) for x in body.lines] == [
        ("BTCUSDT", D("61000"), PriceSource.LAST_FILL), ("ETHUSDT", D("3000"), PriceSource.LAST_FILL),
    ]  # fmt: skip
    assert body.quote_asset == "USDT" and _line(body, "ETHUSDT").base_asset == "ETH"
    assert body.exposure == D("0.001") * D("61000") + D("0.05") * D("3000")
    assert "no portfolio.json" in body.notes[0]


def test_ledger_body_when_the_file_counts_more_fills_than_the_ledger_then_ignored() -> None:
    saved = _saved(_status("1.0", {"BTCUSDT": ("1.00", HOUR)}, fills=3))

    body = ledger_body(FILLS[:2], saved, WALL)

    assert body.cash is None
    assert _line(body, "BTCUSDT").price == D("60000")  # its last fill, not the file's 1.00
    assert "belongs to another ledger" in body.notes[0]


def test_ledger_body_when_a_fee_is_in_a_third_asset_then_position_error() -> None:
    with pytest.raises(PositionError):
        ledger_body([_fill("BTCUSDT", Side.BUY, "60000", "0.002", 1, asset="BNB")], None, WALL)


def test_read_saved_when_missing_damaged_or_written_then_none_a_reason_or_the_body(tmp_path: Path) -> None:
    missing = read_saved(tmp_path)
    (tmp_path / PORTFOLIO_FILE).write_text('{"source": "session"')
    damaged = read_saved(tmp_path)
    written = PortfolioFile(tmp_path).write(_status("10.0", {}, fills=0), force=True)

    assert missing == (None, None)
    assert damaged[0] is None and damaged[1] is not None and "cannot be used" in damaged[1]
    assert written and read_saved(tmp_path) == (session_body(_status("10.0", {}, fills=0)), None)


def test_portfolio_file_when_written_often_then_at_most_every_period_unless_forced(tmp_path: Path) -> None:
    now = [100.0]
    book = PortfolioFile(tmp_path, every_s=5.0, monotonic=lambda: now[0])
    status = _status("10.0", {}, fills=0)

    first = book.write(status)
    now[0] += 4.9
    soon = book.write(status)
    forced = book.write(status, force=True)
    now[0] += 5.0
    later = book.write(status)

    assert (first, soon, forced, later) == (True, False, True, True)
    assert not PortfolioFile(tmp_path / "x").write(PaperStatus(), force=True)  # nothing valued yet: no file
    assert not (tmp_path / "x" / PORTFOLIO_FILE).exists()


def test_session_body_when_a_held_symbol_has_no_price_then_equity_not_known_and_said() -> None:
    status = _status("9760.0", {"BTCUSDT": ("60500.00", 2 * HOUR)}, fills=2)

    body = session_body(status)

    assert body.source is ViewSource.SESSION
    assert body.cash == D("9760.0") and body.equity is None
    assert _line(body, "ETHUSDT").price_source is PriceSource.NONE
    assert "ETHUSDT" in body.notes[0]
    assert (body.market_ns, body.wall_ns, body.fills) == (4 * HOUR, WALL, 2)


def test_session_body_when_not_valued_yet_then_rows_without_cash() -> None:
    status = PaperStatus(quote_asset="USDT")
    status.row("BTCUSDT").position = D("0.001")

    body = session_body(status, wall_ns=lambda: 5)

    assert (body.cash, body.equity, body.wall_ns) == (None, None, 5)
    assert _line(body, "BTCUSDT").quantity == D("0.001")
    assert "not valued" in body.notes[0]
