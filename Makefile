# Two commands on a fresh machine: `make demo` and `make test`.
# `setup` creates .venv, installs the CPU build torch==2.13.0 first (a bare
# `torch` requirement would otherwise resolve to a multi-GB CUDA build), then
# this package with its dev, ray and zoo extras (the Ray tests need ray[tune], the
# rl-zoo3 test rl_zoo3).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,ray,zoo,minari]"
	touch $(STAMP)

demo: setup
	$(BIN)/signalflow-gym demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/backtest_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
