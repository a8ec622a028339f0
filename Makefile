# Atomic Ops. `make run` and `make test` do all the set-up on a fresh machine.
#
#   make install   .venv + pinned dependencies + compiled hot path (idempotent, seconds when current)
#   make run       install, embedded PostgreSQL/Redis (unless DATABASE_URL/REDIS_URL), migrate, Procfile
#   make test      install, ruff, import-linter, the whole pytest suite
#   make bench     install, benchmarks on ../shared/data, results printed and appended to var/bench/
#   make services  start the embedded PostgreSQL and Redis under var/ and print their URLs
#   make stop      stop the embedded services

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP_DEPS := $(VENV)/.deps-installed
STAMP_SYSTEM := var/.system-packages
PYX := $(shell find hotpath bench trading -name '*.pyx' -o -name '*.pxd' -o -name '*.h' 2>/dev/null)
SO_STAMP := var/.hotpath-built
PYTEST_ARGS ?=

.PHONY: help install build test lint pytest run bench services stop migrate clean distclean

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

$(VENV)/bin/python:
	@$(PYTHON_BOOTSTRAP) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' \
		|| { echo "error: Python 3.11 is required (set PYTHON_BOOTSTRAP=/path/to/python3.11)"; exit 1; }
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==25.3

$(STAMP_DEPS): pyproject.toml tools/deps.py | $(VENV)/bin/python
	$(PY) tools/deps.py --dev > $(VENV)/requirements.txt
	$(PIP) install --quiet --disable-pip-version-check -r $(VENV)/requirements.txt
	touch $@

# Debian packages the test suite needs (Chromium for the console tests). Installed once per machine.
$(STAMP_SYSTEM):
	@mkdir -p var
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; \
	fi
	touch $@

# OpenSSL's headers for the order path's signing (trading/engine/gateway/order_wire.pyx).
$(SO_STAMP): $(STAMP_DEPS) setup.py $(PYX)
	@mkdir -p var
	@if [ ! -f /usr/include/openssl/sha.h ]; then \
		if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev >/dev/null; fi; \
	fi
	$(PY) setup.py --quiet build_ext --inplace -j 2
	touch $@

install: $(STAMP_DEPS) $(SO_STAMP)

build: $(SO_STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

pytest: install
	$(PY) -m pytest $(PYTEST_ARGS)

test: install $(STAMP_SYSTEM) lint
	$(PY) -m pytest $(PYTEST_ARGS)

services: install
	$(PY) -m atomic_ops.services start

stop:
	@if [ -x $(PY) ]; then $(PY) -m atomic_ops.services stop; fi

migrate: install
	$(PY) manage.py migrate --noinput

run: install
	$(PY) -m atomic_ops.services check-port
	$(PY) -m atomic_ops.services start
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(VENV)/bin/honcho start -f Procfile

bench: install
	$(PY) -m bench

clean:
	rm -rf build var/cache $(SO_STAMP)
	find hotpath -name '*.so' -delete -o -name '*.c' -delete -o -name '*.html' -delete

distclean: stop clean
	rm -rf $(VENV) var
