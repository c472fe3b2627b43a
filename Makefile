# Two set-up commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

# Optional local overrides, one KEY=value a line (see .env.example).
ifneq (,$(wildcard .env))
include .env
export
endif
export DJANGO_SETTINGS_MODULE ?= helpdesk.settings.local
# The embedded Postgres wheel keeps its lock file in the runtime dir; /tmp is fine.
export XDG_RUNTIME_DIR ?= /tmp

.PHONY: install run serve serve-prod migrate seed test lint format clean browser redis node local-llm

# `make run LLM=local`: the copilot answers with a packaged GGUF model served on loopback
# (see README, "Choosing the copilot engine"). The default `make run` is unchanged.
LLM ?=
LOCAL_STAMP := $(VENV)/.installed-local-llm
ifeq ($(LLM),local)
export LOCAL_LLM := true
endif

$(STAMP): requirements.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# Browser libraries the console serves as static files (Chart.js), pinned by package-lock.json.
NPM_STAMP := node_modules/.installed
$(NPM_STAMP): package.json package-lock.json | node
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

# Debian's Node.js and npm, only to fetch Chart.js (no Node at run time).
node:
	@command -v npm >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm >/dev/null; fi; }

install: $(STAMP) $(NPM_STAMP)

$(LOCAL_STAMP): requirements-local-llm.txt $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-local-llm.txt
	touch $(LOCAL_STAMP)

# Installs the model packages (~1.6 GB) and joins the GGUF once into .data/models, verified.
local-llm: $(LOCAL_STAMP)
	$(BIN)/python manage.py llm_assemble

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed $(if $(filter local,$(LLM)),local-llm)
	@echo
	@echo "  Support Copilot is starting on http://$(HOST):$(PORT)/"
	@echo "    Admin:       http://$(HOST):$(PORT)/admin/   (admin / admin-demo-pass)"
	@echo "    Help centre: http://$(HOST):$(PORT)/help/"
	@echo "    API docs:    http://$(HOST):$(PORT)/api/docs/"
	@echo "    Health:      http://$(HOST):$(PORT)/health"
	@echo "  Agents jana, marek, alice sign in with agent-demo-pass. Ctrl-C stops it."
	@echo
ifeq ($(LLM),local)
	@echo "  Copilot: local LLM, served by a supervised child on 127.0.0.1 (see /health)."
	$(BIN)/python manage.py llm_serve & llm=$$!; \
	trap 'kill $$llm 2>/dev/null; wait $$llm 2>/dev/null' EXIT INT TERM; \
	$(BIN)/daphne -b $(HOST) -p $(PORT) helpdesk.asgi:application
else
	exec $(BIN)/daphne -b $(HOST) -p $(PORT) helpdesk.asgi:application
endif

serve: install
	exec $(BIN)/daphne -b $(HOST) -p $(PORT) helpdesk.asgi:application

# The production process set on one machine (docs/operations.md): WEB daphne processes on one
# port, WORKERS Celery workers, and Redis at REDIS_URL (started here when it is local and down).
# Needs DJANGO_SECRET_KEY and WIDGET_IDENTITY_SECRET in the environment or .env.
WEB ?= 2
WORKERS ?= 1
serve-prod: install redis
	DJANGO_SETTINGS_MODULE=helpdesk.settings.production REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/python manage.py serve_prod --host $(HOST) --port $(PORT) --web $(WEB) --workers $(WORKERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Debian's chromium for the real-browser tests; Playwright's own browser download fails here.
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

# Debian's redis-server, for the multi-process test (channel layer, cache and Celery broker).
redis:
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null; fi; }

# Four pytest runs. The main run uses both cores (pytest-xdist: 4m50s against 7m50s in one
# process on this machine). The fuzzers run in one process of their own, so the counts they print
# at the end are theirs (under xdist each worker would keep its own). The fault-injection suite
# starts real Redis, Celery and daphne processes and runs on its own. The browser tests run on their own because sync Playwright keeps an
# event loop in the main thread, which breaks the ORM and the asyncio tests of the main run.
# The settings module is named because this Makefile exports the development one, and
# pytest-django prefers the environment to pyproject.toml.
test: lint browser redis
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=helpdesk.settings.test $(BIN)/pytest -n 2 -m "not e2e and not slow and not faults" --ignore=tests/fuzz
	DJANGO_SETTINGS_MODULE=helpdesk.settings.test $(BIN)/pytest -m "not e2e and not slow and not faults" tests/fuzz
	DJANGO_SETTINGS_MODULE=helpdesk.settings.test $(BIN)/pytest -m faults tests/faults
	DJANGO_SETTINGS_MODULE=helpdesk.settings.test $(BIN)/pytest -m e2e tests/e2e

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
