"""Research on top of backtests: parameter optimisation (Optuna), walk-forward validation and the
look-ahead check."""
