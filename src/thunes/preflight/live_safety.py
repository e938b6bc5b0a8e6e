"""What must hold before THUNES trades real money (SPEC §7), checked before the first order.

Each check names what to do when it refuses. Local checks (confirmation, keys, kill-switch,
capital cap) run before anything reaches the venue; the venue checks take a ``BinanceClient``, so
tests run them against the simulated venue and nothing here knows which Binance it talks to.

- **Confirmation**: ``--confirm-live``, or the exact phrase typed at a terminal; a process
  without a terminal and without the flag is refused (a cron job must say so explicitly).
- **Keys that can withdraw are refused** (``GET /sapi/v1/account/apiRestrictions``): a leaked
  trading-only key can lose money through bad trades, a withdrawing key can empty the account.
- **Kill-switch**: on in the session's ``risk.json`` means a person has not yet cleared it; a
  ``risk.json`` that is missing (a session ran there), unreadable or contradicts the audit trail refuses too.
- **Reconciliation**: run now, read-only, exactly as the session runs it at start (ledger position
  and open orders against the venue's balances and open orders, quote asset and BNB ignored); any
  mismatch refuses. A fresh comparison, not a stored verdict: it knows whether the operator has
  fixed what the last session found, and needs nothing written by the session.
- **Ledger**: a live ledger is never started afresh behind the operator's back: a data dir that a
  session has used (its audit trail or session marks are there) but whose ``ledger.db`` is gone
  is refused until the ledger is restored.
- **Capital cap**: ``[live] max_capital`` (quote currency; micro-live starts at 10, about 10 EUR)
  bounds the risk limits the engine is handed (:func:`capped_limits`, applied by
  ``composition.risk_limits``), and :func:`capital_problems` refuses limits that would let more
  than that be at risk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

from thunes.adapters.secrets import SecretsProvider
from thunes.adapters.storage.safety_state import inspect_safety
from thunes.adapters.storage.sql_store import SqlStore
from thunes.adapters.venues.binance import BinanceClient
from thunes.app.composition import capped_limits
from thunes.domain.enums import OrderType
from thunes.domain.identifiers import ClientOrderId, Symbol
from thunes.domain.instrument import Instrument
from thunes.domain.position import Position
from thunes.domain.venue import OrderReport
from thunes.execution.reconciliation import reconcile_account
from thunes.governance.rodage import SESSION_MARKS_FILE
from thunes.risk import RiskLimits
from thunes.session.paper import Credentials

__all__ = [
    "API_KEY_NAME",
    "API_SECRET_NAME",
    "CONFIRM_PHRASE",
    "LiveRefusedError",
    "capital_problems",
    "capped_limits",
    "confirm_live",
    "kill_switch_problem",
    "ledger_problem",
    "live_credentials",
    "venue_problems",
]

CONFIRM_PHRASE = "trade real money"
API_KEY_NAME = "binance_api_key"
API_SECRET_NAME = "binance_api_secret"  # noqa: S105 - the secret's name in the provider, not a secret


class LiveRefusedError(Exception):
    """Live trading must not start; ``reasons`` lists every check that refused, each saying what to do."""

    def __init__(self, reasons: list[str] | tuple[str, ...]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("live trading refused: " + "; ".join(self.reasons))


def confirm_live(confirmed: bool, *, interactive: bool, ask: Callable[[str], str]) -> None:
    """Pass with ``--confirm-live``, or when a person at a terminal types :data:`CONFIRM_PHRASE`."""
    if confirmed:
        return
    if not interactive:
        raise LiveRefusedError(["--live needs --confirm-live when no one is at a terminal to confirm"])
    answer = ask(f'This session trades real money. Type "{CONFIRM_PHRASE}" to go on')
    if answer.strip() != CONFIRM_PHRASE:
        raise LiveRefusedError(["not confirmed: the phrase typed was not the one asked for"])


def live_credentials(provider: SecretsProvider) -> Credentials:
    """The Binance key pair from ``provider``; the one place their values are revealed."""
    return Credentials(provider.get(API_KEY_NAME).reveal(), provider.get(API_SECRET_NAME).reveal())


def capital_problems(limits: RiskLimits, max_capital: Decimal) -> list[str]:
    """Why ``limits`` would let more than ``max_capital`` be at risk (empty: they respect it)."""
    at_risk = limits.max_order_notional * limits.max_open_positions
    problems = []
    if at_risk > max_capital:
        problems.append(f"the risk limits allow {at_risk} {limits.quote_asset} in positions "
                        f"(max_order_notional x max_open_positions), above max_capital {max_capital}")  # fmt: skip
    if limits.max_daily_loss > max_capital:
        problems.append(f"max_daily_loss {limits.max_daily_loss} is above max_capital {max_capital}")
    return problems


def kill_switch_problem(data_dir: Path) -> str | None:
    """Why the session's persisted safety state forbids a start (``None``: it does not): the
    kill-switch or the halt on, or a risk state that is missing, unreadable or contradicts the audit
    trail (``safety_state``): a paper session would start REDUCING, a live one does not start."""
    safety = inspect_safety(data_dir)
    if safety.damaged:
        return f"cannot read the risk state: {'; '.join(safety.problems)}"
    if safety.problems:
        return (f"{safety.reason}. Restore risk.json, or set the state by hand: `thunes kill-switch on "
                f"--data-dir {data_dir}`, then a person clears it with `thunes kill-switch off --by NAME`")  # fmt: skip
    snapshot = safety.snapshot
    if snapshot is None:
        return None
    switch = snapshot.kill_switch
    if switch.active:
        return (f"the kill-switch is ON in {data_dir} (by {switch.by}: {switch.reason}); "
                f"a person clears it with `thunes kill-switch off --by NAME --data-dir {data_dir}`")  # fmt: skip
    if snapshot.halt.active:
        return f"trading is HALTED in {data_dir} (by {snapshot.halt.by}: {snapshot.halt.reason})"
    return None


def ledger_problem(data_dir: Path) -> str | None:
    """Why the session's ledger cannot be trusted to continue (``None``: there is none yet, or it is
    there): a session ran in ``data_dir`` but its ledger is missing."""
    if (data_dir / "ledger.db").is_file():
        return None
    traces = [name for name in ("audit.db", SESSION_MARKS_FILE) if (data_dir / name).exists()]
    if not traces:
        return None
    return (f"{data_dir} holds a previous session ({', '.join(traces)}) but no ledger.db: restore the ledger "
            "(a live ledger is never started afresh) or use another --data-dir")  # fmt: skip


async def venue_problems(client: BinanceClient, symbols: Symbol | Sequence[Symbol], data_dir: Path,
                         max_capital: Decimal) -> list[str]:  # fmt: skip
    """What the venue says against a live start: key permissions, every symbol's smallest order, and
    the reconciliation of every symbol of the portfolio at once (one account)."""
    problems = []
    rights = await client.api_restrictions()
    if rights.can_withdraw:
        problems.append("the API key can withdraw funds: create a key with withdrawals disabled (Binance API "
                        "Management: untick 'Enable Withdrawals') and use that one")  # fmt: skip
    if not rights.can_trade:
        problems.append("the API key cannot trade spot: enable 'Spot & Margin Trading' on it")
    info = await client.exchange_info()
    instruments = [info.get(s) for s in ([symbols] if isinstance(symbols, str) else symbols)]
    for instrument in instruments:
        smallest = instrument.min_notional_for(OrderType.MARKET)
        if smallest > max_capital:
            problems.append(f"max_capital {max_capital} is below {instrument.symbol}'s smallest order ({smallest} "
                            f"{instrument.quote_asset}): nothing could be traded")  # fmt: skip
    problems += await _reconciliation_problems(client, instruments, data_dir)
    return problems


async def _reconciliation_problems(client: BinanceClient, instruments: Sequence[Instrument],
                                   data_dir: Path) -> list[str]:  # fmt: skip
    """The session's start-of-day reconciliation, read-only: each mismatch is a reason to refuse."""
    held, local_open = _ledger(data_dir, instruments)
    venue_open: list[OrderReport] = []
    for instrument in instruments:
        venue_open += await client.open_orders(instrument.symbol)
    report = reconcile_account(held, await client.balances(), local_open, venue_open)
    return [f"reconciliation: {m.kind.value} {m.subject}: ledger {m.local} venue {m.venue}; resolve it "
            f"(thunes status/orders --data-dir {data_dir}) before going live" for m in report.mismatches]  # fmt: skip


def _ledger(
    data_dir: Path, instruments: Sequence[Instrument]
) -> tuple[list[tuple[Instrument, Decimal]], list[ClientOrderId]]:
    """Each symbol's position and the open orders the session's ledger holds (none before the first session)."""
    positions = {i.symbol: Position(i.symbol, i.base_asset, i.quote_asset) for i in instruments}
    ledger = data_dir / "ledger.db"
    local_open: list[ClientOrderId] = []
    if ledger.is_file():
        store = SqlStore(f"sqlite:///{ledger}")
        try:
            for instrument in instruments:
                for fill in store.fills(str(instrument.symbol)):
                    positions[instrument.symbol] = positions[instrument.symbol].apply(fill)
            local_open = [ClientOrderId(r["client_order_id"]) for r in store.orders(open_only=True)]
        finally:
            store.close()
    return [(i, positions[i.symbol].quantity) for i in instruments], local_open
