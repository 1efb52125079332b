# Uplift. `make run` needs only Python 3.11 and this checkout: it fetches uv if missing, installs the locked
# dependencies, then starts PostgreSQL, NATS and the four services (see libs/common/src/uplift/common/devrun.py).

.DEFAULT_GOAL := help
SHELL := /bin/sh

PYTHON ?= python3
# `uv` on PATH, else the one pip installed into this Python (reachable as a module even off PATH).
UV = $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
# Synced once per target, then `uv run --no-sync`. `make test SYNC=true` skips syncing (you manage the venv).
SYNC = $(UV) sync --frozen

.PHONY: help uv sync run test lint bench up down soak

help:
	@echo "make run    start PostgreSQL, NATS and the four services locally (data in .uplift/)"
	@echo "make test   run every test (no Docker needed)"
	@echo "make lint   ruff and mypy"
	@echo "make bench  benchmarks (bench/)"
	@echo "make up     docker compose: the operators' stack; make down stops it"
	@echo "make soak   long-running soak tests"

# The one place uv is bootstrapped: nothing to do when present, otherwise pip-install it into $(PYTHON)
# (a plain install, else a user install, else a user install on an "externally managed" system Python).
uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || { \
		echo "uv not found; installing it with $(PYTHON) -m pip"; \
		$(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv; \
	}

sync: uv
	$(SYNC)

run: sync
	$(UV) run --no-sync python -m uplift.common.devrun

test: sync
	$(UV) run --no-sync pytest

lint: sync
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync mypy

bench: sync
	@if [ -f bench/run.py ]; then $(UV) run --no-sync python bench/run.py; \
	else echo "bench/run.py is not there yet"; fi

up:
	docker compose up -d --build

down:
	docker compose down

soak: sync
	$(UV) run --no-sync pytest -m soak
	FAULT_HOUSEHOLDS=400 FAULT_PACE=40 $(UV) run --no-sync pytest tests/faults
