"""The RL adapter: an external policy's actions through nine gates, in the roadmap's order (SPEC §9).

1. policy whitelist, 2. TTL, 3. confidence, 4. kill-switch, 5. circuit breaker, 6. price band (LIMIT;
every action needs a fresh reference price here: ``STALE_REFERENCE``), 7. exchange filters after
sizing, 8. risk, 9. idempotent submission. The first gate that refuses is the one reported.

Gates 4 to 9 are the engine's own parts, called: the risk engine's trading-state rule (4) and venue
breaker (5), the domain's normaliser (7: it rounds, the venue never has to), ``RiskEngine.check`` (8:
limits, cool-down, daily loss, and the slot reservation of an approved BUY), and the order manager
(9: journal first, one order per client order id). The adapter is one more decision source on the
kernel: a symbol it trades belongs to a :class:`~thunes.rl.source.PolicySource` in the portfolio, and
its fills are booked by that symbol's trader, so there is one risk book, one journal, one ledger.

Idempotency: an action's id is the hash of the action (:func:`~thunes.rl.schemas.action_id_of`), its
client order id derives from it. A replay that passes gates 1 to 7 is recognised before gate 8, whose
check reserves a slot under that client order id and must not touch the first order's: it is a NOOP
at gate 9 (``DUPLICATE_ACTION``) when the first was accepted or its order is journaled.

Modes: ``shadow`` runs gates 1 to 8 and places nothing (an approved BUY's reservation is released at
once, or with ``shadow_fills`` kept until the shadow account books its would-be fill, see
:mod:`thunes.rl.outcomes`; ``placed`` is False); ``paper`` and ``live`` submit through the order manager. Every decision
is published on the bus (the audit trail subscribes: :mod:`thunes.rl.audit`). Give a shadow adapter a
risk engine of its own (its own kernel): gate 8 is the real check, which takes a half-open breaker's
probe and briefly reserves a BUY's slot, and a trading session must not lose either to a shadow.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from thunes.domain.enums import OrderStatus, OrderType, Side
from thunes.domain.fastfilters import FastFilters
from thunes.domain.identifiers import ClientOrderId, StrategyId, Symbol, VenueId
from thunes.domain.instrument import Instrument
from thunes.domain.messages import DenialReason, OrderRejected
from thunes.domain.orders import OrderRequest
from thunes.domain.rules import MarketContext, Violation, normalize_order, round_order
from thunes.domain.venue import OrderReport
from thunes.engine.kernel import Kernel
from thunes.engine.trader import Trader
from thunes.execution.client_ids import client_order_id
from thunes.execution.order_manager import OrderManager
from thunes.execution.ports import OrderJournal, Publisher
from thunes.risk import CheckContext, RiskEngine, RiskIntent, TradingState
from thunes.risk.rules import TradingStateRule
from thunes.rl.gates import Refusal, check_band, check_confidence, check_policy, check_ttl, size
from thunes.rl.parse import parse_action
from thunes.rl.reference import Quote, ReferencePriceCache
from thunes.rl.schemas import (
    Decision,
    DecisionStatus,
    ExecEvent,
    ExecFill,
    Gate,
    Mode,
    NormalizedOrder,
    QtyMode,
    RLAction,
    action_id_of,
)
from thunes.rl.settings import AdapterSettings
from thunes.rl.source import PolicySource

__all__ = ["GATES_VERSION", "Outcome", "RLAdapter", "exec_fills"]

GATES_VERSION = 1
"""The adapter's gates, their order and what each checks; change one and bump it (it is in the param hash)."""

_ACTIVE, _BUY, _LIMIT, _RISK_SIZED = TradingState.ACTIVE, Side.BUY, OrderType.LIMIT, QtyMode.RISK
_TRADING_STATE = TradingStateRule()
_GATE_OF_DENIAL = {DenialReason.KILL_SWITCH: Gate.KILL_SWITCH, DenialReason.TRADING_HALTED: Gate.KILL_SWITCH,
                   DenialReason.CIRCUIT_OPEN: Gate.CIRCUIT_BREAKER, DenialReason.FILTERS: Gate.FILTERS}  # fmt: skip
