"""The engine: the trader and what it runs on (bus, clock, jobs, in-memory ledger), and the backtests'
measures (:mod:`thunes.engine.performance`). Every backtest runs the engine core (``thunes.backtest.run``)."""
