# Set-up and everyday commands. Each target creates .venv and installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint broker bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed  ## the whole pipeline on the embedded broker, then the report
	$(BIN)/python -m deltastream.demo

test: $(VENV)/.installed  ## the test suite (starts and stops its own broker)
	$(BIN)/python -m pytest

test-fast: $(VENV)/.installed  ## the tests that need no broker: units and Delta tables, in seconds
	$(BIN)/python -m pytest -m "not broker"

lint: $(VENV)/.installed  ## ruff, and mypy (strict) over the package, scripts, tests and bench
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

broker: $(VENV)/.installed  ## an embedded broker in the foreground, on the config's port
	$(BIN)/python -m deltastream.broker

bench: $(VENV)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) delta .pytest_cache .ruff_cache
