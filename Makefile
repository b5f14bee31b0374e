# Two commands for newcomers: `make demo` and `make test` (`make unit` is the fast tier). All
# create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/carebot demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy bot handlers storage tests bench

# The fast tier: everything but the wall-clock tests, on four workers (under a minute on 2 cores:
# most of its time is tests waiting on loopback). With CAREBOT_TEST_POSTGRES_URL set, each worker
# gets a PostgreSQL database of its own beside that one.
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not wallclock" -n 4

# What CI runs: lint, types, and the whole suite.
test: lint typecheck
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# The chaos soak of issue 18: SOAK_ARGS="--minutes 30 --replicas 3 --database postgres" by default.
SOAK_ARGS ?= --minutes 30 --replicas 3 --database postgres
soak: $(STAMP)
	$(BIN)/python -m bench soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
