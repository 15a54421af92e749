# The two commands of the README: `make book` and `make test`. Each creates .venv/ on
# first use (torch first and explicitly: the CPU wheel), and reinstalls only when
# pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
STAMP := $(VENV)/.installed

.PHONY: book pdf test smoke-book bench clean venv chromium

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

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
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_losses.py
	$(PY) benchmarks/bench_fila.py
	$(PY) benchmarks/bench_trainer.py

clean:
	rm -rf _build
