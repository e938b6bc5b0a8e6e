"""Streams of actions: the kill-switch turned on mid-stream, and random streams (hypothesis) replayed
twice, checking every ACCEPTED decision against every limit and the venue's orders per action id."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.rl.kit import ACCOUNT, MS, PRICES, VENUE, Rig, rig
from thunes.domain.enums import OrderType, Side
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.orders import OrderRequest
from thunes.domain.rules import MarketContext, check_order
from thunes.risk import FailureKind, RiskLimits
from thunes.rl import Decision, DecisionStatus, Gate, Mode, PolicySettings, QtyMode, RLAction
from thunes.rl.gates import band_bps

D = Decimal
LIMITS = RiskLimits(max_order_notional=D(60), max_daily_loss=D(1), max_open_positions=1, cool_down_s=600)
MIN_CONFIDENCE = 0.4
BAND_BPS = D(100)


def test_kill_switch_on_mid_stream_then_no_buy_is_accepted_and_reducing_sells_are() -> None:
    r = rig(limits=RiskLimits(max_order_notional=D(100), max_open_positions=2))
    before = [r.act(r.action()), r.act(r.action(symbol="ETHUSDT"))]
    held = {s: r.kernel.risk.held(Symbol(s)) for s in PRICES}
    r.kernel.risk.activate_kill_switch("operator", "drill mid-stream")

    after: list[Decision] = []
    for i in range(6):
        r.advance_ms(100)
        after.append(r.act(r.action(qty_value=D(20 + i))).decision)  # a BUY of BTC
        after.append(r.act(r.action(symbol="ETHUSDT", order_type=OrderType.LIMIT, limit_price=D(3000),
                                    qty_value=D(20 + i))).decision)  # fmt: skip
    sells = [r.act(r.action(symbol=s, side=Side.SELL, qty_mode=QtyMode.BASE, qty_value=q / 2)).decision
             for s, q in held.items()]  # fmt: skip

    assert all(o.decision.status is DecisionStatus.ACCEPTED for o in before)
    assert all(d.status is DecisionStatus.REJECTED and d.gate is Gate.KILL_SWITCH for d in after)
    assert all(d.status is DecisionStatus.ACCEPTED and d.placed for d in sells)
    assert all(r.kernel.risk.held(Symbol(s)) < q for s, q in held.items())
    assert r.venue_orders() == 4  # two entries before, two reducing sells after


# --- random streams ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """An action (``fields``) after ``wait_ms``; or an operator event (``event``)."""

    wait_ms: int
    requote: bool
    fields: dict[str, Any] | None = None
    event: str | None = None


def _action_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "symbol": st.sampled_from(sorted(PRICES)),
        "side": st.sampled_from([Side.BUY, Side.BUY, Side.SELL]),
        "order_type": st.sampled_from([OrderType.MARKET, OrderType.LIMIT]),
        "qty_mode": st.sampled_from([QtyMode.QUOTE, QtyMode.BASE, QtyMode.RISK]),
        "qty_units": st.integers(1, 120),  # QUOTE: USDT; BASE: hundredths of a 50-USDT lot; RISK: 0.1 %
        "offset_bps": st.integers(-160, 160),
        "confidence": st.sampled_from([0.39, 0.4, 0.7, 0.9, 1.0, 1.0]),
        "ttl_ms": st.sampled_from([200, 1500, 86_400_000, 86_400_000]),
        "age_ms": st.sampled_from([0, 0, 0, 300, 1600]),
    })  # fmt: skip


def _steps() -> st.SearchStrategy[list[Step]]:
    action = st.builds(Step, st.sampled_from([0, 10, 500, 2100, 700_000]), st.sampled_from([True, True, True, False]),
                       _action_fields())  # fmt: skip
    event = st.builds(Step, st.just(0), st.just(True), st.none(),
                      st.sampled_from(["kill_on", "kill_off", "kill_off", "breaker_fail", "breaker_fail"]))  # fmt: skip
    return st.lists(st.one_of(action, action, action, action, action, event), min_size=3, max_size=30)


def _action(r: Rig, f: dict[str, Any]) -> RLAction:
    price = PRICES[f["symbol"]]
    units = D(f["qty_units"])
    qty = {QtyMode.QUOTE: units, QtyMode.BASE: (D(50) / price * units / 100).quantize(D("0.000001")),
           QtyMode.RISK: units / 1000}[f["qty_mode"]]  # fmt: skip
    limit = None
    if f["order_type"] is OrderType.LIMIT:
        limit = (price * (1 + D(f["offset_bps"]) / 10_000)).quantize(D("0.001"))
    return r.action(symbol=f["symbol"], side=f["side"], order_type=f["order_type"], qty_mode=f["qty_mode"],
                    qty_value=qty, limit_price=limit, confidence=f["confidence"], ttl_ms=f["ttl_ms"],
                    ts_ns=r.clock.now_ns() - f["age_ms"] * MS)  # fmt: skip


def _event(r: Rig, event: str) -> None:
    if event == "kill_on":
        r.kernel.risk.activate_kill_switch("operator", "random drill")
    elif event == "kill_off":
        r.kernel.risk.deactivate("operator")
    else:  # five in a row open it (60 s); a success (any placed order) resets the streak
        r.kernel.risk.breaker(VENUE).record_failure(FailureKind.SERVER_ERROR)


def _assert_within_limits(r: Rig, action: RLAction, decision: Decision, breaker_allowed: bool) -> None:
    """An ACCEPTED decision breaks no gate's rule and no risk limit, judged on the state it saw."""
    snap = decision.risk_snapshot
    order = decision.normalized_order
    assert order is not None and decision.reference_price is not None
    assert action.policy_id in r.adapter.settings.policies
    assert decision.ts_ns - action.ts_ns <= action.ttl_ms * MS
    assert action.confidence >= MIN_CONFIDENCE
    assert breaker_allowed
    if action.limit_price is not None:
        assert band_bps(action.limit_price, decision.reference_price) <= BAND_BPS
    instrument = r.adapter.instruments[action.symbol]
    request = OrderRequest(ClientOrderId("probe"), Symbol(order.symbol), order.side, order.order_type,
                           order.quantity, order.price, None, order.time_in_force)  # fmt: skip
    assert check_order(instrument, request, MarketContext(decision.reference_price)) == ()
    if order.side is Side.SELL:
        assert order.quantity <= snap["held"]
        return
    assert snap["trading_state"] == "ACTIVE"
    assert order.notional <= LIMITS.max_order_notional
    assert action.symbol not in snap["open_symbols"]  # one position per symbol, working entries included
    assert len(snap["open_symbols"]) < LIMITS.max_open_positions
    assert -snap["realized_pnl_today"] < LIMITS.max_daily_loss