_ANY_QUOTE = Decimal(1)  # a stand-in quote quantity for gate 4 when the size is not known yet


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision and, when an order was placed, what the venue has done with it so far."""

    decision: Decision
    fills: tuple[ExecFill, ...] = ()


@dataclass(frozen=True, slots=True)
class _Verdict:
    """A decision's outcome before it is stamped with its latency and built (once) as a :class:`Decision`."""

    fields: dict[str, Any]
    status: DecisionStatus
    gate: Gate | None = None
    reason: str | None = None
    detail: str = ""
    placed: bool = False


@dataclass(frozen=True, slots=True)
class _Approved:
    """Gates 1 to 8 passed: the order to submit at gate 9 and the decision's fields so far."""

    order: OrderRequest
    strategy_id: StrategyId
    fields: dict[str, Any]


class RLAdapter:
    """Turns actions into decisions on one account's engine; see the module doc for the gates.

    One consumer drives it (a stream of lines, one task): the replay memory and the filter digests are
    not locked. The risk engine it calls is, so other sources may trade the same account meanwhile."""

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        risk: RiskEngine,
        instruments: Mapping[str, Instrument],
        quotes: ReferencePriceCache,
        clock_ns: Callable[[], int],
        orders: OrderManager | None = None,
        journal: OrderJournal | None = None,
        traders: Mapping[str, Trader] | None = None,
        bus: Publisher | None = None,
        equity: Callable[[], Decimal | None] | None = None,
        perf_ns: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        if settings.mode is not Mode.SHADOW and (orders is None or journal is None or not traders):
            raise ValueError(f"{settings.mode.value} mode places orders: give the order manager, journal and traders")
        missing = set(instruments) - set(traders or instruments)
        if missing:
            raise ValueError(f"no trader books {sorted(missing)}: every traded symbol needs its PolicySource")
        self.settings, self.risk, self.quotes, self.orders, self.journal = settings, risk, quotes, orders, journal
        self.instruments = dict(instruments)
        self._symbols = {name: Symbol(name) for name in instruments}  # validated once, not per action
        self._strategy_ids = {name: StrategyId(name) for name in settings.policies}
        self.traders = dict(traders or {})
        self._clock_ns, self._perf_ns, self._bus = clock_ns, perf_ns, bus
        self._equity = equity or (lambda: None)
        self._venue = VenueId(settings.venue)
        # What decided: the adapter's gates (their version), its settings, and the risk engine's rules and limits.
        self.param_hash = settings.param_hash(f"gates/{GATES_VERSION}", repr(risk.describe()))
        self._fast: dict[int, tuple[Instrument, FastFilters]] = {}  # by the instrument's identity
        self._accepted: OrderedDict[str, str] = OrderedDict()  # action id -> client order id, first accepted
        self.decisions = 0

    @classmethod
    def on_kernel(cls, settings: AdapterSettings, kernel: Kernel, journal: OrderJournal, quotes: ReferencePriceCache,
                  clock_ns: Callable[[], int], *,
                  equity: Callable[[], Decimal | None] | None = None) -> RLAdapter:  # fmt: skip
        """The adapter of a kernel: it trades the portfolio's symbols whose source is a :class:`PolicySource`."""
        traders = {str(t.instrument.symbol): t for t in kernel.portfolio if isinstance(t.strategy, PolicySource)}
        if not traders:
            raise ValueError("the portfolio has no PolicySource: no symbol is the policy's to trade")
        instruments = {symbol: t.instrument for symbol, t in traders.items()}
        return cls(settings, risk=kernel.risk, instruments=instruments, quotes=quotes, clock_ns=clock_ns,
                   orders=kernel.orders, journal=journal, traders=traders, bus=kernel.bus, equity=equity)  # fmt: skip

    # --- streams of lines (the shadow CLI's entry point) ----------------------------------------
    def parse(self, line: str | bytes, line_no: int | None = None) -> RLAction | Decision:
        """One input line: an action, or the REJECTED decision of a line that is none (published)."""
        settings = self.settings
        parsed = parse_action(line, symbols=self.instruments, mode=settings.mode, param_hash=self.param_hash,
                              now_ns=self._clock_ns(), line_no=line_no, max_bytes=settings.max_line_bytes)  # fmt: skip
        if isinstance(parsed, Decision):
            self._publish(parsed)
        return parsed

    def decide_line(self, line: str | bytes, line_no: int | None = None) -> Decision:
        """Parse and decide one line without placing anything (shadow)."""
        start = self._perf_ns()
        parsed = self.parse(line, line_no)
        if isinstance(parsed, Decision):
            return parsed
        return self.decide(parsed, line_no=line_no, start_ns=start)

    async def act_line(self, line: str | bytes, line_no: int | None = None) -> Outcome:
        """Parse, decide and (paper, live) submit one line."""
        start = self._perf_ns()
        parsed = self.parse(line, line_no)
        if isinstance(parsed, Decision):
            return Outcome(parsed)
        return await self.act(parsed, line_no=line_no, start_ns=start)

    # --- the gates -----------------------------------------------------------------------------
    def decide(self, action: RLAction, *, line_no: int | None = None, start_ns: int | None = None) -> Decision:
        """Gates 1 to 8; in shadow mode the final decision. In paper or live mode an accepted decision
        here is not placed: call :meth:`act`, which also submits it."""
        start = self._perf_ns() if start_ns is None else start_ns
        verdict = self._gates(action, line_no)
        if isinstance(verdict, _Verdict):
            return self._finish(verdict, start)
        shadow = self.settings.mode is Mode.SHADOW
        if not (shadow and self.settings.shadow_fills):  # nothing is placed here: give the risk slot back now
            self._release(verdict.order)
        if shadow:  # in paper or live, a later ``act`` may still place it
            self._remember(verdict.fields["action_id"], verdict.order.client_order_id)
        return self._finish(self._decision(verdict.fields, DecisionStatus.ACCEPTED), start)

    async def act(self, action: RLAction, *, line_no: int | None = None, start_ns: int | None = None) -> Outcome:
        """All nine gates; in paper or live mode an accepted action is placed through the order manager."""
        start = self._perf_ns() if start_ns is None else start_ns
        verdict = self._gates(action, line_no)
        if isinstance(verdict, _Verdict):
            return Outcome(self._finish(verdict, start))
        if self.settings.mode is Mode.SHADOW or self.orders is None:
            if not self.settings.shadow_fills:
                self._release(verdict.order)
            self._remember(verdict.fields["action_id"], verdict.order.client_order_id)
            return Outcome(self._finish(self._decision(verdict.fields, DecisionStatus.ACCEPTED), start))
        return await self._submit(verdict, start)

    def _gates(self, action: RLAction, line_no: int | None) -> _Verdict | _Approved:
        now = self._clock_ns()
        aid = action_id_of(action)
        sid = self._strategy_ids.get(action.policy_id) or StrategyId(action.policy_id)  # the schema's pattern
        symbol = self._symbols.get(action.symbol) or Symbol(action.symbol)
        cid = client_order_id(sid, symbol, action.side, f"rl-{aid}")
        explanation = action.metadata.get("explanation")
        fields: dict[str, Any] = {
            "action_id": aid, "client_order_id": str(cid), "policy_id": action.policy_id,
            "model_version": action.model_version, "symbol": action.symbol, "side": action.side,
            "explanation": explanation if isinstance(explanation, dict) else None, "line": line_no, "ts_ns": now,
        }  # fmt: skip
        refusal = self._policy_gates(action, now)  # 1, 2, 3
        if refusal is not None:
            return self._refused(fields, refusal)
        instrument = self.instruments.get(action.symbol)
        if instrument is None:
            return self._refused(fields, Refusal(Gate.POLICY, "UNKNOWN_SYMBOL", f"{symbol} is not traded here"))
        held = self.risk.held(symbol)
        quote = self.quotes.fresh(action.symbol, now)
        fields["risk_snapshot"] = self._risk_view(symbol, held)
        refusal = self._kill_switch(action, cid, symbol, quote, held, sid)  # 4
        if refusal is None:
            refusal = self._breaker()  # 5
        if refusal is None:
            refusal = self._reference(action, quote)  # 6
        if refusal is not None:
            return self._refused(fields, refusal)
        assert quote is not None  # gate 6 refuses without one
        market = action.order_type is not _LIMIT
        reference = quote.touch(action.side) if market else quote.mid
        fields["reference_price"], fields["reference_age_ms"] = reference, quote.age_ms(now)
        order = self._filters(action, cid, symbol, instrument, reference, held)  # 7
        if isinstance(order, Refusal):
            return self._refused(fields, order)
        return self._risk_gate(fields, order, RiskIntent(order, sid, self._venue, reference, instrument,
                                                         self.settings.fee_rate))  # fmt: skip

    def _risk_gate(self, fields: dict[str, Any], order: OrderRequest, intent: RiskIntent) -> _Verdict | _Approved:
        """A replay first (gate 9's question, asked before gate 8's check reserves a slot under the same
        client order id), then gate 8: the risk engine's check, which re-runs the trading state, the
        filters and the breaker atomically with the reservation; a denial of one of those is reported
        at its own gate."""
        aid, cid = fields["action_id"], order.client_order_id
        entry = None if self.journal is None else self.journal.get(cid)
        if aid in self._accepted or entry is not None:
            known = "accepted" if entry is None else f"journaled ({entry.state.value})"
            detail = f"action {aid} is already {known} as {cid}: no second order"
            fields["normalized_order"] = _normalized(order, intent.reference_price)
            return self._decision(fields, DecisionStatus.NOOP, Gate.SUBMISSION, "DUPLICATE_ACTION", detail)
        checked = self.risk.check(intent)  # 8
        fields["normalized_order"] = _normalized(checked.order, intent.reference_price)
        if checked.reason is not None:
            gate = _GATE_OF_DENIAL.get(checked.reason, Gate.RISK)
            return self._refused(fields, Refusal(gate, checked.reason_code or checked.reason.value, checked.detail))
        return _Approved(checked.order, intent.strategy_id, fields)

    def _policy_gates(self, action: RLAction, now: int) -> Refusal | None:
        policy = check_policy(action, self.settings.policies)
        if isinstance(policy, Refusal):
            return policy
        return check_ttl(action, now) or check_confidence(action, policy)

    def _kill_switch(self, action: RLAction, cid: ClientOrderId, symbol: Symbol, quote: Quote | None,
                     held: Decimal, sid: StrategyId) -> Refusal | None:  # fmt: skip
        """Gate 4: the risk engine's trading-state rule on the action as it can be sized now. In REDUCING
        (kill-switch on) only a SELL of no more than what is held passes; in HALTED nothing does."""
        state = self.risk.trading_state
        if state is _ACTIVE:
            return None
        price = action.limit_price
        if price is None and quote is not None:
            price = quote.touch(action.side)
        quantity = None if price is None else size(action, price, self._equity_for(action))
        if isinstance(quantity, Decimal):
            probe = OrderRequest(cid, symbol, action.side, OrderType.MARKET, quantity=quantity)
        else:  # not sizeable yet (gate 6 or 7 will say why): a SELL of a held position counts as reducing
            probe = OrderRequest(cid, symbol, action.side, OrderType.MARKET, quote_quantity=_ANY_QUOTE)
        intent = RiskIntent(probe, sid, self._venue, price)
        ctx = CheckContext(intent, probe, self._clock_ns(), self.risk.limits, None, state, self.risk.realized_pnl_today,
                           None, self.risk.open_symbols(), held)  # fmt: skip
        denial = _TRADING_STATE.evaluate(ctx)
        return None if denial is None else Refusal(Gate.KILL_SWITCH, denial.reason.value, denial.detail)

    def _breaker(self) -> Refusal | None:
        """Gate 5: the venue's circuit breaker lets a call through now (read only: the half-open probe is
        taken by gate 8's check, for an order that will be sent)."""
        breaker = self.risk.breaker(self._venue)
        wait = breaker.seconds_until_probe()
        if wait > 0:
            return Refusal(Gate.CIRCUIT_BREAKER, DenialReason.CIRCUIT_OPEN.value,
                           f"{self._venue} breaker {breaker.state.value}: retry in {wait:.0f} s")  # fmt: skip
        return None

    def _reference(self, action: RLAction, quote: Quote | None) -> Refusal | None:
        """Gate 6: a fresh reference price (every action), and for a LIMIT the band around it."""
        if quote is None:
            age = self.quotes.age_ms(action.symbol)
            known = "no quote yet" if age is None else f"last quote {age} ms old"
            return Refusal(Gate.PRICE_BAND, "STALE_REFERENCE",
                           f"{action.symbol}: {known}, limit {self.quotes.max_age_ms} ms")  # fmt: skip
        return check_band(action, quote, self.settings.bands)

    def _filters(self, action: RLAction, cid: ClientOrderId, symbol: Symbol, instrument: Instrument,
                 reference: Decimal, held: Decimal) -> OrderRequest | Refusal:  # fmt: skip
        """Gate 7: size, then round and check every exchange filter with the domain's normaliser."""
        if not instrument.is_trading:
            return Refusal(Gate.FILTERS, "SYMBOL_NOT_TRADING", f"{symbol} status {instrument.status}")
        if action.order_type not in instrument.order_types:
            return Refusal(Gate.FILTERS, "ORDER_TYPE_NOT_ALLOWED", f"{symbol} takes no {action.order_type.value}")
        limit = action.limit_price
        quantity = size(action, limit if limit is not None else reference, self._equity_for(action))
        if isinstance(quantity, Refusal):
            return quantity
        tif = action.tif if limit is not None else None
        request = OrderRequest(cid, symbol, action.side, action.order_type, quantity, limit, None, tif)
        rounded = round_order(instrument, request)
        if not isinstance(rounded, Violation) and self._passes(instrument, rounded, reference):
            return rounded  # the fast yes is the full check's (FastFilters' contract): no second pass
        result = normalize_order(instrument, request, MarketContext(reference, 0, held))
        if not result.ok:
            first = result.violations[0]
            detail = "; ".join(f"{v.reason_code}: {v.message}" for v in result.violations)
            return Refusal(Gate.FILTERS, first.reason_code, detail)
        return result.order

    def _passes(self, instrument: Instrument, order: OrderRequest, reference: Decimal) -> bool:
        """The domain's fast filter check (one digest per instrument, as the risk engine keeps): True only
        when ``check_order`` would find nothing; False sends the order to the full normaliser."""
        fast = self._fast.get(id(instrument))
        if fast is None or fast[0] is not instrument:
            fast = self._fast[id(instrument)] = (instrument, FastFilters(instrument))
        try:
            return fast[1].accepts(order.side, order.order_type, order.quantity, order.price, None, reference, 0)
        except ArithmeticError:
            return False

    # --- gate 9 --------------------------------------------------------------------------------
    async def _submit(self, approved: _Approved, start: int) -> Outcome:
        """The order manager places the order at most once under its client order id; the symbol's
        trader books what it reports (fills, position, risk ledger, reservation)."""
        assert self.orders is not None
        order, fields = approved.order, approved.fields
        try:
            outcome = await self.orders.submit(order, approved.strategy_id)
        except BaseException:
            self._release(order)
            raise
        if isinstance(outcome, OrderRejected):
            self._release(order)
            refusal = Refusal(Gate.SUBMISSION, f"VENUE_{outcome.code}", outcome.message)
            return Outcome(self._finish(self._refused(fields, refusal), start))
        self._remember(fields["action_id"], order.client_order_id)
        self.traders[str(order.symbol)].book(outcome)
        decision = self._finish(self._decision(fields, DecisionStatus.ACCEPTED, placed=True), start)
        fills = exec_fills(outcome)
        for fill in fills:
            self._publish(fill)
        return Outcome(decision, fills)

    # --- plumbing -------------------------------------------------------------------------------
    def _equity_for(self, action: RLAction) -> Decimal | None:
        """The equity when the action's sizing needs it (RISK), else None: valuing the account is not free."""
        return self._equity() if action.qty_mode is _RISK_SIZED else None

    def _release(self, order: OrderRequest) -> None:
        if order.side is _BUY:
            self.risk.on_order_closed(order.client_order_id)

    def _remember(self, action_id: str, cid: ClientOrderId) -> None:
        self._accepted[action_id] = str(cid)
        while len(self._accepted) > self.settings.remember_actions:
            self._accepted.popitem(last=False)

    def _risk_view(self, symbol: Symbol, held: Decimal) -> dict[str, Any]:
        risk = self.risk
        return {"trading_state": risk.trading_state.value, "held": held, "realized_pnl_today": risk.realized_pnl_today,
                "open_symbols": sorted(risk.open_symbols())}  # fmt: skip

    def _refused(self, fields: dict[str, Any], refusal: Refusal) -> _Verdict:
        return _Verdict(fields, DecisionStatus.REJECTED, refusal.gate, refusal.reason, refusal.detail)

    def _decision(self, fields: dict[str, Any], status: DecisionStatus, gate: Gate | None = None,
                  reason: str | None = None, detail: str = "", *, placed: bool = False) -> _Verdict:  # fmt: skip
        return _Verdict(fields, status, gate, reason, detail, placed)

    def _finish(self, verdict: _Verdict, start: int) -> Decision:
        """The decision, stamped with its latency (everything up to here), published (the audit trail
        subscribes)."""
        latency_us = (self._perf_ns() - start) // 1000
        decision = Decision(status=verdict.status, gate=verdict.gate, reason=verdict.reason, detail=verdict.detail,
                            mode=self.settings.mode, placed=verdict.placed, param_hash=self.param_hash,
                            latency_us=latency_us, **verdict.fields)  # fmt: skip
        self.decisions += 1
        self._publish(decision)
        return decision

    def _publish(self, message: object) -> None:
        if self._bus is not None:
            self._bus.publish(message)


