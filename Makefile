# The two commands of the README: `make book` and `make test`. Each creates .venv/ on first
# use from the lock file (torch first and explicitly: the CPU wheel), and reinstalls only when
# pyproject.toml or the lock changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
BACKEND ?=
STAMP := $(VENV)/.installed
# Marked tests that train on SmolLM2 or build whole books are left to `make test`.
FAST := -m "not slow and not smollm2"
# `make test` runs the test files on this many pytest-xdist workers (each gets its share of the
# cores: tests/conftest.py); one file's tests stay on one worker, so the smoke book is built once.
TEST_WORKERS ?= 2

.PHONY: book pdf test test-fast lint format lock measured smoke-book bench clean venv chromium grid

$(STAMP): pyproject.toml requirements.lock requirements-torch.txt
	@echo "[setup] creating $(VENV) from requirements.lock (torch CPU wheel first; a few minutes)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-torch.txt
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)
	@echo "[setup] done"

venv: $(STAMP)

book: $(STAMP)
	$(PY) -m unlearnkit.book --profile $(PROFILE) $(if $(BACKEND),--backend $(BACKEND))

# A chapter's grid of runs, unattended and resumable (unlearnkit.book.grid): GRID=plan|run|status,
# e.g. `make grid PROFILE=cpu-full CHAPTER=table1 BUDGET=2h`; commit results/<profile>/records as it grows.
GRID ?= plan
CHAPTER ?= table1
BUDGET ?=
RERUN_STALE ?=
grid: $(STAMP)
	$(PY) -m unlearnkit.book.grid $(GRID) --profile $(PROFILE) --chapter $(CHAPTER) $(if $(BUDGET),--budget $(BUDGET)) $(if $(RERUN_STALE),--rerun-stale) $(if $(BACKEND),--backend $(BACKEND))

# Headless Chromium prints the PDF; installed from Debian's packages when missing.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { echo "installing Debian's chromium for the PDF"; \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq chromium; }

pdf: $(STAMP) chromium
	$(PY) -m unlearnkit.book --profile $(PROFILE) --pdf

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The full suite (what CI runs): lint, the library, every chapter on the smoke profile, SmolLM2;
# it ends with the 15 slowest tests, where time would be won.
test: lint
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=15

# Unit tests only (no chapters, no SmolLM2): a few minutes.
test-fast: lint
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(FAST)

# requirements.lock: the book's exact environment, resolved by pip-compile from pyproject.toml
# against the torch of requirements-torch.txt (kept out of the lock: the Makefile installs it).
lock: $(STAMP)
	$(PY) -m pip install --quiet "pip-tools>=7.6"
	$(VENV)/bin/pip-compile --quiet --no-emit-index-url --no-emit-find-links --strip-extras \
	  --unsafe-package torch --constraint requirements-torch.txt --extra book --extra test \
	  -o requirements.lock pyproject.toml

# book/measured.md, generated from the records in measurements/ (never typed by hand).
measured: $(STAMP)
	$(PY) -m unlearnkit.book.measured page

bench: $(STAMP)
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_losses.py
	$(PY) benchmarks/bench_fila.py
	$(PY) benchmarks/bench_trainer.py
	$(PY) benchmarks/bench_dispatch.py

clean:
	rm -rf _build
