from __future__ import annotations

from decimal import Decimal

from thunes.domain import ClientOrderId, OrderStatus, OrderType, Side, Symbol, VenueOrderId
from thunes.domain.venue import OrderReport
from thunes.execution.reconciliation import MismatchKind, OrphanPolicy, reconcile

D = Decimal
STEPS = {"BTC": D("0.00001"), "ETH": D("0.0001")}


def _open(cid: str, qty: str = "0.01", filled: str = "0") -> OrderReport:
    return OrderReport(ClientOrderId(cid), VenueOrderId("1"), Symbol("BTCUSDT"), Side.BUY, OrderType.LIMIT,
                       OrderStatus.NEW, D(qty), D(filled), D(0), D(29_000), 0)  # fmt: skip


def test_reconcile_when_within_one_step_then_clean() -> None:
    report = reconcile({"BTC": D("0.12345")}, {"BTC": (D("0.12344"), D(0))}, [], [], step_sizes=STEPS)

    assert report.clean


def test_reconcile_when_balance_differs_by_more_than_a_step_then_drift() -> None:
    report = reconcile({"BTC": D("0.1")}, {"BTC": (D("0.09"), D("0.00998"))}, [], [], step_sizes=STEPS)

    (m,) = report.drift
    assert m.subject == "BTC"
    assert m.local == D("0.1")
    assert m.venue == D("0.09998")


def test_reconcile_when_quote_and_fee_assets_ignored_then_their_moves_are_not_drift() -> None:
    report = reconcile({"USDT": D(100)}, {"USDT": (D("99.9"), D(0)), "BNB": (D("0.01"), D(0))}, [], [],
                       step_sizes=STEPS, ignore_assets=["USDT", "BNB"])  # fmt: skip

    assert report.clean


def test_reconcile_when_venue_holds_an_asset_the_ledger_does_not_know_then_drift() -> None:
    report = reconcile({}, {"ETH": (D("0.5"), D(0))}, [], [], step_sizes=STEPS)

    assert [m.subject for m in report.drift] == ["ETH"]


def test_reconcile_when_orders_differ_then_orphans_and_missing_with_actions() -> None:
    report = reconcile(
        {},
        {},
        [ClientOrderId("mine-1"), ClientOrderId("gone-2")],
        [_open("mine-1"), _open("stranger-3", qty="0.02", filled="0.005")],
        step_sizes=STEPS,
        orphan_policy=OrphanPolicy.ADOPT,
    )

    kinds = {(m.kind, m.subject, m.action) for m in report.mismatches}
    assert kinds == {
        (MismatchKind.ORPHAN_ORDER, "stranger-3", "ADOPT"),
        (MismatchKind.MISSING_ORDER, "gone-2", "LOOKUP"),
    }
    orphan = next(m for m in report.mismatches if m.kind is MismatchKind.ORPHAN_ORDER)
    assert orphan.venue == D("0.015")
    assert report.drift == ()