def _run(r: Rig, steps: list[Step], actions: list[RLAction] | None) -> list[tuple[RLAction, Decision]]:
    """Feed ``steps`` (or replay ``actions`` as they were), checking each ACCEPTED decision on the way."""
    out: list[tuple[RLAction, Decision]] = []
    replay = iter(actions or ())
    for step in steps:
        r.advance_ms(step.wait_ms, requote=step.requote)
        if step.event is not None:
            _event(r, step.event)
            continue
        assert step.fields is not None
        action = next(replay) if actions is not None else _action(r, step.fields)
        breaker_allowed = r.kernel.risk.breaker(VENUE).seconds_until_probe() == 0
        decision = r.act(action).decision
        if decision.status is DecisionStatus.ACCEPTED:
            _assert_within_limits(r, action, decision, breaker_allowed)
        out.append((action, decision))
    return out


def _rig(mode: Mode = Mode.PAPER) -> Rig:
    return rig(mode, limits=LIMITS, equity=D(1000), policies={"ppo-btc": PolicySettings(min_confidence=MIN_CONFIDENCE)},
               settings={"bands": {"bid_up_bps": BAND_BPS, "bid_down_bps": BAND_BPS, "ask_up_bps": BAND_BPS,
                                   "ask_down_bps": BAND_BPS}})  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_steps())
def test_random_streams_in_shadow_mode_place_nothing_and_a_replay_is_a_noop(steps: list[Step]) -> None:
    r = _rig(Mode.SHADOW)

    first = _run(r, steps, None)
    second = _run(r, steps, [a for a, _ in first])

    assert r.venue_orders() == 0 and not any(d.placed for _, d in first + second)
    accepted = {d.action_id for _, d in first if d.status is DecisionStatus.ACCEPTED}
    for _, d in second:
        if d.action_id in accepted:
            assert d.status is not DecisionStatus.ACCEPTED  # never accepted twice: NOOP, or refused earlier
    assert r.kernel.risk.open_symbols() == frozenset()  # shadow holds no slot


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_steps())
def test_random_streams_no_accepted_decision_breaks_a_limit_and_a_replay_is_never_a_second_order(
    steps: list[Step],
) -> None:
    r = _rig()

    first = _run(r, steps, None)
    placed_first = {d.action_id for _, d in first if d.placed}
    second = _run(r, steps, [a for a, _ in first])

    orders = [o for s in PRICES for o in r.core.all_orders(ACCOUNT, s)]
    per_cid = Counter(o.client_order_id for o in orders)
    assert all(n == 1 for n in per_cid.values())  # one order per client order id, so per action id
    placed = [d for _, d in first + second if d.placed]
    assert len(placed) == len(orders) == len({d.action_id for d in placed})
    assert not placed_first & {d.action_id for _, d in second if d.placed}  # a placed action is never placed again
    assert len(first) == len(second) == sum(1 for s in steps if s.event is None)  # one decision per action
