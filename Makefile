# simrenew — the commands a new engineer needs. `make run` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SIMRENEW_SANDBOX ?= 1

.PHONY: install browser-deps node-deps promtool run test lint typecheck test-sqlite test-postgres bench bench-deps bench-api bench-dashboard bench-network bench-stripe clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`:
# the distribution's build gets the security updates), with a CJK font so that the Chinese
# pages' screenshots show characters, not boxes. CI machines are fresh and run as root.
BROWSER_PACKAGES := chromium fonts-wqy-microhei
browser-deps: node-deps
	command -v chromium >/dev/null && dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(BROWSER_PACKAGES))

# tests/deploy checks deploy/nginx/simrenew.conf with `nginx -t` and the systemd units with
# `systemd-analyze verify` (no Docker engine runs here: the image itself is never built in tests).
DEPLOY_PACKAGES := nginx-light systemd
.PHONY: deploy-deps
deploy-deps:
	command -v nginx >/dev/null && command -v systemd-analyze >/dev/null || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEPLOY_PACKAGES))

# The browser tests' accessibility check injects npm's axe-core (tests/browser/a11y.py), pinned in
# package.json and package-lock.json; `npm ci` installs exactly the lock into node_modules (git-ignored)
# when it is missing or older than the lock. Debian's node and npm are installed when missing.
NODE_STAMP := node_modules/.installed
node-deps: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	command -v npm >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm)
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# promtool, Prometheus's rule checker (tests/deploy/test_prometheus_alerts.py), from Debian's prometheus
# package: unpacked into the venv rather than installed, which would also install (and on some
# machines start) a Prometheus server. One already on the PATH is used as it is.
PROMTOOL := $(BIN)/promtool
promtool: $(PROMTOOL)

$(PROMTOOL): $(STAMP)
	if command -v promtool >/dev/null; then ln -sf "$$(command -v promtool)" $@; else \
		folder=$$(mktemp -d) && cd $$folder && \
		{ apt-get download prometheus 2>/dev/null || { apt-get update && apt-get download prometheus; }; } && \
		dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool && \
		mv usr/bin/promtool $(CURDIR)/$@ && rm -rf $$folder; fi

# The server and the worker side by side (emails, reminders, renewals happen): one Ctrl-C stops both.
run: install
	$(BIN)/simrenew migrate --no-input
	$(BIN)/simrenew demo
	$(BIN)/simrenew serve --port 8000 --with-worker

# Layers (kit < domains < edges), the direction between domains and no imports of another
# module's underscored names: import-linter's contracts in pyproject.toml [tool.importlinter].
lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy src

test-sqlite: install browser-deps promtool deploy-deps
	$(BIN)/pytest -p no:cacheprovider -q --durations=30

# Its own screenshots folder: `make test` runs this suite beside the SQLite one. Tests marked
# database_independent (the accessibility sweep: what it checks no database changes) run in the
# SQLite suite only.
test-postgres: install browser-deps promtool
	SIMRENEW_SCREENSHOTS=var/screenshots/postgresql \
		$(BIN)/python scripts/with_postgres.py $(BIN)/pytest -p no:cacheprovider -q --durations=30 \
		-m "not database_independent"

# Drift checks, then lint, types and the whole suite on SQLite and again on PostgreSQL, two at a
# time (the machine's two cores): PostgreSQL's suite, the longest, starts first and the rest runs
# beside it, in order. Each job's output is printed whole when it ends (its own pytest summary);
# --keep-going lets every job finish and report, and any failure fails `make test`.
test: install browser-deps promtool
	$(BIN)/simrenew makemigrations --check --dry-run
	$(MAKE) --no-print-directory --jobs=2 --output-sync=target --keep-going test-postgres lint typecheck test-sqlite

# Translation catalogs: extract every gettext string into the en and zh_Hans .po files, then compile
# the .mo files, which are committed (so `make test` and CI need no GNU gettext). Needs xgettext/msgfmt
# (apt-get install gettext). Translate what is new in src/simrenew/locale/zh_Hans/LC_MESSAGES/django.po.
.PHONY: messages messages-check
MESSAGES_IGNORE := --ignore=.venv --ignore=tests --ignore=benchmarks --ignore=scripts --ignore=var --ignore=build
messages: install
	@command -v xgettext >/dev/null || { echo "make messages needs GNU gettext (apt-get install gettext)"; exit 1; }
	$(BIN)/simrenew makemessages -l zh_Hans -l en $(MESSAGES_IGNORE) --add-location=file --no-obsolete
	$(BIN)/simrenew compilemessages -l zh_Hans -l en --ignore=.venv

# Extract again and check every string is translated and the committed .mo files are current.
messages-check: messages
	$(BIN)/pytest -p no:cacheprovider -q tests/portal/test_catalogs.py

# The API throughput entry drives the server with wrk (Debian's package), installed when missing.
bench-deps:
	command -v wrk >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk)

bench: install bench-deps
	$(BIN)/python scripts/with_postgres.py $(BIN)/python -m benchmarks.run

# Only the API throughput entry (GET /api/v1/subscriptions/{id} beside a bare view, gunicorn, PostgreSQL);
# its row in benchmarks/report.md is replaced, the other rows are kept.
bench-api: install bench-deps
	$(BIN)/python scripts/with_postgres.py $(BIN)/python -m benchmarks.run --api-only

# The dashboard entries (4 and 5) alone, their rows replaced in the report the same way.
bench-dashboard: install bench-deps
	$(BIN)/python scripts/with_postgres.py $(BIN)/python -m benchmarks.run --dashboard-only

# Issue 16's entries alone: 10,000 lines suspended at expiry, the carrier at 200 ms (PostgreSQL, SQLite).
bench-network: install bench-deps
	$(BIN)/python scripts/with_postgres.py $(BIN)/python -m benchmarks.run --network-only

# Issue 17's entry alone: due auto-renewals through the Stripe adapter, a local Stripe at 250 ms (PostgreSQL).
bench-stripe: install bench-deps
	$(BIN)/python scripts/with_postgres.py $(BIN)/python -m benchmarks.run --stripe-only

clean:
	rm -rf $(VENV) var build src/*.egg-info
