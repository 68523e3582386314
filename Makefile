# simrenew — the commands a new engineer needs. `make run` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SIMRENEW_SANDBOX ?= 1

.PHONY: install run test lint typecheck test-sqlite test-postgres bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/simrenew migrate --no-input
	$(BIN)/simrenew demo
	$(BIN)/simrenew serve --port 8000

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy src

test-sqlite: install
	$(BIN)/pytest -p no:cacheprovider -q

test-postgres: install
	$(BIN)/python scripts/with_postgres.py $(BIN)/pytest -p no:cacheprovider -q

# Drift checks, lint, types, then the whole suite on SQLite and again on PostgreSQL.
test: install
	$(BIN)/simrenew makemigrations --check --dry-run
	$(MAKE) --no-print-directory lint typecheck test-sqlite test-postgres

bench: install
	$(BIN)/python scripts/with_postgres.py $(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) var build src/*.egg-info
