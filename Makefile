# The two commands a newcomer needs (see README):
#   make quickstart   set up, then run the whole pipeline on the embedded default (offline)
#   make test         set up, then run the test suite (what CI runs via .ci/run)
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/python -m pip

.PHONY: setup quickstart test lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned to the CPU build: a bare `torch` requirement may pull a multi-GB CUDA build.
setup: $(BIN)/python
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[all]'
	npm install --no-audit --no-fund --silent

quickstart: setup
	$(BIN)/olab run configs/quickstart.yaml

lint: setup
	$(BIN)/ruff check olab tests experiments notebooks

test: setup
	$(BIN)/ruff check olab tests experiments notebooks
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules runs .olab
