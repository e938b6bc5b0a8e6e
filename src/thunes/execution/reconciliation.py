"""Reconciliation (SPEC §4): compare what the venue holds with what the local ledger believes.

Run at start and hourly. Balances (free + locked) are compared per base asset within one step
size; the quote asset and the fee asset are ignored unless listed, since fees and dust move them
in ways the position ledger does not track. Open orders are matched by client order id: an order
only the venue knows is an *orphan* (adopt or cancel, by policy, never ignore); one only the
ledger thinks open is *missing* (it filled or was cancelled while we were not looking: look it up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from thunes.domain.identifiers import ClientOrderId
from thunes.domain.instrument import Instrument
from thunes.domain.venue import OrderReport

__all__ = [
    "FEE_ASSET",
    "Mismatch",
    "MismatchKind",
    "OrphanPolicy",
    "ReconciliationReport",
    "reconcile",
    "reconcile_account",
]

ZERO = Decimal(0)


class MismatchKind(StrEnum):
    BALANCE = "BALANCE"
    ORPHAN_ORDER = "ORPHAN_ORDER"
    MISSING_ORDER = "MISSING_ORDER"


class OrphanPolicy(StrEnum):
    ADOPT = "ADOPT"
    CANCEL = "CANCEL"


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: MismatchKind
    subject: str  # an asset or a client order id
    local: Decimal | None
    venue: Decimal | None
    action: str


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    mismatches: tuple[Mismatch, ...]

    @property
    def clean(self) -> bool:
        return not self.mismatches

    @property
    def drift(self) -> tuple[Mismatch, ...]:
        """Balance differences: unresolved drift switches trading to REDUCING."""
        return tuple(m for m in self.mismatches if m.kind is MismatchKind.BALANCE)


def _balance_mismatches(
    local: Mapping[str, Decimal],
    venue: Mapping[str, tuple[Decimal, Decimal]],
    tolerance: Mapping[str, Decimal],
    ignored: frozenset[str],
) -> list[Mismatch]:
    out = []
    for asset in sorted((set(local) | set(venue)) - ignored):
        mine = local.get(asset, ZERO)
        free, locked = venue.get(asset, (ZERO, ZERO))
        theirs = free + locked
        if abs(theirs - mine) > tolerance.get(asset, ZERO):
            out.append(Mismatch(MismatchKind.BALANCE, asset, mine, theirs, "REDUCING until resolved"))
    return out


def reconcile(
    local_balances: Mapping[str, Decimal],
    venue_balances: Mapping[str, tuple[Decimal, Decimal]],
    local_open: Iterable[ClientOrderId],
    venue_open: Iterable[OrderReport],
    *,
    step_sizes: Mapping[str, Decimal],
    ignore_assets: Iterable[str] = (),
    orphan_policy: OrphanPolicy = OrphanPolicy.CANCEL,
) -> ReconciliationReport:
    """Every difference between the ledger and the venue, with the action each calls for.

    ``step_sizes`` maps a base asset to its LOT_SIZE step: the tolerance for its balance.
    """
    mismatches = _balance_mismatches(local_balances, venue_balances, step_sizes, frozenset(ignore_assets))
    venue_by_id = {r.client_order_id: r for r in venue_open}
    mine = set(local_open)
    for cid in sorted(set(venue_by_id) - mine):
        report = venue_by_id[cid]
        mismatches.append(Mismatch(MismatchKind.ORPHAN_ORDER, str(cid), None, report.quantity - report.filled_quantity,
                                   orphan_policy.value))  # fmt: skip
    for cid in sorted(mine - set(venue_by_id)):
        mismatches.append(Mismatch(MismatchKind.MISSING_ORDER, str(cid), None, None, "LOOKUP"))
    return ReconciliationReport(tuple(mismatches))


FEE_ASSET = "BNB"  # Binance may take fees in BNB: its balance moves without a fill of the session's


def reconcile_account(
    held: Sequence[tuple[Instrument, Decimal]],
    venue_balances: Mapping[str, tuple[Decimal, Decimal]],
    local_open: Iterable[ClientOrderId],
    venue_open: Iterable[OrderReport],
    *,
    orphan_policy: OrphanPolicy = OrphanPolicy.CANCEL,
) -> ReconciliationReport:
    """:func:`reconcile` for an account trading ``held`` (each instrument with the quantity the ledger
    holds): every traded base asset against its balance (summed over the symbols sharing it, within
    the coarsest of their lot steps); the quote currencies and, unless it is traded, the fee asset
    BNB are not compared (their balances move with every fill's price and fee)."""
    positions: dict[str, Decimal] = {}
    steps: dict[str, Decimal] = {}
    for instrument, quantity in held:
        base = instrument.base_asset
        positions[base] = positions.get(base, ZERO) + quantity
        steps[base] = max(steps.get(base, ZERO), instrument.step_size)
    ignored = {i.quote_asset for i, _ in held} - set(positions)
    if FEE_ASSET not in positions:
        ignored.add(FEE_ASSET)
    return reconcile(positions, venue_balances, local_open, venue_open, step_sizes=steps,
                     ignore_assets=sorted(ignored), orphan_policy=orphan_policy)  # fmt: skip
