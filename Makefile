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

.PHONY: install run serve migrate seed test lint format clean browser

$(STAMP): requirements.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	@echo
	@echo "  Support Copilot is starting on http://$(HOST):$(PORT)/"
	@echo "    Admin:       http://$(HOST):$(PORT)/admin/   (admin / admin-demo-pass)"
	@echo "    Help centre: http://$(HOST):$(PORT)/help/"
	@echo "    API docs:    http://$(HOST):$(PORT)/api/docs/"
	@echo "    Health:      http://$(HOST):$(PORT)/health"
	@echo "  Agents jana, marek, alice sign in with agent-demo-pass. Ctrl-C stops it."
	@echo
	exec $(BIN)/daphne -b $(HOST) -p $(PORT) helpdesk.asgi:application

serve: install
	exec $(BIN)/daphne -b $(HOST) -p $(PORT) helpdesk.asgi:application

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

# Two pytest runs: sync Playwright keeps an event loop in the main thread, which breaks
# the ORM and the asyncio tests if they share a process with it.
test: lint browser
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest -m "not e2e and not slow"
	$(BIN)/pytest -m e2e tests/e2e

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
