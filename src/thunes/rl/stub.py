"""A reproducible random policy for demos and the accelerated shadow run (``thunes shadow --policy-stub``).

It is no strategy: it draws, from its own seeded generator, a symbol, a side, MARKET or LIMIT (a limit
within ``limit_bps`` of the mid, so some sit outside the adapter's band), a sizing mode and a size, and a
confidence, and stamps the action with the wall clock (as a policy reading the market in real time
would). Its sizes are between 2 and 4 times the instrument's minimum notional, so the normaliser can
always round them to a valid order; whether the risk limits take them is the adapter's business. The
same seed and the same market give the same actions.

Its pace is the market's clock, not the wall's: one action per ``every_ns`` of market time (see
:meth:`StubPolicy.due`), so an accelerated replay gets as many actions per market day as a real-time one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal

from thunes.domain.enums import OrderType, Side
from thunes.domain.instrument import Instrument
from thunes.rl.reference import Quote
from thunes.rl.schemas import QtyMode, RLAction

__all__ = ["STUB_POLICY", "StubPolicy"]

STUB_POLICY = "stub"
_NS_PER_S = 1_000_000_000
_BPS = Decimal(10_000)
_STOP = Decimal("0.02")  # the schema's default stop_loss_pct


class StubPolicy:
    """``instruments`` by symbol; ``every_s`` market seconds between actions; ``seed`` the generator's;
    ``equity``: the account's equity as the policy believes it (what its RISK sizes are fractions of)."""

    def __init__(self, instruments: Mapping[str, Instrument], *, seed: int = 0, every_s: float = 60.0,
                 equity: Decimal = Decimal(10_000), policy_id: str = STUB_POLICY, model_version: str = "stub-1",
                 limit_bps: int = 150) -> None:  # fmt: skip
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        self.instruments = dict(sorted(instruments.items()))
        self.symbols = list(self.instruments)
        self.every_ns = int(every_s * _NS_PER_S)
        self.equity = equity  # what RISK sizing's fraction is taken of, as the policy believes it
        self.policy_id, self.model_version, self.limit_bps = policy_id, model_version, limit_bps
        self._random = random.Random(seed)  # noqa: S311 - a reproducible demo policy, no secret
        self._next_ns: int | None = None
        self.emitted = 0

    def due(self, market_ns: int) -> int:
        """How many actions are due now that the market's clock reads ``market_ns`` (the first call
        starts the schedule; a clock that stands still or goes back makes none due)."""
        if self._next_ns is None:
            self._next_ns = market_ns + self.every_ns
            return 1
        count = 0
        while self._next_ns <= market_ns:
            self._next_ns += self.every_ns
            count += 1
        return count

    def action(self, quotes: Mapping[str, Quote], now_ns: int) -> RLAction | None:
        """The next action, on a symbol drawn among those quoted (None when none is yet)."""
        rnd = self._random
        symbol = rnd.choice(self.symbols)
        quote = quotes.get(symbol)
        if quote is None:
            return None
        instrument = self.instruments[symbol]
        side = Side.BUY if rnd.random() < 0.5 else Side.SELL
        limit = rnd.random() < 0.3
        mid = quote.mid
        notional = instrument.min_notional_for(OrderType.MARKET) * Decimal(str(round(rnd.uniform(2.0, 4.0), 2)))
        mode = rnd.choice((QtyMode.QUOTE, QtyMode.QUOTE, QtyMode.BASE, QtyMode.RISK))
        data: dict[str, object] = {
            "ts_ns": now_ns, "policy_id": self.policy_id, "model_version": self.model_version, "symbol": symbol,
            "side": side, "order_type": OrderType.MARKET, "qty_mode": mode,
            "confidence": round(rnd.uniform(0.3, 1.0), 3), "metadata": {"stub": self.emitted},
        }  # fmt: skip
        if limit:
            offset = Decimal(rnd.randint(-self.limit_bps, self.limit_bps)) / _BPS
            price = (mid * (1 + offset)).quantize(instrument.tick_size)
            data |= {"order_type": OrderType.LIMIT, "limit_price": price, "tif": "GTC"}
        if mode is QtyMode.QUOTE:
            data["qty_value"] = notional
        elif mode is QtyMode.BASE:
            data["qty_value"] = (notional / mid).quantize(Decimal("1e-8"))
        else:  # the fraction of equity at risk (2 % stop) that buys ``notional``, as the policy believes
            data["qty_value"] = (notional * _STOP / self.equity).quantize(Decimal("1e-10"))
        self.emitted += 1
        return RLAction.model_validate(data)
