"""Walk-forward validation and the deployment rule of SPEC §8.

The data is cut into rolling folds: optimise on ``train_days``, then trade the best parameters on
the next ``test_days``, which the optimisation never saw; the window moves by ``step_days`` (default:
the test length, so test windows tile the data without overlap). A test window's warm-up is the end
of its train window (history, not future), so it trades from its first close. Each test window
starts flat with the same deposit; a position still open at its end is marked at the last close.

The out-of-sample curve chains the test windows (their returns, compounded) and decides: **new
parameters are deployed only when the OOS Sharpe exceeds the threshold (1.5 by default) over at
least ``min_oos_trades`` closed OOS trades (100 by default: a Sharpe over 29 trades whose folds
ranged from -3.0 to 7.1 said DEPLOY), and never without the evaluation recorded**:
:func:`record_if_deployable` needs the written result JSON.
What is deployed is a last optimisation on the latest ``train_days``: the folds validated the
procedure that produces it. It is recorded with the OOS Sharpe as its walk-forward Sharpe.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from thunes.app.config import Settings
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.engine.performance import Performance, compute_performance, periods_per_year
from thunes.features.ohlcv import OHLCV
from thunes.governance.audit_ports import AuditWriter
from thunes.governance.audit_schema import AuditContext
from thunes.governance.params import ParamStore, RecordOutcome
from thunes.research.optimize import (
    Measured,
    OptimizeConfig,
    TrialCallback,
    measure,
    optimize,
    record_parameters,
    resolve_warmup,
    space_for,
    with_strategy,
)

__all__ = [
    "DAY_NS",
    "DEFAULT_MIN_OOS_SHARPE",
    "DEFAULT_MIN_OOS_TRADES",
    "Candidate",
    "Fold",
    "FoldResult",
    "WalkForwardConfig",
    "WalkForwardResult",
    "check_folds",
    "make_folds",
    "record_if_deployable",
    "result_json",
    "run_walk_forward",
    "write_result",
]

DAY_NS = 86_400 * 1_000_000_000
DEFAULT_MIN_OOS_SHARPE = 1.5  # SPEC §8
DEFAULT_MIN_OOS_TRADES = 100  # closed out-of-sample trades: a Sharpe over fewer is noise (29 trades said DEPLOY)


@dataclass(frozen=True, slots=True)
class WalkForwardConfig:
    strategy: str
    train_days: float = 180
    test_days: float = 30
    step_days: float | None = None  # None: test_days
    trials: int = 30  # per fold
    seed: int = 0  # fold k's sampler is seeded with seed + k, the candidate's with seed + number of folds
    jobs: int = 1
    min_oos_sharpe: float = DEFAULT_MIN_OOS_SHARPE
    min_oos_trades: int = DEFAULT_MIN_OOS_TRADES
    warmup: int | None = None  # None: settings' backtest.warmup_bars raised to the space's (optimize.resolve_warmup)
    deposit: Decimal | None = None  # None: settings' backtest.initial_cash

    @property
    def step(self) -> float:
        return self.test_days if self.step_days is None else self.step_days


@dataclass(frozen=True, slots=True)
class Fold:
    """Row ranges of one fold (``start`` inclusive, ``stop`` exclusive); the test follows the train."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int


def make_folds(bars: OHLCV, config: WalkForwardConfig) -> list[Fold]:
    """Every fold whose test window ends within the data, cut by bar open time (a gap shortens a window)."""
    if config.train_days <= 0 or config.test_days <= 0 or config.step < config.test_days:
        raise ValueError("need positive train and test days, and a step of at least the test length")
    times = bars.open_time_ns
    first, end = int(times[0]), int(times[-1]) + bars.timeframe.nanoseconds
    train, test, step = (round(days * DAY_NS) for days in (config.train_days, config.test_days, config.step))
    folds: list[Fold] = []
    while (start := first + len(folds) * step) + train + test <= end:
        train_start, split, test_stop = np.searchsorted(times, [start, start + train, start + train + test])
        folds.append(Fold(len(folds), int(train_start), int(split), int(split), int(test_stop)))
    return folds


@dataclass(frozen=True, slots=True)
class FoldResult:
    fold: Fold
    strategy: dict[str, Any]  # the best trial's StrategySettings overrides
    is_sharpe: float
    oos: Measured  # the test window, after the warm-up


