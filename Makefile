# The two commands of the README: `make book` and `make test`. Each creates .venv/ on
# first use (torch first and explicitly: the CPU wheel), and reinstalls only when
# pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
STAMP := $(VENV)/.installed

.PHONY: book pdf test smoke-book bench clean venv chromium

# pip's own warnings about index locations of this machine's pip configuration are not the
# project's; they are filtered out so that the install shows only what matters.
SHELL := /bin/bash
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

$(STAMP): pyproject.toml
	@echo "[setup] creating $(VENV) and installing unlearnkit (torch CPU wheel first; about a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@set -o pipefail; $(PY) -m pip install --quiet --upgrade pip $(PIP_QUIET)
	@set -o pipefail; $(PY) -m pip install --quiet torch==2.13.0 $(PIP_QUIET)
	@set -o pipefail; PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet -e ".[book,test]" $(PIP_QUIET)
	@touch $(STAMP)
	@echo "[setup] done"

venv: $(STAMP)

book: $(STAMP)
	$(PY) -m unlearnkit.book --profile $(PROFILE)

# Headless Chromium prints the PDF; installed from Debian's packages when missing.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { echo "installing Debian's chromium for the PDF"; \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq chromium; }

pdf: $(STAMP) chromium
	$(PY) -m unlearnkit.book --profile $(PROFILE) --pdf

test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider

bench: $(STAMP)
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_losses.py
	$(PY) benchmarks/bench_fila.py
	$(PY) benchmarks/bench_trainer.py

clean:
	rm -rf _build
