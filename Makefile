# Smarketing — the two commands are `make run` and `make test` (README.md).
#
# Every target uses the project's virtualenv (.venv, Python 3.11). It is created on first
# use and the project is (re)installed only when pyproject.toml changes (stamp file).

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

HOST ?= 127.0.0.1
PORT ?= 8000

# make test: the real PostgreSQL and Redis of the development machine (trust auth).
PG_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_DATABASE_URL ?= postgres://smarketing_owner@127.0.0.1:5432/smarketing
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
ARTIFACTS ?= artifacts
PYTEST_ARGS ?=

TEST_ENV := SMARKETING_TESTING=1 DATABASE_URL=$(TEST_DATABASE_URL) \
	REDIS_URL=$(TEST_REDIS_URL) DATABASE_APP_ROLE=smarketing_app

.DEFAULT_GOAL := help
.PHONY: help install run test services db-roles lint format messages compile-messages \
	bench check-deploy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (apt-get install python3.11 python3.11-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project (only when pyproject.toml changed)

compile-messages: $(STAMP) ## compile locale/*/LC_MESSAGES/*.po (msgfmt if present, else pure Python)
	@$(PY) scripts/compile_messages.py

run: $(STAMP) compile-messages ## the embedded platform: SQLite, web + worker + beat, demo organization
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py run_embedded --host $(HOST) --port $(PORT)

services: $(STAMP) ## are PostgreSQL, Redis and Chromium there for the tests?
	@PG_ADMIN_URL=$(PG_ADMIN_URL) $(TEST_ENV) $(PY) scripts/check_services.py

db-roles: $(STAMP) ## create the owner and application PostgreSQL roles (idempotent)
	@$(TEST_ENV) $(PY) manage.py create_db_roles --admin-url $(PG_ADMIN_URL) --createdb

test: $(STAMP) services db-roles compile-messages ## the whole suite on PostgreSQL + Redis + Chromium
	@mkdir -p $(ARTIFACTS)
	$(TEST_ENV) $(PY) -m pytest -ra --durations=15 \
		--junitxml=$(ARTIFACTS)/junit.xml $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check + ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff format + ruff check --fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

messages: $(STAMP) ## extract French strings into locale/fr and compile them
	$(PY) manage.py makemessages -l fr -e html,txt,py --no-obsolete \
		--ignore=.venv --ignore=var --ignore=staticfiles --ignore=artifacts --ignore=tests --ignore=bench
	$(PY) manage.py compilemessages -l fr --ignore=.venv

bench: $(STAMP) ## run bench/*.py
	@set -e; files="$$(ls bench/*.py 2>/dev/null || true)"; \
	if [ -z "$$files" ]; then echo "bench: no benchmarks yet (bench/*.py)"; exit 0; fi; \
	for f in $$files; do echo "== $$f"; $(PY) "$$f"; done

check-deploy: $(STAMP) ## manage.py check --deploy under production-like settings
	DEBUG=0 SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	DATABASE_URL=postgres://smarketing_app@127.0.0.1:5432/smarketing \
	REDIS_URL=redis://127.0.0.1:6379/0 ALLOWED_HOSTS=smarketing.example.com \
	SITE_URL=https://smarketing.example.com \
	$(PY) manage.py check --deploy --fail-level WARNING

clean: ## remove the embedded data (var/), build leftovers and artifacts; keeps .venv
	rm -rf var staticfiles $(ARTIFACTS)