@dataclass(frozen=True, slots=True)
class Candidate:
    """What walk-forward would deploy: the best parameters on the latest ``train_days`` (rows)."""

    strategy: dict[str, Any]
    is_sharpe: float
    train_start: int
    train_stop: int


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    config: WalkForwardConfig
    bars: OHLCV
    warmup: int
    deposit: Decimal  # each test window's starting balance
    folds: list[FoldResult]
    oos: Performance  # the chained test windows
    candidate: Candidate

    @property
    def sharpe_passes(self) -> bool:
        """SPEC §8: OOS Sharpe strictly above the threshold; an undefined Sharpe never passes."""
        return math.isfinite(self.oos.sharpe) and self.oos.sharpe > self.config.min_oos_sharpe

    @property
    def enough_trades(self) -> bool:
        """At least ``min_oos_trades`` closed out-of-sample trades: fewer cannot support the Sharpe."""
        return self.oos.trades >= self.config.min_oos_trades

    @property
    def deploy(self) -> bool:
        """Both halves of the rule: the OOS Sharpe passes and enough OOS trades stand behind it."""
        return self.sharpe_passes and self.enough_trades

    @property
    def verdict(self) -> str:
        shown = f"{self.oos.sharpe:.3f}" if math.isfinite(self.oos.sharpe) else "undefined"
        sharpe = f"OOS Sharpe {shown} {'>' if self.sharpe_passes else 'is not >'} {self.config.min_oos_sharpe}"
        trades = f"{self.oos.trades} OOS trades {'>=' if self.enough_trades else 'is fewer than'} "
        return f"{sharpe}; {trades}{self.config.min_oos_trades}"


def _best(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    config: WalkForwardConfig,
    name: str,
    seed: int,
    callbacks: Sequence[TrialCallback],
) -> tuple[dict[str, Any], float]:
    """The best parameters on ``bars`` (a study in memory: folds are cheap to redo, and independent)."""
    search = OptimizeConfig(
        config.strategy,
        name,
        trials=config.trials,
        seed=seed,
        jobs=config.jobs,
        warmup=config.warmup,
        deposit=config.deposit,  # None: the settings' (OptimizeConfig.deposit_for)
    )
    best = optimize(settings, instrument, bars, info, search, callbacks=callbacks).best
    if best is None:
        raise ValueError(f"{name}: no trial had a defined Sharpe in {config.trials} trials; try more trials")
    return best.strategy, best.sharpe


def _chained(folds: Sequence[FoldResult], deposit: Decimal, annualization: float) -> Performance:
    """The test windows end to end, each curve rescaled to start where the previous one ended.
    Trade figures count the trips closed inside a window (an open one's PnL is in the equity)."""
    scale, start = 1.0, float(deposit)
    times: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float64]] = []
    for r in folds:
        curve = r.oos.equity * scale
        times.append(r.oos.times)
        values.append(curve)
        scale = float(curve[-1]) / start
    trips = [t for r in folds for t in r.oos.trips if t.closed]
    return compute_performance(np.concatenate(times), np.concatenate(values), trips, annualization)


def _warmup(settings: Settings, config: WalkForwardConfig) -> int:
    return resolve_warmup(space_for(config.strategy), config.warmup, settings.backtest.warmup_bars)


def check_folds(settings: Settings, bars: OHLCV, config: WalkForwardConfig) -> list[Fold]:
    """The folds of ``bars``, once there is one and each train window holds the warm-up (ValueError
    otherwise): checked before any trial runs."""
    if config.min_oos_trades < 0:
        raise ValueError(f"min_oos_trades must be >= 0, got {config.min_oos_trades}")
    warmup = _warmup(settings, config)
    folds = make_folds(bars, config)
    if not folds:
        raise ValueError(f"{len(bars):,} bars hold no fold of {config.train_days} + {config.test_days} days")
    if min(f.train_stop - f.train_start for f in folds) < warmup + 2:
        raise ValueError(f"a train window is shorter than the {warmup}-bar warm-up: lengthen the train window")
    return folds


def run_walk_forward(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    config: WalkForwardConfig,
    *,
    callbacks: Sequence[TrialCallback] = (),
) -> WalkForwardResult:
    """Optimise then test every fold, chain the test windows, and optimise the deployment candidate."""
    warmup = _warmup(settings, config)
    deposit = settings.backtest.initial_cash if config.deposit is None else config.deposit
    folds = check_folds(settings, bars, config)
    results: list[FoldResult] = []
    for fold in folds:
        train = bars.slice(fold.train_start, fold.train_stop)
        chosen, is_sharpe = _best(
            settings, instrument, train, info, config, f"fold-{fold.index}", config.seed + fold.index, callbacks
        )
        test = bars.slice(fold.test_start - warmup, fold.test_stop)  # the warm-up ends the train window
        oos = measure(
            with_strategy(settings, config.strategy, chosen),
            instrument,
            test,
            info,
            warmup_bars=warmup,
            deposit=deposit,
        )
        results.append(FoldResult(fold, chosen, is_sharpe, oos))
    aggregate = _chained(results, deposit, periods_per_year(bars.timeframe.nanoseconds))
    end = int(bars.open_time_ns[-1]) + bars.timeframe.nanoseconds
    latest = int(np.searchsorted(bars.open_time_ns, end - round(config.train_days * DAY_NS)))
    chosen, is_sharpe = _best(
        settings,
        instrument,
        bars.slice(latest, len(bars)),
        info,
        config,
        "candidate",
        config.seed + len(folds),
        callbacks,
    )
    candidate = Candidate(chosen, is_sharpe, latest, len(bars))
    return WalkForwardResult(config, bars, warmup, deposit, results, aggregate, candidate)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _span(bars: OHLCV, start: int, stop: int) -> dict[str, str]:
    """A row range as the times it covers: first open to last close."""
    return {
        "start": _iso(int(bars.open_time_ns[start])),
        "end": _iso(int(bars.open_time_ns[stop - 1]) + bars.timeframe.nanoseconds),
    }


