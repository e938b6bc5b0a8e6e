# THUNES developer entry points. Every target creates .venv and installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint bench concurrency clean install install-dev

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "THUNES needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.core

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev,bench]'
	touch $@ $(VENV)/.dev $(VENV)/.core

install: $(VENV)/.core
install-dev: $(VENV)/.dev

## run: the main job: the embedded venue replays recorded candles of four symbols on one clock and
## THUNES paper-trades them together on one account (both built-in strategies) through its real
## client, risk and execution path for RUN_SECONDS, then prints a per-symbol and total summary
RUN_SECONDS ?= 20
RUN_PAIRS ?= BTCUSDT:sma_cross,ETHUSDT:rsi_reversion,BNBUSDT:sma_cross,SOLUSDT:rsi_reversion
run: $(VENV)/.core
	$(BIN)/thunes trade --paper --duration $(RUN_SECONDS) --pairs $(RUN_PAIRS)

## test: the whole test suite
test: $(VENV)/.dev
	$(BIN)/pytest

## concurrency: the race suite, ten times in a row (any failure stops it)
concurrency: $(VENV)/.dev
	for i in 1 2 3 4 5 6 7 8 9 10; do $(BIN)/pytest -q tests/concurrency || exit 1; done

## lint: ruff, mypy --strict on src/, import-linter contracts
lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports --no-cache

## bench: speed and memory benchmarks, printed as tables; the backtests beside backtesting.py (the bench extra)
bench: $(VENV)/.bench
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache
