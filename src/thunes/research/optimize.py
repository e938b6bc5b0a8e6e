"""Parameter search with Optuna (SPEC §8 research): the objective is the Sharpe of the fast backtest.

Why it can be trusted: every trial runs :func:`~thunes.backtest.run.measure_backtest` on the fast
path (:func:`~thunes.backtest.fast.run_fast_backtest`), which fills exactly as the event-driven
backtest does, and :func:`equity_curve` rebuilds from those fills
the very equity the event path marks at each close (when the compiled kernel ran, the result computes
the same floats straight from its integer columns), so a trial's Sharpe is the Sharpe
``thunes report`` would print for the same parameters (tested). Conventions are those of
:mod:`thunes.engine.performance` (bar returns, 365-day annualisation, risk-free 0).

- **Same bars for every trial.** The warm-up is the largest any point of the search space needs, so
  all trials are measured over the same closes and their ratios compare.
- **Seeded.** TPE (NSGA-II with ``multi``) is seeded from ``(seed, trials already in the study)``:
  the same seed on the same study state proposes the same trials (with ``jobs=1``; threads race),
  and a continued study does not replay its first random trials. Machines sharing a study should
  each take their own seed.
- **Shared studies.** Any SQLAlchemy URL stores the study (SQLite file by default, PostgreSQL to
  share it between machines); a study remembers its setup (strategy, market, data range, warm-up,
  objective, space) and refuses to be continued on another one.
- **Invalid parameters are pruned**, with the reason in the trial's ``pruned`` attribute, and so is
  a trial whose Sharpe is undefined (no trade: a flat curve); anything else is a bug and stops.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
from optuna.study import StudyDirection
from sqlalchemy.exc import IntegrityError, ProgrammingError  # what Optuna raises from its tables

from thunes.app.composition import strategy_for
from thunes.app.config import Settings, StrategySettings
from thunes.backtest.run import equity_curve, measure_backtest
from thunes.domain.exchange_info import ExchangeInfo
from thunes.domain.instrument import Instrument
from thunes.engine.performance import Performance, RoundTrip
from thunes.features.ohlcv import OHLCV
from thunes.governance.audit_ports import AuditWriter
from thunes.governance.audit_schema import AuditContext
from thunes.governance.params import ParamStore, ParamVersion, RecordOutcome, record_version
from thunes.research.spaces import DeclaredSpace, RsiSpace, SearchSpace, SmaSpace, space_for

__all__ = [
    "DeclaredSpace",
    "Measured",
    "OptimizeConfig",
    "OptimizeResult",
    "RsiSpace",
    "SearchSpace",
    "SmaSpace",
    "StudyMismatchError",
    "StudyStorageError",
    "TrialCallback",
    "TrialOutcome",
    "checked_warmup",
    "close_storage",
    "equity_curve",
    "masked_url",
    "measure",
    "open_storage",
    "optimize",
    "quiet_optuna",
    "record_parameters",
    "resolve_warmup",
    "space_for",
    "with_strategy",
]


def quiet_optuna() -> None:
    """Optuna logs one line per trial by default, which would bury a progress bar, and a failed trial's
    traceback as a warning: the error itself reaches the caller (the CLI says it in one line)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)


ObjectiveValue = float | tuple[float, float]
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]  # called after each trial


class StudyStorageError(RuntimeError):
    """The study storage cannot be opened: check the URL, the server and its credentials."""


class StudyMismatchError(ValueError):
    """The named study was run on another setup: continue it with that setup, or name a new study."""


def resolve_warmup(space: SearchSpace, warmup: int | None, configured: int) -> int:
    """``warmup`` bars when given (never fewer than the space needs), else ``configured`` (the settings'
    ``backtest.warmup_bars``) raised to what the space needs."""
    chosen = max(configured, space.warmup) if warmup is None else warmup
    if chosen < space.warmup:
        raise ValueError(f"a {chosen}-bar warm-up is shorter than the {space.warmup} bars the search space needs")
    return chosen