def _figures(p: Performance) -> dict[str, Any]:
    return {
        "sharpe": _number(p.sharpe),
        "sortino": _number(p.sortino),
        "total_return": _number(p.total_return),
        "max_drawdown": _number(p.max_drawdown),
        "trades": p.trades,
        "open_trades": p.open_trades,
        "win_rate": _number(p.win_rate),
        "fees": p.total_fees,
    }


def result_json(result: WalkForwardResult, settings: Settings, build: AuditContext) -> dict[str, Any]:
    """The evaluation as strict JSON (undefined ratios are ``null``): what a reviewer needs to redo it."""
    bars, config = result.bars, result.config
    candidate = result.candidate
    return {
        "kind": "walk-forward",
        "strategy": config.strategy,
        "symbol": bars.symbol,
        "timeframe": bars.timeframe.value,
        "data": {"bars": len(bars), **_span(bars, 0, len(bars))},
        "config": {
            **{k: v for k, v in asdict(config).items() if k != "deposit"},
            "step_days": config.step,
            "deposit": str(result.deposit),
            "warmup_bars": result.warmup,
            "risk": settings.risk.model_dump(mode="json"),
            "fee_rate": str(settings.backtest.fee_rate),
        },
        "build": {"app_version": build.app_version, "git_sha": build.git_sha},
        "folds": [
            {
                "fold": r.fold.index,
                "train": _span(bars, r.fold.train_start, r.fold.train_stop),
                "test": _span(bars, r.fold.test_start, r.fold.test_stop),
                "parameters": r.strategy,
                "is_sharpe": _number(r.is_sharpe),
                "oos": _figures(r.oos.performance),
            }
            for r in result.folds
        ],
        "oos": {"folds": len(result.folds), **_figures(result.oos)},
        "candidate": {
            "parameters": candidate.strategy,
            "is_sharpe": _number(candidate.is_sharpe),
            "train": _span(bars, candidate.train_start, candidate.train_stop),
        },
        "decision": {
            "deploy": result.deploy,
            "rule": f"oos_sharpe > {config.min_oos_sharpe} and oos_trades >= {config.min_oos_trades}",
            "verdict": result.verdict,
        },
        "recorded": None,
    }


def write_result(document: dict[str, Any], out_root: Path, now: datetime) -> Path:
    """``out_root/walk-forward-<UTC time>-<8 hex of the document>.json`` (never overwrites)."""
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:8]
    out_root.mkdir(parents=True, exist_ok=True)
    stem = f"walk-forward-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"
    path, n = out_root / f"{stem}.json", 1
    while path.exists():  # the same evaluation written twice within a second
        path, n = out_root / f"{stem}-{n}.json", n + 1
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return path


def record_if_deployable(
    result: WalkForwardResult,
    evaluation: Path,
    settings: Settings,
    store: ParamStore,
    audit: AuditWriter,
    build: AuditContext,
    *,
    created_ns: int,
    author: str,
) -> RecordOutcome | None:
    """Record the candidate as the strategy's next version when the rule passes; None when it does not.

    ``evaluation`` is the written result (:func:`write_result`): no version without it. The JSON's
    ``recorded`` field is then filled in, so the evaluation names the version it justified.
    """
    if not evaluation.is_file():
        raise FileNotFoundError(f"{evaluation}: write the walk-forward evaluation before recording a version")
    document = json.loads(evaluation.read_text())
    written = (document.get("decision", {}).get("deploy"), document.get("oos", {}).get("sharpe"))
    if written != (result.deploy, _number(result.oos.sharpe)):
        raise ValueError(f"{evaluation} is not the evaluation of this result: write this one first")
    if not result.deploy:
        return None
    chosen = with_strategy(settings, result.config.strategy, result.candidate.strategy).strategy
    outcome = record_parameters(
        store,
        audit,
        build,
        chosen,
        created_ns=created_ns,
        author=author,
        reason=f"walk-forward {evaluation}: {result.verdict}",
        backtest_sharpe=result.candidate.is_sharpe,
        wf_sharpe=result.oos.sharpe,
    )
    version = outcome.version
    document["recorded"] = {"version": version.version, "param_hash": version.param_hash, "created": outcome.created}
    evaluation.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return outcome
