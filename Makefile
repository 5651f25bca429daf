# One entry point for everything a developer or CI does. Each target creates the virtualenv when
# it is missing, so a fresh clone needs nothing but python3 (3.11+).
PYTHON ?= python3
VENV   ?= .venv
TESTS  ?= tests
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: install lock up test test-unit test-integration test-e2e test-browser test-external check fmt clean \
	fuzz bench bench-quick bench-pipeline bench-profile test-faults soak eval-coref eval-articles bench-dense bench-dense-quick

# Every install takes its versions from requirements.lock (`make lock` writes it), the package
# that builds pivotwatch itself (setuptools) included: pip first, since --build-constraint needs
# pip 25.3. Extensions an older checkout compiled with mypyc would shadow the sources they were
# built from: they are removed.
$(STAMP): pyproject.toml $(LOCK)
	find services shared -name '*.so' -delete
	rm -f services/enrich/_build.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(LOCK) pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) --build-constraint $(LOCK) -e ".[dev,otel]"
	touch $(STAMP)

install: $(STAMP)

# requirements.lock pins every package an install takes, transitive ones included: the
# dependencies, every extra, what building pivotwatch needs (build-system requires) and pip, for
# every platform and Python the project supports. After a change to pyproject.toml's dependencies
# run `make lock` (the other pins stay as they are; LOCK_ARGS=--upgrade takes the newest releases
# that fit); tests/unit/test_lock.py checks that the two agree. uv is pinned here, not in the dev
# extra: nothing else needs it.
UV := uv==0.13.8
lock:
	$(PYTHON) -m venv build/lock-tool
	build/lock-tool/bin/python -m pip install --quiet "$(UV)"
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], "pip>=25.3", sep="\n")' \
		| build/lock-tool/bin/uv pip compile --quiet --universal --all-extras --custom-compile-command "make lock" \
			$(LOCK_ARGS) pyproject.toml - -o $(LOCK)

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

# Faults injected into the whole stack under load (also part of `make test`, where they run with
# 2000 events and an 8 s PostgreSQL outage); here with 3000 events and PostgreSQL down for 30 s.
test-faults: $(STAMP)
	PIVOTWATCH_FAULT_EVENTS=3000 PIVOTWATCH_FAULT_PG_SECONDS=30 $(BIN)/python -m pytest tests/faults -s

# The whole stack at a steady rate with zero loss and flat memory (not in CI): 200 events/s for
# 10 minutes by default; e.g. `make soak SOAK_ARGS="--rate 100 --minutes 2"`.
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# Needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium`); skipped without it.
test-browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pivotwatch .mypy_cache .ruff_cache .pytest_cache build

# The suite against servers already running on this machine (PostgreSQL 5432, Redis 6379, db 15).
test-external: $(STAMP)
	PIVOTWATCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
	PIVOTWATCH_REDIS_URL=redis://127.0.0.1:6379/0 \
	$(BIN)/python -m pytest $(TESTS)

# Longer property-based runs against every service's OpenAPI (CI runs a bounded version).
fuzz: $(STAMP)
	PIVOTWATCH_FUZZ_EXAMPLES=300 PIVOTWATCH_FUZZ_RANDOM=1 $(BIN)/python -m pytest tests/fuzz -p no:cacheprovider \
		-o timeout=3600 -s

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Where P1, P2, P4 and P5 spend their CPU: py-spy under each scenario's load
# (bench/results/profile-*.txt; docs/benchmarks.md quotes them).
bench-profile: $(STAMP)
	$(BIN)/python -m bench.profiles p1 p2 p4 p5

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# Coreference quality on tests/data/coreference: pairwise P/R/F1 and B-cubed, the development half
# (tuned on) beside the held-back half (never tuned on). `--errors` lists the development mistakes.
eval-coref: $(STAMP)
	$(BIN)/python -m bench.eval_coref $(EVAL_ARGS)

# Article extraction on tests/data/articles: happening recall and precision, date accuracy,
# headlines and joins to the seed timeline, the development half (tuned on) beside the held-back
# half (aggregates only). `EVAL_ARGS=--errors` lists the development half's mistakes.
eval-articles: $(STAMP)
	$(BIN)/python -m bench.eval_articles $(EVAL_ARGS)

# Enrichment pipeline speed (µs per typical event on one core, against a baseline in the same run).
bench-pipeline: $(STAMP)
	$(BIN)/python -m bench.bench_pipeline

# Storage CPU per event as the table grows, today's mix and the dense one side by side (issue 14),
# on an embedded PostgreSQL kept in .pivotwatch/bench-storage: checkpoints at 10,000 and 100,000
# stored events. For the long one, BENCH_DENSE_ARGS="--sizes 10000,100000,1000000 --keep pwdense":
# the databases are kept, and the same command again resumes where it stopped.
bench-dense: $(STAMP)
	$(BIN)/python -m bench.bench_storage --dense --embedded .pivotwatch/bench-storage $(BENCH_DENSE_ARGS)

# The same at 1,000 and 5,000 events (about a minute).
bench-dense-quick: $(STAMP)
	$(BIN)/python -m bench.bench_storage --dense --quick --embedded .pivotwatch/bench-storage
