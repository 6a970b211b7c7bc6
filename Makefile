# Two commands do all the set-up on a fresh machine with only Python: `make run`, `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SERVICES_ENV := DATABASE_URL=postgres://complaints:complaints@127.0.0.1:5432/complaints \
	REDIS_URL=redis://127.0.0.1:6379/0

.PHONY: venv run migrate seed test test-services services lint bench clean

# Where `make run` serves, read by the Procfile's web process and printed by the banner:
# `make run PORT=9000`, or `make run WEB_BIND=0.0.0.0:8000` to listen beyond this machine.
PORT ?= 8000
WEB_BIND ?= 127.0.0.1:$(PORT)

# pip's version check is off: a notice that a newer pip exists is noise during set-up, and the
# line above it already upgrades pip. The project is installed for its dependencies only (it
# has no package of its own), so not as editable: that install prints a setuptools notice.
PIP := $(VENV)/bin/pip --disable-pip-version-check

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q '.[dev]'
	touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# Web, worker and beat together (honcho reads the Procfile). Embedded default: SQLite and a
# filesystem broker; set DATABASE_URL and REDIS_URL for PostgreSQL and Redis.
run: seed
	@WEB_BIND=$(WEB_BIND) $(PY) scripts/run_banner.py
	WEB_BIND=$(WEB_BIND) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start

test: venv
	$(VENV)/bin/pytest -q -m "not services"

# PostgreSQL and Redis from `make services`, then the whole suite again on them, with the
# tests that need them. Here a missing service is a failure, never a skip.
test-services: venv services
	$(SERVICES_ENV) REQUIRE_SERVICES=1 $(VENV)/bin/pytest -q

services:
	bash scripts/services.sh

# The quick benchmarks, one after another (bench/README.md), then the figures table.
bench: venv services
	$(PY) bench/audit_bench.py --quick
	$(PY) bench/escalation_bench.py --quick
	$(PY) bench/web_load.py --quick
	$(PY) bench/report.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var
