# Two commands do everything on a fresh machine: `make demo` and `make test`.
# The demo needs only the embedded default; tests also install the cluster
# adapters (Kafka, S3, PostgreSQL), PySpark and the test peers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench install clean chaos

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.all: $(VENV)/.base
	$(BIN)/python -m pip install -q -e '.[cluster,spark,test]'
	touch $@

install: $(VENV)/.all

demo: $(VENV)/.base
	$(BIN)/playlog demo

test: $(VENV)/.all
	$(BIN)/python -m pytest -q

# The chaos suite's long form: ROUNDS random faults per setup (make test runs 5).
# A failure prints its seed; PLAYLOG_CHAOS_SEED=<seed> replays the same faults.
ROUNDS ?= 50
chaos: $(VENV)/.all
	PLAYLOG_CHAOS_ROUNDS=$(ROUNDS) $(BIN)/python -m pytest -q -s tests/chaos

lint: $(VENV)/.all
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.all
	$(BIN)/python benchmarks/pipeline.py --compare

clean:
	rm -rf $(VENV) .playlog .test-peers
