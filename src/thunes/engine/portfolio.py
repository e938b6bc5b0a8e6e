"""A portfolio: several (decision source, symbol) traders on one account. They share the risk engine
(max positions across symbols, one position per symbol, the account's daily loss, the kill-switch),
the order manager with its journal, and the ledger; each keeps the position of its own symbol.

Bars of one close time reach the traders in the portfolio's order (the configured pair order), in
every mode, so a backtest and a session decide in the same sequence when several symbols signal on
the same bar and the position limit admits only some of them. The rule in full, which the event
backtest follows (:mod:`thunes.backtest.merge`) and a session reproduces from each symbol's stream of
closed candles:

1. close times are taken in order; a close time ``T`` is complete when every symbol has delivered its
   candle closing at ``T``, or a later one (a symbol with no candle at ``T``, a gap, is not waited for);
2. at ``T``, the traders whose symbol has a candle closing at ``T`` act in portfolio order, each on its
   own symbol's candle, each order meeting its own symbol's market as it stands at ``T``;
3. then the account's jobs due at ``T`` run once, after every trader: the daily reset at the first
   close of a new UTC day. The account is valued (cash and each holding at its last close) after step 2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from thunes.domain.enums import Side
from thunes.domain.identifiers import Symbol
from thunes.domain.market import Bar
from thunes.domain.messages import OrderFilled
from thunes.domain.orders import Fill
from thunes.domain.position import Position
from thunes.engine.trader import Trader, TraderStats

__all__ = ["AssetLine", "CashBook", "Portfolio", "Valuation", "cash_moved", "valuation_of"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class AssetLine:
    """One symbol of the account, valued in the quote currency at ``price``."""

    symbol: Symbol
    quantity: Decimal
    price: Decimal | None  # the last close seen (None: no price yet, valued at 0)
    exposure: Decimal  # quantity x price
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    average_price: Decimal | None = None  # cost per unit held, entry fees included (None: flat)
    price_ns: int | None = None  # when ``price`` was made (market clock): a candle's close time, a fill's time


@dataclass(frozen=True, slots=True)
class Valuation:
    """The account across its symbols: cash, exposure per asset, equity and PnL, in the quote currency."""

    cash: Decimal
    lines: tuple[AssetLine, ...]

    @property
    def exposure(self) -> Decimal:
        return sum((line.exposure for line in self.lines), ZERO)

    @property
    def equity(self) -> Decimal:
        return self.cash + self.exposure

    @property
    def realized_pnl(self) -> Decimal:
        return sum((line.realized_pnl for line in self.lines), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((line.unrealized_pnl for line in self.lines), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((line.fees for line in self.lines), ZERO)

    @property
    def priced(self) -> bool:
        """Every holding has a price: otherwise the equity leaves it out (valued at 0) and is not the account's."""
        return all(line.price is not None for line in self.lines if line.quantity)


def valuation_of(cash: Decimal, positions: Iterable[Position], prices: Mapping[Symbol, Decimal],
                 times: Mapping[Symbol, int] | None = None) -> Valuation:  # fmt: skip
    """``positions`` valued at ``prices`` (a symbol without one is valued at 0), ``cash`` being the
    account's quote balance; ``times`` says when each price was made."""
    lines = []
    for position in positions:
        symbol = position.symbol
        price = prices.get(symbol)
        mark = ZERO if price is None else price
        unrealized = position.unrealized_pnl(mark) if price is not None and position.is_open else ZERO
        lines.append(AssetLine(symbol, position.quantity, price, position.quantity * mark, position.realized_pnl,
                               unrealized, position.fees_quote, position.average_price,
                               None if price is None or times is None else times.get(symbol)))  # fmt: skip
    return Valuation(cash, tuple(lines))


def cash_moved(fill: Fill, quote_asset: str) -> Decimal:
    """How much ``fill`` moves the account's ``quote_asset`` balance, as the venue books it: a BUY pays
    price x quantity, a SELL receives it, and a fee charged in the quote asset comes off either way (a
    fee in the base asset or in BNB leaves the quote balance alone)."""
    notional = fill.price * fill.quantity
    fee = fill.commission if fill.commission_asset == quote_asset else ZERO
    return -notional - fee if fill.side is Side.BUY else notional - fee


class CashBook:
    """The account's quote balance between two reads of the venue: the balance read at :meth:`start`,
    moved by every fill booked after it (:func:`cash_moved`). Why: valuing the account after every
    candle must not cost a REST call; reconciliation keeps the ledger and the venue in agreement.

    Subscribe :meth:`on_fill` to the engine's bus; fills published before :meth:`start` (recovery's,
    already in the balance read after them) are not counted."""

    def __init__(self, quote_asset: str) -> None:
        self.quote_asset = quote_asset
        self.balance: Decimal | None = None  # None until started
        self.fills = 0  # ledger fills the balance includes: those before the start, and each one since

    def start(self, balance: Decimal, fills: int) -> None:
        """``balance``: the venue's quote balance read now; ``fills``: the ledger's fills booked by then."""
        self.balance, self.fills = balance, fills

    def on_fill(self, event: OrderFilled) -> None:
        if self.balance is not None:
            self.balance += cash_moved(event.fill, self.quote_asset)
            self.fills += 1


class Portfolio:
    """The account's traders by symbol, in order; they must share one risk engine and one order manager."""

    def __init__(self, traders: Sequence[Trader]) -> None:
        if not traders:
            raise ValueError("a portfolio trades at least one symbol")
        self.traders: dict[Symbol, Trader] = {}
        for trader in traders:
            symbol = trader.instrument.symbol
            if symbol in self.traders:
                raise ValueError(f"{symbol} is traded twice: one decision source per symbol")
            self.traders[symbol] = trader
        first = traders[0]
        if any(t.risk is not first.risk or t.orders is not first.orders for t in traders):
            raise ValueError("a portfolio's traders share one risk engine and one order manager")
        self.risk, self.orders = first.risk, first.orders

    def __iter__(self) -> Iterator[Trader]:
        return iter(self.traders.values())

    def __len__(self) -> int:
        return len(self.traders)

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        return tuple(self.traders)

    def trader(self, symbol: Symbol) -> Trader:
        """The trader of ``symbol``; ``KeyError`` naming the traded symbols when it is not one."""
        try:
            return self.traders[symbol]
        except KeyError:
            raise KeyError(f"{symbol} is not in the portfolio ({', '.join(self.traders)})") from None

    async def on_bar(self, bar: Bar) -> None:
        """A closed bar of one of the portfolio's symbols, to its trader."""
        await self.trader(bar.symbol).on_bar(bar)

    def stats(self) -> TraderStats:
        """The traders' counters summed over the account."""
        total = TraderStats()
        for t in self:
            total.signals += t.stats.signals
            total.submitted += t.stats.submitted
            total.filled += t.stats.filled
            total.exit_retries += t.stats.exit_retries
            total.denied += t.stats.denied
            total.rejected += t.stats.rejected
        total.denied, total.rejected = Counter(total.denied), Counter(total.rejected)
        return total

    def valuation(self, cash: Decimal, prices: Mapping[Symbol, Decimal],
                  times: Mapping[Symbol, int] | None = None) -> Valuation:  # fmt: skip
        """The account at ``prices`` (a symbol without one is valued at 0), ``cash`` being its quote balance."""
        return valuation_of(cash, (t.position for t in self), prices, times)
