# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint typecheck unit integration bench soak clean help

help:
	@echo "make run    start the service on http://$(HOST):$(PORT) (data in ./data)"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make soak   the reliability suite, longer (SOAK_EXAMPLES, SOAK_KILL_CYCLES)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-install when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@ $(VENV)/.installed-dev $(VENV)/.installed-run

run: $(VENV)/.installed-run
	MLP_HOST=$(HOST) MLP_PORT=$(PORT) $(BIN)/mlp-service serve

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -m "not integration"

integration: $(VENV)/.installed-dev
	$(BIN)/pytest -m integration

test: lint typecheck $(VENV)/.installed-dev
	$(BIN)/pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/engine.py

# A longer reliability run (~20 min on 2 cores): more hypothesis/schemathesis examples and more
# kill -9 cycles, then the load benchmark of catalogue items 25-26.
SOAK_EXAMPLES    ?= 1000
SOAK_KILL_CYCLES ?= 25

soak: $(VENV)/.installed-dev
	RELIABILITY_EXAMPLES=$(SOAK_EXAMPLES) RELIABILITY_KILL_CYCLES=$(SOAK_KILL_CYCLES) \
		$(BIN)/pytest tests/reliability --timeout 1800 --durations=20
	$(BIN)/python bench/reliability_load.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
