# One entry point for everything a developer or CI does. Each target creates the virtualenv when
# it is missing, so a fresh clone needs nothing but python3 (3.11+).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install up test test-unit test-integration test-e2e test-external check fmt clean bench-pipeline

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/pivotwatch up

test: $(STAMP)
	$(BIN)/python -m pytest tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pivotwatch .mypy_cache .ruff_cache .pytest_cache

# The suite against servers already running on this machine (PostgreSQL 5432, Redis 6379, db 15).
test-external: $(STAMP)
	PIVOTWATCH_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
	PIVOTWATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/15 \
	$(BIN)/python -m pytest tests

# Enrichment pipeline speed (µs per typical event on one core, against a baseline in the same run).
bench-pipeline: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py
