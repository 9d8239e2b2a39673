# Set-up and everyday commands. Each target creates .venv and installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-clients test-fast test-kafka kafka lint broker bench clean

#: The test files that run publisher.py and subscriber.py: the tier run again on each client.
CLIENT_TESTS := tests/scripts tests/query tests/subscribe/test_subscriber.py tests/kafka tests/avro/test_avro_pipeline.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

#: What the scripts need to run (requirements.txt); the development tools come on top of it.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

demo: $(VENV)/.runtime  ## the whole pipeline on the embedded broker, then the report (requirements.txt only)
	$(BIN)/python -m deltastream.demo

test: $(VENV)/.installed  ## the test suite (starts and stops its own brokers), then its broker tests on Apache Kafka
	$(BIN)/python -m pytest
	@if command -v java > /dev/null 2>&1; then \
		$(MAKE) --no-print-directory test-kafka; \
	else \
		echo "make test: SKIPPED the Apache Kafka tier (pytest -m broker --broker kafka): no java on PATH; install a JDK 17+ to run it"; \
	fi

test-kafka: $(VENV)/.installed  ## the broker tests again, on Apache Kafka (Java 17+; Maven fetches it the first time)
	$(BIN)/python -m pytest -m broker --broker kafka

test-clients: $(VENV)/.installed  ## the tests that publish and subscribe, again with [kafka] client = "confluent-kafka", on both brokers
	$(BIN)/python -m pytest -m broker --client confluent-kafka $(CLIENT_TESTS)
	@if command -v java > /dev/null 2>&1; then \
		$(BIN)/python -m pytest -m broker --broker kafka --client confluent-kafka $(CLIENT_TESTS); \
	else \
		echo "make test-clients: SKIPPED the Apache Kafka tier: no java on PATH; install a JDK 17+ to run it"; \
	fi

test-fast: $(VENV)/.installed  ## the tests that need no broker: units and Delta tables, in seconds
	$(BIN)/python -m pytest -m "not broker"

lint: $(VENV)/.installed  ## ruff, and mypy (strict) over the package, scripts, tests and bench
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

broker: $(VENV)/.runtime  ## an embedded broker in the foreground, on the config's port
	$(BIN)/python -m deltastream.broker

kafka: $(VENV)/.installed  ## fetch Apache Kafka (tools/kafka/pom.xml) with Maven into ~/.cache/deltastream/kafka
	$(BIN)/python -m deltastream.broker --kafka --fetch

bench: $(VENV)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) delta .pytest_cache .ruff_cache
