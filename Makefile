# Two commands do everything: `make run` (pipeline on the bundled demo) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# The rules call the `europanel` command, so the venv's bin comes first on PATH.
export PATH := $(BIN):$(PATH)
CORES ?= 2

.PHONY: run test lint demo clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

run: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# Regenerate the bundled demo cohorts (deterministic: same seed, same bytes).
demo: $(VENV)/.installed
	$(BIN)/python -m europanel.demo --outdir resources/demo --sheets config --seed 20261124

clean:
	rm -rf results .snakemake