def checked_warmup(settings: Settings, config: OptimizeConfig, bars: OHLCV) -> int:
    """The search's warm-up, once its counts and ``bars`` allow it (ValueError otherwise): the CLI
    checks this before it creates the study's storage."""
    if config.trials < 1 or config.jobs < 1 or config.seed < 0:
        raise ValueError("need trials >= 1, jobs >= 1 and a seed >= 0")
    warmup = resolve_warmup(config.search_space(), config.warmup, settings.backtest.warmup_bars)
    if len(bars) < warmup + 2:
        raise ValueError(f"{len(bars)} bars leave fewer than 2 after the {warmup}-bar warm-up")
    return warmup


def with_strategy(settings: Settings, strategy: str, overrides: Mapping[str, Any]) -> Settings:
    """``settings`` trading ``strategy`` with ``overrides`` (a user strategy's ``params`` over the configured
    ones); ValueError when they are invalid."""
    fields = {**settings.strategy.model_dump(), **overrides, "name": strategy}
    if "params" in overrides:
        fields["params"] = {**settings.strategy.params, **overrides["params"]}
    return settings.model_copy(update={"strategy": StrategySettings.model_validate(fields)})


@dataclass(frozen=True, slots=True)
class Measured:
    """One fast backtest, measured: the equity curve after the warm-up, its round trips, the figures."""

    times: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    trips: list[RoundTrip]
    performance: Performance


def measure(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    *,
    warmup_bars: int,
    deposit: Decimal,
) -> Measured:
    """The performance of ``settings.strategy`` on ``bars`` after ``warmup_bars``, by the fast path
    (:func:`~thunes.backtest.run.measure_backtest`, as every backtesting command)."""
    if len(bars) < warmup_bars + 2:
        raise ValueError(f"{len(bars)} bars leave fewer than 2 after the {warmup_bars}-bar warm-up")
    run = measure_backtest(settings, instrument, bars, info, warmup_bars=warmup_bars, deposit=deposit, fast=True)
    return Measured(run.times, run.values, run.trips, run.performance)


@dataclass(frozen=True, slots=True)
class OptimizeConfig:
    """One search: ``trials`` more trials of ``strategy`` in the study ``study_name``."""

    strategy: str
    study_name: str
    trials: int = 100
    seed: int = 0
    jobs: int = 1
    multi: bool = False
    warmup: int | None = None  # None: settings' backtest.warmup_bars, raised to the space's need
    deposit: Decimal | None = None  # None: settings' backtest.initial_cash
    population: int = 20  # NSGA-II generation size (multi only)
    space: SearchSpace | None = None

    def search_space(self) -> SearchSpace:
        space = self.space or space_for(self.strategy)
        if space.strategy != self.strategy:
            raise ValueError(f"search space of {space.strategy} given for strategy {self.strategy}")
        return space

    def deposit_for(self, settings: Settings) -> Decimal:
        """The starting balance of every trial: ``deposit``, else ``settings.backtest.initial_cash``."""
        return settings.backtest.initial_cash if self.deposit is None else self.deposit


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    """A completed trial: its strategy settings overrides and what they did on the training data."""

    number: int
    strategy: dict[str, Any]
    sharpe: float
    max_drawdown: float
    total_return: float
    trades: int


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    study_name: str
    directions: tuple[str, ...]
    warmup: int
    trials_run: int  # by this call
    trials_total: int  # in the study, every machine's
    complete: int
    pruned: int
    best: TrialOutcome | None  # single objective: the highest Sharpe
    pareto: list[TrialOutcome]  # multi: the front (Sharpe up, drawdown down), best Sharpe first


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class _Objective:
    """A trial: suggested parameters → settings → fast backtest → Sharpe (and drawdown depth)."""

    def __init__(
        self,
        settings: Settings,
        instrument: Instrument,
        bars: OHLCV,
        info: ExchangeInfo,
        space: SearchSpace,
        warmup: int,
        config: OptimizeConfig,
    ) -> None:
        self._market = (instrument, bars, info)
        self._settings, self._space, self._warmup, self._config = settings, space, warmup, config

    def __call__(self, trial: optuna.Trial) -> ObjectiveValue:
        overrides = self._space.suggest(trial)
        trial.set_user_attr("strategy", overrides)
        done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        earlier = next((t for t in done if t.params == trial.params), None)
        if earlier is not None:  # samplers re-propose points (NSGA-II often): the backtest would repeat itself
            for key, value in earlier.user_attrs.items():
                trial.set_user_attr(key, value)
            trial.set_user_attr("same_as", earlier.number)
            return (earlier.values[0], earlier.values[1]) if self._config.multi else earlier.values[0]
        instrument, bars, info = self._market
        try:  # an invalid point is the search space's business, not a crash
            candidate = with_strategy(self._settings, self._space.strategy, overrides)
            strategy_for(candidate, instrument.tick_size)
        except ValueError as e:
            trial.set_user_attr("pruned", f"invalid parameters: {e}")
            raise optuna.TrialPruned(str(e)) from e
        p = measure(
            candidate, instrument, bars, info, warmup_bars=self._warmup, deposit=self._config.deposit_for(candidate)
        ).performance
        for key in ("total_return", "max_drawdown", "sortino", "calmar"):
            trial.set_user_attr(key, _finite_or_none(getattr(p, key)))
        trial.set_user_attr("trades", p.trades)
        if not math.isfinite(p.sharpe):
            trial.set_user_attr("pruned", f"Sharpe undefined ({p.trades} trades)")
            raise optuna.TrialPruned("Sharpe undefined")
        return (p.sharpe, -p.max_drawdown) if self._config.multi else p.sharpe


