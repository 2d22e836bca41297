# Everything runs from the project's own virtual environment, created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?= --mode fast

.PHONY: venv run test lint format bench screenshots clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	$(BIN)/python -m pip install -e '.[dev,ray]'
	touch $@

run: venv
	$(BIN)/hft-console $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Two pytest-xdist workers (CI has 2 cores); Ray's tests and modules sharing a module fixture each stay
# on one worker (tests/conftest.py). `make test PYTEST_WORKERS=0` runs the suite in one process.
PYTEST_WORKERS ?= 2

test: lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

bench: venv
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/console.py
	$(BIN)/python benchmarks/backtest.py
	$(BIN)/python benchmarks/learning.py
	$(BIN)/python benchmarks/bandits.py
	$(BIN)/python benchmarks/latency_forecast.py
	$(BIN)/python benchmarks/l3.py

screenshots: venv
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
