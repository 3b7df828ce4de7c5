# Two commands do everything: `make run` (pipeline on the bundled demo) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# pip, snakemake and europanel come from the venv (the rules need no PATH: they run
# the package with the interpreter that runs snakemake).
export PATH := $(BIN):$(PATH)
CORES ?= 2

.PHONY: run test test-fast lint demo clean bench golden

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

# Unit and property tests only (no snakemake run, no SLURM, no browser): under 2 minutes.
test-fast: $(VENV)/.installed-test
	EUROPANEL_FAST_TIER=1 $(BIN)/python -m pytest -m "not e2e and not slow and not slurm and not browser and not lint"

# What pre-commit runs: ruff, snakefmt and snakemake --lint.
lint: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m lint

# Regenerate the bundled demo cohorts (deterministic: same seed, same bytes).
demo: $(VENV)/.installed
	$(BIN)/europanel-dev demo --outdir resources/demo --sheets config --seed 20261124

clean:
	rm -rf results .snakemake

# Rerun the demo in a temporary directory and rewrite tests/golden/demo_outputs.json (the
# bytes test_golden_outputs.py holds the demo to). Only for an intended change of behaviour.
golden: $(VENV)/.installed-test
	$(BIN)/python -m tests.golden.update

# Benchmark against bcftools, plink2 and scikit-allel on simulated cohorts; writes docs/BENCHMARKS.md.
# The default is the full size (5 cohorts x 400 samples x 20 Mb, ~20 min on 2 cores);
# `make bench BENCH_ARGS=--quick` is a small dataset for development.
BENCH_ARGS ?=
$(VENV)/.installed-bench: $(VENV)/.installed-test requirements-bench.txt
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

bench: $(VENV)/.installed-bench
	@for tool in bcftools plink2; do command -v $$tool >/dev/null || { \
		echo "make bench needs $$tool (Debian package): apt-get update && apt-get install -y bcftools plink2"; \
		exit 2; }; done
	$(BIN)/europanel-dev bench $(BENCH_ARGS)