def _normalized(order: OrderRequest, reference: Decimal | None) -> NormalizedOrder:
    """The order as the decision reports it; a MARKET order's notional at the live price it was checked at."""
    assert order.quantity is not None  # the adapter sizes in base units
    assert reference is not None  # gate 6 passed: a fresh reference
    price = order.price if order.price is not None else reference
    return NormalizedOrder(symbol=str(order.symbol), side=order.side, order_type=order.order_type,
                           quantity=order.quantity, price=order.price, time_in_force=order.time_in_force,
                           notional=order.quantity * price)  # fmt: skip


def exec_fills(report: OrderReport) -> tuple[ExecFill, ...]:
    """What the venue reported, as the policy sees it: one event per fill (PARTIAL, the last of a filled
    order FILLED), or the order's state when it has no fill (NEW, CANCELED)."""
    cid, symbol = str(report.client_order_id), str(report.symbol)
    if not report.fills:
        event = ExecEvent.NEW if not report.status.is_terminal else ExecEvent.CANCELED
        return (ExecFill(client_order_id=cid, symbol=symbol, event=event, price=report.price, qty_base=Decimal(0),
                         ts_ns=report.ts_ns),)  # fmt: skip
    last = len(report.fills) - 1
    done = report.status is OrderStatus.FILLED
    partial, filled = ExecEvent.PARTIAL, ExecEvent.FILLED
    return tuple(
        ExecFill(
            client_order_id=cid,
            symbol=symbol,
            event=filled if done and i == last else partial,
            price=f.price,
            qty_base=f.quantity,
            commission=f.commission,
            commission_asset=f.commission_asset,
            ts_ns=f.ts_ns,
        )
        for i, f in enumerate(report.fills)
    )
