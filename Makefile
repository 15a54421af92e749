# The two commands of the README: `make book` and `make test`. Each creates .venv/ on
# first use (torch first and explicitly: the CPU wheel), and reinstalls only when
# pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
STAMP := $(VENV)/.installed

.PHONY: book test smoke-book bench clean venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

venv: $(STAMP)

book: $(STAMP)
	$(PY) -m unlearnkit.book --profile $(PROFILE)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_losses.py
	$(PY) benchmarks/bench_fila.py
	$(PY) benchmarks/bench_trainer.py

clean:
	rm -rf _build