def masked_url(url: str) -> str:
    """``url`` with its password hidden, for messages and logs."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)


def open_storage(url: str, *, attempts: int = 5) -> optuna.storages.BaseStorage:
    """The study storage at ``url`` (a SQLite file's directory is created).

    Workers starting together on an empty database race to create Optuna's tables, and the losers
    get a duplicate-key or duplicate-table error: they try again and find the tables there.
    """
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}  # several workers on one file wait for its lock
    elif url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": 10}
    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except (IntegrityError, ProgrammingError) as e:  # the creation race; a bad URL or server is not retried
            if attempt == attempts:
                raise StudyStorageError(f"cannot create the study tables in {masked_url(url)}: {e}") from e
            time.sleep(0.2 * attempt)
        except Exception as e:  # SQLAlchemy's and the driver's other errors: one message for the operator
            raise StudyStorageError(f"cannot open study storage {masked_url(url)}: {e}") from e
    raise AssertionError("unreachable")  # pragma: no cover


def close_storage(storage: optuna.storages.BaseStorage) -> None:
    """Release a storage's database connections (a PostgreSQL server counts them)."""
    if isinstance(storage, optuna.storages.RDBStorage):
        storage.remove_session()
        storage.engine.dispose()


def _setup(settings: Settings, bars: OHLCV, space: SearchSpace, warmup: int, config: OptimizeConfig) -> dict[str, Any]:
    """What makes two trials of a study comparable."""
    return {
        "strategy": space.strategy,
        "symbol": bars.symbol,
        "timeframe": bars.timeframe.value,
        "first_open_ns": int(bars.open_time_ns[0]),
        "last_open_ns": int(bars.open_time_ns[-1]),
        "bars": len(bars),
        "warmup": warmup,
        "deposit": str(config.deposit_for(settings)),
        "space": repr(space),
        "objective": "sharpe,max_drawdown" if config.multi else "sharpe",
        "risk": settings.risk.model_dump(mode="json"),
        "fee_rate": str(settings.backtest.fee_rate),
    }


def _study(storage: optuna.storages.BaseStorage | None, config: OptimizeConfig, setup: dict[str, Any]) -> optuna.Study:
    directions: list[StudyDirection] = (
        [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE] if config.multi else [StudyDirection.MAXIMIZE]
    )
    study = optuna.create_study(
        storage=storage, study_name=config.study_name, directions=directions, load_if_exists=True
    )
    if list(study.directions) != directions:
        raise StudyMismatchError(f"study {config.study_name!r} optimises {len(study.directions)} objective(s)")
    stored = study.user_attrs.get("setup")
    if stored is None:
        study.set_user_attr("setup", setup)
    elif stored != setup:
        changed = sorted(k for k in setup.keys() | stored.keys() if setup.get(k) != stored.get(k))
        raise StudyMismatchError(f"study {config.study_name!r} was run with other {', '.join(changed)}")
    done = len(study.get_trials(deepcopy=False))
    seed = int(np.random.SeedSequence([config.seed, done]).generate_state(1)[0])
    if config.multi:
        study.sampler = optuna.samplers.NSGAIISampler(population_size=config.population, seed=seed)
    else:
        study.sampler = optuna.samplers.TPESampler(seed=seed)
    return study


def _outcome(trial: optuna.trial.FrozenTrial) -> TrialOutcome:
    attrs = trial.user_attrs
    sharpe = trial.values[0] if trial.values else math.nan
    mdd, total = attrs.get("max_drawdown"), attrs.get("total_return")
    return TrialOutcome(
        trial.number,
        dict(attrs["strategy"]),
        sharpe,
        math.nan if mdd is None else mdd,
        math.nan if total is None else total,
        int(attrs.get("trades", 0)),
    )


def optimize(
    settings: Settings,
    instrument: Instrument,
    bars: OHLCV,
    info: ExchangeInfo,
    config: OptimizeConfig,
    *,
    storage: optuna.storages.BaseStorage | None = None,
    callbacks: Sequence[TrialCallback] = (),
) -> OptimizeResult:
    """Run ``config.trials`` trials on ``bars`` (the training data); ``storage`` None keeps the study in memory."""
    warmup = checked_warmup(settings, config, bars)
    space = config.search_space()
    study = _study(storage, config, _setup(settings, bars, space, warmup, config))
    objective = _Objective(settings, instrument, bars, info, space, warmup, config)
    study.optimize(objective, n_trials=config.trials, n_jobs=config.jobs, callbacks=list(callbacks))
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    front: dict[tuple[tuple[str, Any], ...], optuna.trial.FrozenTrial] = {}
    for t in sorted(study.best_trials, key=lambda t: t.number):  # a point proposed again is listed once
        front.setdefault(tuple(sorted(t.params.items())), t)
    pareto = sorted((_outcome(t) for t in front.values()), key=lambda o: (-o.sharpe, o.number))
    best = pareto[0] if pareto and not config.multi else None
    return OptimizeResult(
        config.study_name,
        tuple(d.name.lower() for d in study.directions),
        warmup,
        config.trials,
        len(trials),
        states.count(optuna.trial.TrialState.COMPLETE),
        states.count(optuna.trial.TrialState.PRUNED),
        best,
        pareto if config.multi else [],
    )


def record_parameters(
    store: ParamStore,
    audit: AuditWriter,
    context: AuditContext,
    strategy: StrategySettings,
    *,
    created_ns: int,
    author: str,
    reason: str,
    backtest_sharpe: float | None,
    wf_sharpe: float | None,
) -> RecordOutcome:
    """Record ``strategy``'s parameters as its next version (audited), as ``thunes params record`` does.
    Undefined Sharpe ratios are stored as absent."""
    proposal = ParamVersion.propose(
        strategy.name,
        strategy.model_dump(mode="json"),
        git_sha=context.git_sha,
        created_ns=created_ns,
        author=author,
        reason=reason,
        backtest_sharpe=_finite_or_none(backtest_sharpe),
        wf_sharpe=_finite_or_none(wf_sharpe),
    )
    return record_version(store, audit, context, proposal)
