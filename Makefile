# Two commands do everything on a fresh machine:
#   make run    set up, create the SQLite database with demo data and cases, serve on http://127.0.0.1:5000
#   make test   set up, then run the whole suite on SQLite and on PostgreSQL (+ Redis, Celery)
# Both are safe to run again; set-up steps skip what is already done.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PG_URL  ?= postgresql://postgres@127.0.0.1:5432/test
PORT    ?= 5000
export PINGAN_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test test-sqlite test-postgres setup system-deps bench-deps services bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed
	@scripts/npm-install.sh

system-deps:
	@scripts/system-deps.sh

bench-deps:
	@scripts/bench-deps.sh

services:
	@scripts/services.sh

# The demo (published passwords, default keys) is development mode; a deployment sets its own keys.
run: export PINGAN_DEVELOPMENT ?= 1
# `demo seed` plays a few months of cases on a new database and does nothing once cases exist.
run: setup
	$(BIN)/pingan init
	$(BIN)/pingan demo seed
	$(BIN)/pingan run --host 127.0.0.1 --port $(PORT)

test: setup system-deps services
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite:
	@echo "== Pingan test suite on SQLite =="
	PINGAN_TEST_DATABASE_URL= $(BIN)/python -m pytest -q -p no:cacheprovider

test-postgres:
	@echo "== Pingan test suite on PostgreSQL, Redis broker, Celery worker =="
	PINGAN_TEST_DATABASE_URL=$(PG_URL) PINGAN_TEST_BROKER_URL=redis://127.0.0.1:6379/15 \
		$(BIN)/python -m pytest -q -p no:cacheprovider

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

# Ten minutes or less on a 2-core machine once the 1M-row PostgreSQL schema is cached (see docs/performance.md).
bench: setup services bench-deps $(VENV)/.installed-bench
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules instance
