# First use creates .venv/ and installs the project into it; later runs reuse it.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: train test test-fast lint format bench

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: a bare requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,viz]"
	# The CPU step's compiled loops, once into numba's cache (src/sgns/model/__pycache__),
	# rather than in every test worker and run that starts before the cache exists.
	$(PY) -c "from sgns.model.sgd_cpu import warm_cache; warm_cache()"
	touch $(STAMP)

train: $(STAMP)  ## make train ARGS="model.embed_dim=200 trainer.max_epochs=10"
	$(PY) scripts/train.py experiment=sample $(ARGS)

# One pytest worker per logical CPU (pytest-xdist), each keeping to one thread (tests/conftest.py).
test: $(STAMP)
	$(PY) -m pytest -q -n logical $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -n logical -m "not slow" $(ARGS)

# ruff, then the layers contract of pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(VENV)/bin/ruff check src scripts tests
	$(VENV)/bin/ruff format --check src scripts tests
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format src scripts tests
	$(VENV)/bin/ruff check --fix src scripts tests

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) scripts/bench/benchmark.py $(ARGS)
